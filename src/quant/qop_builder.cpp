// The QOP builder's walk, its tensor-domain bookkeeping and the final assembly of the graph
// (docs/qop.md); the lowerings are in quant/qop/, the QDQ model's decisions in
// quant/qop/qdq_decisions.h.
#include "quant/qop_builder.h"

#include <spdlog/spdlog.h>

#include <set>

#include "graph/node_builder.h"
#include "graph/tensor_proto.h"
#include "quant/qop/builder.h"
#include "quant/qop/lowerings.h"
#include "quant/qop_tensors.h"
#include "util/error.h"

namespace dpl {

namespace qop {

namespace {

Tensor transpose_2d(const Tensor& w) {
  const int64_t r = w.dim(0), c = w.dim(1);
  Tensor t(DType::F32, {c, r});
  const float* s = w.data<float>();
  float* d = t.data<float>();
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) d[j * r + i] = s[i * c + j];
  return t;
}

OnnxGraph sorted_copy(const OnnxGraph& fp) {
  OnnxGraph g = fp.copy();
  g.topologize();
  return g;
}

}  // namespace

QopBuilder::QopBuilder(const OnnxGraph& fp, const QdqModel& qdq, const Platform& platform, const ActRanges& act,
                       const QdqOptions& opts, QopModel& out)
    : g_(sorted_copy(fp)), decisions_(g_, qdq, platform, act, opts), out_(out) {}

void QopBuilder::run() {
  reserve_names();
  for (const auto& t : g_.network_inputs()) mark_float(t);
  for (const auto& init : g_.graph().initializer()) mark_float(init.name());

  const int n = g_.node_count();
  for (int i = 0; i < n; ++i) {
    const onnx::NodeProto& node = g_.node(i);
    if (auto f = fold_into_.find(i); f != fold_into_.end()) {
      // A Relu/Clip whose clamping the producer's output saturation does: its output is the
      // producer's integer tensor.
      IntegerTensor q = tensors_.at(f->second).integer.at(0);
      q.dequantized.clear();
      tensors_[node.output(0)].integer.push_back(q);
      out_.folded_nodes.push_back(node.name());
      continue;
    }
    const LoweringRule* rule = lowering_for(node.op_type());
    const bool lowered = rule && (!rule->quantized_nodes_only || decisions_.quantizes_node(node.name())) &&
                         rule->lower(*this, i, node);
    if (!lowered) float_node(i);
  }
  for (const auto& o : g_.graph().output()) fp_outputs_[o.name()] = o;
  finish_outputs();
  assemble();
}

// ---- names and emitted pieces ----

void QopBuilder::reserve_names() {
  const auto& gp = g_.graph();
  for (const auto& v : gp.input()) names_.insert(v.name());
  for (const auto& v : gp.output()) names_.insert(v.name());
  for (const auto& v : gp.value_info()) names_.insert(v.name());
  for (const auto& v : gp.initializer()) names_.insert(v.name());
  for (const auto& n : gp.node()) {
    node_names_.insert(n.name());
    for (const auto& s : n.input()) names_.insert(s);
    for (const auto& s : n.output()) names_.insert(s);
  }
  for (const auto& [t, name] : decisions_.qdq().outputs) names_.insert(name);
}

std::string QopBuilder::fresh_name(const std::string& base) {
  std::string name = base;
  for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
  names_.insert(name);
  return name;
}

onnx::NodeProto& QopBuilder::emit(const std::string& op, const std::string& name_base,
                                  const std::vector<std::string>& ins, const std::vector<std::string>& outs) {
  std::string name = name_base;
  for (int k = 1; node_names_.count(name); ++k) name = name_base + "_" + std::to_string(k);
  node_names_.insert(name);
  onnx::NodeProto& n = add_node(make_node(op, ins, outs, name));
  n.set_name(name);  // even when empty (the replacement of an unnamed FP node): as it always was
  return n;
}

onnx::NodeProto& QopBuilder::emit_in_place_of(const onnx::NodeProto& fp_node, const std::string& op,
                                              const std::vector<std::string>& ins,
                                              const std::vector<std::string>& outs) {
  node_names_.erase(fp_node.name());
  return emit(op, fp_node.name(), ins, outs);
}

onnx::NodeProto& QopBuilder::add_node(const onnx::NodeProto& n) {
  onnx::NodeProto* added = nodes_.Add();
  *added = n;
  return *added;
}

std::string QopBuilder::add_initializer(const std::string& base, const Tensor& t) {
  const std::string name = fresh_name(base);
  inits_.push_back(tensor_to_proto(t, name));
  return name;
}

void QopBuilder::declare(const std::string& t, DType type, const std::string& shape_of) {
  types_[t] = {type, shape_of};
}

IntegerTensor QopBuilder::new_integer_tensor(const std::string& t, const std::string& base, const QuantParams& p) {
  IntegerTensor q;
  q.params = p;
  q.scale = add_initializer(t + "_scale", scale_tensor(p));
  q.zero_point = add_initializer(t + "_zero_point", zero_point_tensor(p));
  q.name = fresh_name(base);
  declare(q.name, p.zp_type, t);
  return q;
}

void QopBuilder::emit_on_integers(onnx::NodeProto n, IntegerTensor grid) {
  const std::string o = n.output(0);
  grid.name = fresh_name(o + "_quantized");
  grid.dequantized.clear();
  declare(grid.name, grid.params.zp_type, o);
  n.set_output(0, grid.name);
  add_node(n);
  tensors_[o].integer.push_back(grid);
  out_.integer_nodes.push_back(n.name());
}

// ---- the domains of a tensor ----

std::string QopBuilder::float_tensor(const std::string& t) {
  TensorDomains& v = tensors_[t];
  if (v.float_under_own_name) return t;
  if (!v.float_name.empty()) return v.float_name;
  DPL_CHECK(!v.integer.empty(), "QOP model: tensor '{}' is used before anything produces it", t);
  return dequantized(t, 0);
}

std::string QopBuilder::dequantized(const std::string& t, size_t index) {
  TensorDomains& v = tensors_[t];
  if (!v.integer[index].dequantized.empty()) return v.integer[index].dequantized;
  std::string name;
  if (!v.float_under_own_name && v.float_name.empty()) {
    name = t;  // the float version of an integer-produced tensor keeps the tensor's name
    v.float_name = t;
  } else {
    name = fresh_name(t + "_dequantized");
  }
  const IntegerTensor& q = v.integer[index];
  emit("DequantizeLinear", t + "_DequantizeLinear", {q.name, q.scale, q.zero_point}, {name});
  v.integer[index].dequantized = name;
  declare(name, DType::F32, t);
  return name;
}

size_t QopBuilder::integer_version_index(const std::string& t, const QuantParams& p, DType want) {
  {
    const TensorDomains& v = tensors_[t];
    for (size_t i = 0; i < v.integer.size(); ++i)
      if (same_grid(v.integer[i].params, p) && (want == kAnyType || v.integer[i].params.zp_type == want)) return i;
  }
  const std::string src = float_tensor(t);
  IntegerTensor q = new_integer_tensor(t, t + "_quantized", as_type(p, want == kAnyType ? p.zp_type : want));
  emit("QuantizeLinear", t + "_QuantizeLinear", {src, q.scale, q.zero_point}, {q.name});
  TensorDomains& v = tensors_[t];
  v.integer.push_back(q);
  return v.integer.size() - 1;
}

IntegerTensor QopBuilder::integer_version(const std::string& t, const QuantParams& p, DType want) {
  const size_t i = integer_version_index(t, p, want);
  return tensors_[t].integer[i];
}

const QuantizedWeight& QopBuilder::quantized_weight(const std::string& w, const QdqPair& pair, bool transpose) {
  const std::string key = w + (transpose ? "\x01T" : "");
  if (auto it = weights_.find(key); it != weights_.end()) return it->second;
  Tensor t = g_.get_initializer(w);
  QuantizedWeight q;
  q.params = pair.params;
  q.axis = pair.params.per_channel() ? pair.axis : -1;
  if (transpose) {
    t = transpose_2d(t);
    if (q.axis >= 0) q.axis = 1 - q.axis;
  }
  q.name = add_initializer(w + (transpose ? "_transposed" : "") + "_quantized", quantize_linear(t, q.params, q.axis));
  q.scale = add_initializer(w + "_scale", scale_tensor(q.params));
  q.zero_point = add_initializer(w + "_zero_point", zero_point_tensor(q.params));
  declare(q.name, q.params.zp_type, "");
  return weights_.emplace(key, q).first->second;
}

std::string QopBuilder::float_input(int i, int k) {
  const std::string& t = g_.node(i).input(k);
  const QdqPair* p = decisions_.input_pair(i, k);
  if (p && p->weight) {
    // The dequantized weight (what the QDQ model's weight pair computes).
    if (auto it = dequantized_weights_.find(t); it != dequantized_weights_.end()) return it->second;
    const QuantizedWeight& q = quantized_weight(t, *p, false);
    const std::string name = fresh_name(t + "_dequantized");
    onnx::NodeProto& n = emit("DequantizeLinear", t + "_DequantizeLinear", {q.name, q.scale, q.zero_point}, {name});
    if (q.axis >= 0) set_attr(n, "axis", q.axis);
    declare(name, DType::F32, t);
    return dequantized_weights_[t] = name;
  }
  if (p) return dequantized(t, integer_version_index(t, p->params, kAnyType));
  return float_tensor(t);
}

// ---- outcome ----

std::optional<OutputPlan> QopBuilder::integer_output_plan(const onnx::NodeProto& n) {
  const std::string& y = n.output(0);
  auto plan = decisions_.output_plan(y);
  if (!plan) {
    not_converted(n, "its output has no activation range");
    return std::nullopt;
  }
  if (std::string why; !decisions_.integer_only(y, plan->params, why)) {
    not_converted(n, "the QDQ model uses its output in float (" + why + ")");
    return std::nullopt;
  }
  return plan;
}

bool QopBuilder::not_converted(const onnx::NodeProto& n, const std::string& why) {
  out_.float_nodes.emplace_back(n.name(), why);
  return false;
}

void QopBuilder::integer_output(const std::string& y, const IntegerTensor& q, const OutputPlan& plan,
                                const std::string& node) {
  tensors_[y].integer.push_back(q);
  if (plan.fold >= 0) fold_into_[plan.fold] = y;
  count_qlinear(node);
}

void QopBuilder::warn(const std::string& w) {
  out_.warnings.push_back(w);
  spdlog::warn("{}", w);
}

void QopBuilder::float_node(int i) {
  onnx::NodeProto nn = g_.node(i);
  for (int k = 0; k < nn.input_size(); ++k)
    if (!nn.input(k).empty()) nn.set_input(k, float_input(i, k));
  for (const auto& o : nn.output())
    if (!o.empty()) mark_float(o);
  add_node(nn);
}

// Graph outputs under the QDQ model's names: dequantized (after the platform's output
// quantization where it has one).
void QopBuilder::finish_outputs() {
  auto& gp = g_.graph();
  const QdqModel& qdq = decisions_.qdq();
  for (int j = 0; j < gp.output_size(); ++j) {
    const std::string t = gp.output(j).name();
    auto it = qdq.outputs.find(t);
    const std::string name = it == qdq.outputs.end() ? t : it->second;
    if (name != t) {
      const QdqPair* p = decisions_.pair(t);
      DPL_CHECK(p != nullptr, "QOP model: graph output '{}' has no pair in the QDQ model", t);
      const IntegerTensor q = integer_version(t, p->params, kAnyType);
      emit("DequantizeLinear", t + "_output_DequantizeLinear", {q.name, q.scale, q.zero_point}, {name});
      declare(name, DType::F32, t);
    } else {
      const std::string f = float_tensor(t);
      DPL_CHECK(f == t, "QOP model: graph output '{}' became '{}'", t, f);
    }
    gp.mutable_output(j)->set_name(name);
    gp.mutable_output(j)->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(DType::F32));
    out_.outputs[t] = name;
  }
}

void QopBuilder::assemble() {
  auto& gp = g_.graph();
  // Declared types of the tensors that keep their FP meaning, before the node list changes.
  std::unordered_map<std::string, onnx::ValueInfoProto> old_vi = fp_outputs_;  // renamed outputs stay tensors
  for (const auto& v : gp.value_info()) old_vi[v.name()] = v;
  gp.mutable_node()->Swap(&nodes_);
  for (auto& init : inits_) *gp.add_initializer() = std::move(init);

  // Float initializers the integer ops replaced are dropped.
  std::set<std::string> used;
  for (const auto& n : gp.node())
    for (const auto& s : n.input()) used.insert(s);
  for (const auto& o : gp.output()) used.insert(o.name());
  auto* inits = gp.mutable_initializer();
  std::set<std::string> dropped;
  for (int k = inits->size() - 1; k >= 0; --k)
    if (!used.count(inits->Get(k).name())) {
      dropped.insert(inits->Get(k).name());
      inits->DeleteSubrange(k, 1);
    }
  // An initializer also listed as a graph input (older IR) goes from the inputs too, or
  // it would become an input to feed.
  auto* ins = gp.mutable_input();
  for (int k = ins->size() - 1; k >= 0; --k)
    if (dropped.count(ins->Get(k).name())) ins->DeleteSubrange(k, 1);

  std::set<std::string> io;
  for (const auto& v : gp.input()) io.insert(v.name());
  for (const auto& v : gp.output()) io.insert(v.name());
  gp.clear_value_info();
  for (const auto& n : gp.node())
    for (const auto& o : n.output()) {
      if (o.empty() || io.count(o)) continue;
      auto t = types_.find(o);
      if (t == types_.end()) {
        if (auto v = old_vi.find(o); v != old_vi.end()) *gp.add_value_info() = v->second;
        continue;
      }
      onnx::ValueInfoProto* v = gp.add_value_info();
      v->set_name(o);
      auto* tt = v->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(static_cast<int>(t->second.first));
      if (auto it = old_vi.find(t->second.second); it != old_vi.end() && it->second.type().has_tensor_type() &&
                                                     it->second.type().tensor_type().has_shape())
        *tt->mutable_shape() = it->second.type().tensor_type().shape();
    }
  g_.update_maps();
  g_.topologize();
  out_.graph = std::move(g_);
}

}  // namespace qop

QopModel build_qop(const OnnxGraph& fp, const QdqModel& qdq, const Platform& platform, const ActRanges& act,
                   const QdqOptions& opts) {
  QopModel out;
  DPL_CHECK(fp.opset() >= 13, "the QOP model needs opset 13 or later, the model has opset {}; convert it first",
            fp.opset());
  // QLinearConv and the like requantize to the whole int8/uint8 range: a sub-8-bit tensor's
  // codes would leave its grid (docs/quant-config.md).
  const std::vector<std::string> narrow = qdq.precision.below_8bit();
  DPL_CHECK(narrow.empty(), "--quant_format QOP: ONNX's integer operators saturate at the 8-bit bounds and {} "
            "tensor(s) are below 8 bits (first: '{}'); use the QDQ model for sub-8-bit precision",
            narrow.size(), narrow.empty() ? std::string() : narrow.front());
  qop::QopBuilder b(fp, qdq, platform, act, opts, out);
  b.run();
  return out;
}

QopModel build_qop(const OnnxGraph& fp, const Platform& platform, const ActRanges& act, const WeightRanges& weight,
                   const QdqOptions& opts) {
  QdqModel qdq = build_qdq(fp, platform, act, weight, opts);
  return build_qop(fp, qdq, platform, act, opts);
}

}  // namespace dpl
