#include "graph/guarded_inference.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dpl {

namespace {

using Guard = std::function<bool(onnx::InferenceContext&)>;

// The rank of input i when inference knows it, else -1.
int known_rank(onnx::InferenceContext& ctx, size_t i) {
  if (i >= ctx.getNumInputs()) return -1;
  const onnx::TypeProto* t = ctx.getInputType(i);
  if (!t || !t->has_tensor_type() || !t->tensor_type().has_shape()) return -1;
  return t->tensor_type().shape().dim_size();
}

// The spatial attributes of a convolution or pooling node have one value per spatial axis
// (pads two): ONNX's convPoolShapeInference indexes them by axis, and divides by the strides
// (a stride of 0 raised SIGFPE: fuzz_model), so strides, dilations and kernel sizes must be
// positive too.
bool spatial_attrs_ok(onnx::InferenceContext& ctx, int rank) {
  for (const char* name : {"kernel_shape", "strides", "dilations"})
    if (const auto* a = ctx.getAttribute(name))
      for (int64_t v : a->ints())
        if (v < 1) return false;
  if (rank < 0) return true;
  if (rank < 3) return false;
  const int n = rank - 2;
  for (const char* name : {"kernel_shape", "strides", "dilations", "output_padding"})
    if (const auto* a = ctx.getAttribute(name); a && a->ints_size() != n) return false;
  if (const auto* a = ctx.getAttribute("pads"); a && a->ints_size() != 2 * n) return false;
  // ConvTranspose's output_shape: the spatial sizes, or N, C and the spatial sizes.
  if (const auto* a = ctx.getAttribute("output_shape"); a && a->ints_size() != n && a->ints_size() != n + 2)
    return false;
  return true;
}

// Convolutions: ONNX reads as many weight dimensions as the input has (the weight is input 1,
// QLinearConv's input 3).
template <size_t W>
bool conv_ok(onnx::InferenceContext& ctx) {
  const int x = known_rank(ctx, 0), w = known_rank(ctx, W);
  if (x >= 0 && w >= 0 && x != w) return false;
  return spatial_attrs_ok(ctx, x >= 0 ? x : w);
}

bool pool_ok(onnx::InferenceContext& ctx) { return spatial_attrs_ok(ctx, known_rank(ctx, 0)); }

// MaxUnpool: the indices have X's shape, which ONNX assumes (indices of rank 1 for an X of
// rank 4 crashed it, and so did indices without a shape: fuzz_model). Inferred only when
// both ranks are known and equal.
bool unpool_ok(onnx::InferenceContext& ctx) {
  const int x = known_rank(ctx, 0), i = known_rank(ctx, 1);
  if (x >= 0 && i != x) return false;
  return spatial_attrs_ok(ctx, x);
}

// RNN, GRU, LSTM: the opset-1 versions read dimensions 0 and 1 of X without checking its rank
// (X of rank 1 crashed it: fuzz_model); every version needs X of rank 3.
bool recurrent_ok(onnx::InferenceContext& ctx) {
  const int x = known_rank(ctx, 0);
  return x < 0 || x == 3;
}

// Gemm: the opset-1 and opset-6 versions read the types and dimensions 0 and 1 of A and B
// without checking that they have types or those ranks (an A that inference could not type,
// a Sub of a string and a float: SIGSEGV, fuzz_model); every version needs A and B of rank 2.
bool gemm_ok(onnx::InferenceContext& ctx) {
  if (ctx.getNumInputs() < 2 || !ctx.getInputType(0) || !ctx.getInputType(1)) return false;
  const int a = known_rank(ctx, 0), b = known_rank(ctx, 1);
  return (a < 0 || a == 2) && (b < 0 || b == 2);
}

// DepthToSpace, SpaceToDepth: ONNX divides by blocksize squared, which a blocksize of 2^40
// wraps to zero (SIGFPE: fuzz_model); inferred only for a blocksize in [1, 2^31).
bool blocksize_ok(onnx::InferenceContext& ctx) {
  const onnx::AttributeProto* b = ctx.getAttribute("blocksize");
  return b && b->i() > 0 && b->i() < (int64_t{1} << 31);
}

// Shape: ONNX reads its input's type without checking that there is one; an input whose
// producer could not be typed (a guarded node, an operator ONNX does not know) has none.
bool shape_ok(onnx::InferenceContext& ctx) { return ctx.getNumInputs() >= 1 && ctx.getInputType(0) != nullptr; }

// Any op with an `axis` attribute: inference functions index the input's dimensions by it, some
// after narrowing it to int (LayerNormalization with axis 2^31: SIGSEGV, fuzz_model). An axis
// outside [-rank, rank] is no valid axis of any op.
bool axis_ok(onnx::InferenceContext& ctx) {
  const onnx::AttributeProto* a = ctx.getAttribute("axis");
  const int r = known_rank(ctx, 0);
  return !a || r < 0 || (a->i() >= -r && a->i() <= r);
}

const std::map<std::string, Guard>& guards() {
  static const std::map<std::string, Guard> g = {
      {"Conv", conv_ok<1>}, {"ConvTranspose", conv_ok<1>}, {"ConvInteger", conv_ok<1>},
      {"QLinearConv", conv_ok<3>}, {"MaxPool", pool_ok}, {"AveragePool", pool_ok}, {"LpPool", pool_ok},
      {"MaxUnpool", unpool_ok}, {"RNN", recurrent_ok}, {"GRU", recurrent_ok}, {"LSTM", recurrent_ok},
      {"DepthToSpace", blocksize_ok}, {"SpaceToDepth", blocksize_ok}, {"Shape", shape_ok},
      {"Gemm", gemm_ok}};
  return g;
}

class GuardedSchemas : public onnx::ISchemaRegistry {
 public:
  const onnx::OpSchema* GetSchema(const std::string& key, const int max_version,
                                  const std::string& domain) const override {
    const onnx::OpSchema* s = onnx::OpSchemaRegistry::Schema(key, max_version, domain);
    if (!s || !(domain.empty() || domain == "ai.onnx") || !s->has_type_and_shape_inference_function()) return s;
    auto it = guards().find(key);
    const bool has_axis = s->attributes().count("axis") != 0;
    const bool math_dp = (key == "Add" || key == "Sub" || key == "Mul" || key == "Div") && s->has_data_propagation_function();
    if (it == guards().end() && !has_axis && !math_dp) return s;
    const bool shape_op = key == "Shape";
    std::lock_guard<std::mutex> lock(mu_);
    auto& copy = wrapped_[s];
    if (!copy) {
      copy = std::make_unique<onnx::OpSchema>(*s);
      onnx::InferenceFunction inner = s->GetTypeAndShapeInferenceFunction();
      const Guard own = it != guards().end() ? it->second : Guard();
      const Guard ok = [own, has_axis](onnx::InferenceContext& ctx) {
        return (!has_axis || axis_ok(ctx)) && (!own || own(ctx));
      };
      copy->TypeAndShapeInferenceFunction([inner, ok](onnx::InferenceContext& ctx) {
        if (ok(ctx)) {
          inner(ctx);
          return;
        }
        // Skipped: the first output keeps the first input's element type where it is known
        // (true of every guarded op but Shape, whose guard fails only without one), so the
        // nodes after it still get types.
        const onnx::TypeProto* in = ctx.getNumInputs() ? ctx.getInputType(0) : nullptr;
        if (in && in->has_tensor_type() && ctx.getNumOutputs() > 0)
          ctx.getOutputType(0)->mutable_tensor_type()->set_elem_type(in->tensor_type().elem_type());
      });
      // Shape's data propagation (the values of a Shape, for the Reshapes after it) reads its
      // input's shape without checking that the input has a type (a Shape of a Tile whose
      // repeats did not match its input: SIGSEGV, fuzz_model).
      if (shape_op && s->has_data_propagation_function()) {
        onnx::DataPropagationFunction inner_dp = s->GetDataPropagationFunction();
        copy->PartialDataPropagationFunction([inner_dp](onnx::DataPropagationContext& ctx) {
          const onnx::TypeProto* in = ctx.getNumInputs() ? ctx.getInputType(0) : nullptr;
          if (in && in->has_tensor_type() && in->tensor_type().has_shape()) inner_dp(ctx);
        });
      }
      // Add, Sub, Mul, Div propagate the values of shape computations; ONNX's propagator
      // broadcasts a one-value list against the other without checking that the other holds
      // any (the empty Shape of a scalar minus a one-element constant: SIGSEGV, fuzz_model).
      // An empty value list is not propagated.
      if (math_dp) {
        onnx::DataPropagationFunction inner_dp = s->GetDataPropagationFunction();
        copy->PartialDataPropagationFunction([inner_dp](onnx::DataPropagationContext& ctx) {
          for (size_t i = 0; i < ctx.getNumInputs(); ++i)
            if (const auto* d = ctx.getInputData(i); d && d->dim_size() == 0) return;
          inner_dp(ctx);
        });
      }
    }
    return copy.get();
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<const onnx::OpSchema*, std::unique_ptr<onnx::OpSchema>> wrapped_;
};

}  // namespace

const onnx::ISchemaRegistry& guarded_schemas() {
  static const GuardedSchemas registry;
  return registry;
}

}  // namespace dpl
