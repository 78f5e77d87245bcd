// MatMul and Gemm -> QLinearMatMul (docs/qop.md). MatMul: both inputs quantized by the QDQ
// model (a constant B per column where per channel). Gemm (transA = 0) with a quantized A and
// weight: QLinearMatMul on B (transposed first when transB = 1), alpha folded into B's
// scales; with a bias C, QLinearMatMul -> DequantizeLinear -> Add(beta * C) in float, the
// product quantized over the Gemm output's range shifted by the bias' extremes.
#include <algorithm>

#include "graph/node_attrs.h"
#include "quant/qop/lowerings.h"
#include "quant/qop_tensors.h"
#include "util/error.h"

namespace dpl::qop {

bool lower_gemm_to_qlinear_matmul(QopBuilder& b, int i, const onnx::NodeProto& n) {
  const OnnxGraph& g = b.graph();
  const QdqDecisions& d = b.decisions();
  const QdqPair *pa = d.input_pair(i, 0), *pw = d.input_pair(i, 1);
  if (attr_int(n, "transA", 0) != 0) return b.not_converted(n, "transA = 1");
  if (!pa || pa->weight) return b.not_converted(n, "its input A is not quantized in the QDQ model");
  if (!pw || !pw->weight || g.initializer_proto(n.input(1))->dims_size() != 2)
    return b.not_converted(n, "its weight B is not a quantized 2-D initializer");
  const bool has_c = n.input_size() > 2 && !n.input(2).empty();
  if (has_c && (!g.is_initializer(n.input(2)) || g.value_type(n.input(2)) != DType::F32))
    return b.not_converted(n, "its bias C is not a float initializer");
  const float alpha = attr_float(n, "alpha", 1.f), beta = attr_float(n, "beta", 1.f);
  const std::string& y = n.output(0);

  // The product's parameters: with a bias, the output range moved by the bias' extremes
  // (A * B = Y - beta * C lies within [lo - max, hi - min]).
  std::optional<OutputPlan> plan;
  Tensor c;
  if (has_c) {
    // The product is rounded once more than in the QDQ model: only where the QDQ model
    // rounds the Gemm's output anyway (all its uses quantized on one grid).
    auto out_plan = d.output_plan(y);
    auto r = d.act().find(y);
    if (!out_plan || r == d.act().end()) return b.not_converted(n, "its output has no activation range");
    if (std::string why; !d.integer_only(y, out_plan->params, why))
      return b.not_converted(n, "the QDQ model uses its output in float (" + why + ")");
    c = g.get_initializer(n.input(2)).clone();
    float* cd = c.data<float>();
    for (int64_t k = 0; k < c.numel(); ++k) cd[k] *= beta;
    const auto [cmin, cmax] = std::minmax_element(cd, cd + c.numel());
    Range pr{r->second.lo - (c.numel() ? *cmax : 0.f), r->second.hi - (c.numel() ? *cmin : 0.f)};
    try {
      plan = OutputPlan{quant_params(d.platform().act, pr), -1};
    } catch (const Error&) {
      return b.not_converted(n, "its output range is unusable");
    }
  } else {
    plan = b.integer_output_plan(n);
    if (!plan) return false;
  }

  const IntegerTensor a =
      b.integer_version(n.input(0), pa->params, pw->params.zp_type == DType::U8 ? DType::U8 : kAnyType);
  const QuantizedWeight w = b.quantized_weight(n.input(1), *pw, attr_int(n, "transB", 0) != 0);
  std::string b_scale = w.scale;
  if (alpha != 1.f) {
    QuantParams sp = w.params;
    for (auto& s : sp.scale) s *= alpha;
    b_scale = b.add_initializer(n.input(1) + "_scale_alpha", scale_tensor(sp));
  }
  const std::string prod = has_c ? y + "_matmul" : y;
  IntegerTensor yq = b.new_integer_tensor(prod, prod + "_quantized", as_type(plan->params, a.params.zp_type));
  if (has_c) b.declare(yq.name, yq.params.zp_type, y);
  b.emit_in_place_of(n, "QLinearMatMul",
                     {a.name, a.scale, a.zero_point, w.name, b_scale, w.zero_point, yq.scale, yq.zero_point},
                     {yq.name});
  if (!has_c) {
    b.integer_output(y, yq, *plan, n.name());
    return true;
  }
  // The bias is added in float after the product.
  const std::string pf = b.fresh_name(prod);
  b.emit("DequantizeLinear", prod + "_DequantizeLinear", {yq.name, yq.scale, yq.zero_point}, {pf});
  b.declare(pf, DType::F32, y);
  const std::string cname = beta == 1.f ? n.input(2) : b.add_initializer(n.input(2) + "_beta", c);
  b.emit("Add", n.name() + "_bias", {pf, cname}, {y});
  b.mark_float(y);
  b.count_qlinear(n.name());
  return true;
}

bool lower_qlinear_matmul(QopBuilder& b, int i, const onnx::NodeProto& n) {
  const OnnxGraph& g = b.graph();
  const QdqDecisions& d = b.decisions();
  const QdqPair *pa = d.input_pair(i, 0), *pb = d.input_pair(i, 1);
  if (!pa || pa->weight) return b.not_converted(n, "its input A is not quantized in the QDQ model");
  if (!pb) return b.not_converted(n, "its input B is not quantized in the QDQ model");
  const std::string& bt = n.input(1);
  const bool b_const = g.is_initializer(bt);
  if (b_const && pb->params.per_channel() && g.initializer_proto(bt)->dims_size() != 2)
    return b.not_converted(n, "per-column scales of a B that is not 2-D (ONNX Runtime takes 1-D ones for 2-D B only)");
  const std::string& y = n.output(0);
  const auto plan = b.integer_output_plan(n);
  if (!plan) return false;

  const DType want_a = b_const && pb->params.zp_type == DType::U8 ? DType::U8 : kAnyType;
  const IntegerTensor a = b.integer_version(n.input(0), pa->params, want_a);
  std::string b_name, b_scale, b_zp;
  if (b_const) {
    const QuantizedWeight w = b.quantized_weight(bt, *pb, false);
    b_name = w.name, b_scale = w.scale, b_zp = w.zero_point;
  } else {
    // ONNX Runtime: int8 A needs int8 B.
    const IntegerTensor bq = b.integer_version(bt, pb->params, a.params.zp_type == DType::I8 ? DType::I8 : kAnyType);
    b_name = bq.name, b_scale = bq.scale, b_zp = bq.zero_point;
  }
  IntegerTensor yq = b.new_integer_tensor(y, y + "_quantized", as_type(plan->params, a.params.zp_type));
  b.emit_in_place_of(n, "QLinearMatMul",
                     {a.name, a.scale, a.zero_point, b_name, b_scale, b_zp, yq.scale, yq.zero_point}, {yq.name});
  b.integer_output(y, yq, *plan, n.name());
  return true;
}

}  // namespace dpl::qop
