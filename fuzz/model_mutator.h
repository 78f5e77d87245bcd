// A structure-aware mutation for ONNX models (docs/fuzzing.md): when the input parses as a
// ModelProto, one field is changed the way a broken exporter or a hostile file would (a
// dimension, an attribute value, an op type, a node input, an initializer's type or dims, the
// opset; a node removed or repeated) and the model is serialised again, so most mutants get
// past the protobuf parser into opset conversion, shape inference, simplification and session
// creation. Inputs that do not parse get libFuzzer's byte mutations.
#pragma once
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace dpl::fuzz {

class ModelMutator {
 public:
  explicit ModelMutator(unsigned seed) : rng_(seed) {}

  // Mutates `m` in place; false when nothing applicable was found.
  bool mutate(onnx::ModelProto& m) {
    auto* g = m.mutable_graph();
    for (int attempt = 0; attempt < 8; ++attempt) {
      switch (pick(10)) {
        case 0: if (mutate_dim(*g)) return true; break;
        case 1: if (mutate_attribute(*g)) return true; break;
        case 2: if (g->node_size()) { g->mutable_node(pick(g->node_size()))->set_op_type(op_name()); return true; } break;
        case 3: if (mutate_node_input(*g)) return true; break;
        case 4: if (g->node_size()) { remove_node(*g, pick(g->node_size())); return true; } break;
        case 5: if (g->node_size()) { *g->add_node() = g->node(pick(g->node_size())); return true; } break;
        case 6: if (mutate_initializer(*g)) return true; break;
        case 7: if (m.opset_import_size()) { m.mutable_opset_import(0)->set_version(1 + pick(20)); return true; } break;
        case 8: if (g->input_size()) { mutate_value_type(*g->mutable_input(pick(g->input_size()))); return true; } break;
        case 9: if (g->output_size()) { g->mutable_output(pick(g->output_size()))->set_name(tensor_name(*g)); return true; } break;
      }
    }
    return false;
  }

 private:
  int pick(int n) { return n <= 1 ? 0 : static_cast<int>(rng_() % static_cast<unsigned>(n)); }

  int64_t interesting_int() {
    static const int64_t v[] = {0, 1, -1, 2, 3, 7, 255, 65536, -2, std::numeric_limits<int32_t>::max(),
                                std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                                int64_t{1} << 31, int64_t{1} << 40};
    return pick(3) == 0 ? pick(64) : v[pick(static_cast<int>(std::size(v)))];
  }
  float interesting_float() {
    static const float v[] = {0.f, -0.f, 1.f, -1.f, 0.5f, 1e-30f, 1e30f, std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::denorm_min()};
    return v[pick(static_cast<int>(std::size(v)))];
  }
  std::string op_name() {
    static const char* ops[] = {"Conv", "Relu", "Add", "Mul", "MatMul", "Gemm", "Reshape", "Transpose", "Concat",
                                "Slice", "Gather", "Resize", "MaxPool", "AveragePool", "GlobalAveragePool",
                                "BatchNormalization", "Softmax", "Sigmoid", "Clip", "Split", "Squeeze", "Unsqueeze",
                                "Flatten", "Shape", "ConstantOfShape", "Expand", "Tile", "Pad", "ReduceMean",
                                "Cast", "Where", "Identity", "Constant", "ConvTranspose", "PRelu", "Upsample",
                                "TopK", "Range", "Einsum", "LSTM", "NotAnOp"};
    return ops[pick(static_cast<int>(std::size(ops)))];
  }
  std::string tensor_name(const onnx::GraphProto& g) {
    std::vector<const std::string*> names;
    for (const auto& n : g.node())
      for (const auto& o : n.output()) names.push_back(&o);
    for (const auto& i : g.input()) names.push_back(&i.name());
    for (const auto& i : g.initializer()) names.push_back(&i.name());
    if (names.empty() || pick(8) == 0) return pick(2) ? "" : "dangling";
    return *names[pick(static_cast<int>(names.size()))];
  }

  bool mutate_shape(onnx::TypeProto& t) {
    if (!t.has_tensor_type()) return false;
    auto* s = t.mutable_tensor_type()->mutable_shape();
    if (s->dim_size() == 0 || pick(6) == 0) {
      s->add_dim()->set_dim_value(interesting_int());
      return true;
    }
    auto* d = s->mutable_dim(pick(s->dim_size()));
    if (pick(4) == 0)
      d->set_dim_param("N");
    else
      d->set_dim_value(interesting_int());
    return true;
  }
  bool mutate_dim(onnx::GraphProto& g) {
    int n = g.input_size() + g.output_size() + g.value_info_size();
    if (n == 0) return false;
    int k = pick(n);
    onnx::ValueInfoProto* v = k < g.input_size() ? g.mutable_input(k)
                              : k < g.input_size() + g.output_size()
                                  ? g.mutable_output(k - g.input_size())
                                  : g.mutable_value_info(k - g.input_size() - g.output_size());
    return mutate_shape(*v->mutable_type());
  }
  void mutate_value_type(onnx::ValueInfoProto& v) {
    if (pick(3) == 0) {
      v.mutable_type()->mutable_tensor_type()->set_elem_type(pick(17));
    } else if (pick(2) == 0) {
      v.mutable_type()->mutable_tensor_type()->clear_shape();
    } else {
      mutate_shape(*v.mutable_type());
    }
  }
  bool mutate_attribute(onnx::GraphProto& g) {
    if (g.node_size() == 0) return false;
    auto* n = g.mutable_node(pick(g.node_size()));
    if (n->attribute_size() == 0) return false;
    auto* a = n->mutable_attribute(pick(n->attribute_size()));
    if (a->ints_size() && pick(2)) {
      if (pick(5) == 0)
        a->add_ints(interesting_int());
      else if (pick(5) == 0)
        a->mutable_ints()->RemoveLast();
      else
        a->set_ints(pick(a->ints_size()), interesting_int());
    } else if (a->floats_size()) {
      a->set_floats(pick(a->floats_size()), interesting_float());
    } else if (a->has_f()) {
      a->set_f(interesting_float());
    } else if (a->has_t()) {
      mutate_tensor(*a->mutable_t());
    } else {
      a->set_i(interesting_int());
    }
    return true;
  }
  bool mutate_node_input(onnx::GraphProto& g) {
    if (g.node_size() == 0) return false;
    auto* n = g.mutable_node(pick(g.node_size()));
    if (n->input_size() == 0 || pick(5) == 0)
      n->add_input(tensor_name(g));
    else if (pick(4) == 0)
      n->mutable_input()->RemoveLast();
    else
      n->set_input(pick(n->input_size()), tensor_name(g));
    return true;
  }
  void mutate_tensor(onnx::TensorProto& t) {
    switch (pick(4)) {
      case 0: t.set_data_type(pick(17)); break;
      case 1:
        if (t.dims_size()) t.set_dims(pick(t.dims_size()), interesting_int());
        else t.add_dims(interesting_int());
        break;
      case 2: t.add_dims(1 + pick(3)); break;
      default:
        if (t.has_raw_data()) t.mutable_raw_data()->resize(static_cast<size_t>(pick(64)));
        else t.add_float_data(interesting_float());
    }
  }
  bool mutate_initializer(onnx::GraphProto& g) {
    if (g.initializer_size() == 0) return false;
    mutate_tensor(*g.mutable_initializer(pick(g.initializer_size())));
    return true;
  }
  static void remove_node(onnx::GraphProto& g, int i) {
    auto* nodes = g.mutable_node();
    nodes->erase(nodes->begin() + i);
  }

  std::minstd_rand rng_;
};

}  // namespace dpl::fuzz
