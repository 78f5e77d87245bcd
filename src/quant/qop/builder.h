// The QOP builder's state and the calls a lowering makes (quant/qop/lowerings.h; docs/qop.md).
// Every tensor of the FP32 graph has TensorDomains: it exists in float under its own name,
// as a dequantized copy, and/or as IntegerTensors (each with its scale and zero point
// initializers). The walk over the graph, this bookkeeping and the final assembly are in
// quant/qop_builder.cpp; the QDQ model's decisions in quant/qop/qdq_decisions.h.
#pragma once
#include <onnx/onnx_pb.h>

#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "quant/qop/qdq_decisions.h"
#include "quant/qop_builder.h"

namespace dpl::qop {

// "Any 8-bit type" where a caller asks for an integer version of a tensor.
constexpr DType kAnyType = DType::Undefined;

// One integer version of a tensor; params.zp_type is its element type.
struct IntegerTensor {
  std::string name, scale, zero_point;  // the tensor and its parameter initializers
  QuantParams params;
  std::string dequantized;  // its DequantizeLinear output, once made
};

// Where a tensor of the FP32 graph lives in the new graph.
struct TensorDomains {
  bool float_under_own_name = false;  // graph input, initializer, output of a float op
  std::string float_name;             // else its dequantized version named after it, once made
  std::vector<IntegerTensor> integer;  // integer versions; integer[0] is what an integer producer made
};

// A quantized initializer (weight).
struct QuantizedWeight {
  std::string name, scale, zero_point;
  QuantParams params;
  int axis = -1;  // per-channel axis, -1 per tensor
};

class QopBuilder {
 public:
  QopBuilder(const OnnxGraph& fp, const QdqModel& qdq, const Platform& platform, const ActRanges& act,
             const QdqOptions& opts, QopModel& out);
  // Walks the graph, lowering each node by the table of quant/qop/lowerings.h or keeping it
  // float, then writes the result into `out`.
  void run();

  // ---- what a lowering reads ----
  const OnnxGraph& graph() const { return g_; }
  const QdqDecisions& decisions() const { return decisions_; }
  const TensorDomains& domains(const std::string& t) { return tensors_[t]; }

  // ---- tensors in the new graph ----
  // An integer version of t on p's grid, of type `want` unless kAnyType; quantizes the float
  // version (QuantizeLinear) when there is none yet.
  IntegerTensor integer_version(const std::string& t, const QuantParams& p, DType want);
  // The integer initializer of weight `w` with the pair's parameters, transposed (2-D) first
  // when asked; made once.
  const QuantizedWeight& quantized_weight(const std::string& w, const QdqPair& pair, bool transpose);
  // Input k of node i as a float op takes it: as the QDQ model feeds it.
  std::string float_input(int i, int k);
  // A new integer tensor for FP tensor t (named from `base`, parameter initializers t_scale,
  // t_zero_point), typed and shaped as t.
  IntegerTensor new_integer_tensor(const std::string& t, const std::string& base, const QuantParams& p);
  std::string add_initializer(const std::string& base, const Tensor& t);
  std::string fresh_name(const std::string& base);
  // Declares the element type of new tensor `t` and the FP tensor whose shape it has ("": none).
  void declare(const std::string& t, DType type, const std::string& shape_of);
  // Tensor t of the FP graph exists in float under its own name from now on.
  void mark_float(const std::string& t) { tensors_[t].float_under_own_name = true; }

  // ---- nodes ----
  // A node named from `name_base` (made unique).
  onnx::NodeProto& emit(const std::string& op, const std::string& name_base, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs);
  // A node that takes the name of FP node `fp_node`, which it replaces.
  onnx::NodeProto& emit_in_place_of(const onnx::NodeProto& fp_node, const std::string& op,
                                    const std::vector<std::string>& ins, const std::vector<std::string>& outs);
  // Adds `n` as it is (its name is the FP node's it replaces).
  onnx::NodeProto& add_node(const onnx::NodeProto& n);
  // Adds `n` (inputs already integer) with its output an integer tensor on `grid`'s
  // parameters (its scale and zero point initializers shared).
  void emit_on_integers(onnx::NodeProto n, IntegerTensor grid);

  // ---- outcome ----
  // Registers y's integer version made by QLinear node `node` and the Relu/Clip it absorbs.
  void integer_output(const std::string& y, const IntegerTensor& q, const OutputPlan& plan, const std::string& node);
  // Node `node` became a QLinear op (QopModel::qlinear_nodes).
  void count_qlinear(const std::string& node) { out_.qlinear_nodes.push_back(node); }
  // The parameters of the integer output of `n` (QdqDecisions::output_plan) where the QDQ
  // model uses that output on their grid only; else nullopt, `n` recorded as not converted.
  std::optional<OutputPlan> integer_output_plan(const onnx::NodeProto& n);
  // A quantized node that stays float, with the reason (QopModel::float_nodes); returns false.
  bool not_converted(const onnx::NodeProto& n, const std::string& why);
  void warn(const std::string& w);

 private:
  std::string float_tensor(const std::string& t);
  std::string dequantized(const std::string& t, size_t index);
  size_t integer_version_index(const std::string& t, const QuantParams& p, DType want);
  void reserve_names();
  void float_node(int i);
  void finish_outputs();
  void assemble();

  OnnxGraph g_;
  QdqDecisions decisions_;
  QopModel& out_;

  std::unordered_map<std::string, TensorDomains> tensors_;
  std::unordered_map<int, std::string> fold_into_;  // Relu/Clip node -> the tensor whose integer version it passes on
  std::unordered_map<std::string, QuantizedWeight> weights_;
  std::unordered_map<std::string, std::string> dequantized_weights_;
  std::set<std::string> names_, node_names_;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes_;
  std::vector<onnx::TensorProto> inits_;
  // New tensor -> (type, FP tensor whose shape it has; "" for none).
  std::unordered_map<std::string, std::pair<DType, std::string>> types_;
  std::unordered_map<std::string, onnx::ValueInfoProto> fp_outputs_;
};

}  // namespace dpl::qop
