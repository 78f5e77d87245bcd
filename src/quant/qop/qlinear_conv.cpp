// Conv -> QLinearConv where the QDQ model quantizes its input and weight and uses its output
// on one grid (docs/qop.md): integer weight (per channel on axis 0 where the platform's
// weights are), int32 bias at scale x_scale * w_scale[c], the FP node's attributes and name.
#include <algorithm>
#include <functional>

#include "quant/qop/lowerings.h"
#include "quant/qop_tensors.h"

namespace dpl::qop {

bool lower_qlinear_conv(QopBuilder& b, int i, const onnx::NodeProto& n) {
  const OnnxGraph& g = b.graph();
  const QdqDecisions& d = b.decisions();
  const QdqPair *px = d.input_pair(i, 0), *pw = d.input_pair(i, 1);
  if (!px || px->weight) return b.not_converted(n, "its input is not quantized in the QDQ model");
  if (!pw || !pw->weight) return b.not_converted(n, "its weight is not quantized in the QDQ model");
  const bool has_bias = n.input_size() > 2 && !n.input(2).empty();
  if (has_bias && (!g.is_initializer(n.input(2)) || g.value_type(n.input(2)) != DType::F32))
    return b.not_converted(n, "its bias is not a float initializer");
  const QuantParams& wp = pw->params;
  if (std::adjacent_find(wp.zero_point.begin(), wp.zero_point.end(), std::not_equal_to<>()) != wp.zero_point.end())
    return b.not_converted(n, "its per-channel weight zero points differ (ONNX Runtime's QLinearConv takes one)");
  const std::string& y = n.output(0);
  const auto plan = b.integer_output_plan(n);
  if (!plan) return false;
  const int64_t M = g.initializer_proto(n.input(1))->dims(0);
  if (has_bias && shape_numel(*g.tensor_shape(n.input(2))) != M)
    return b.not_converted(n, "its bias does not have one value per output channel");

  // ONNX Runtime: uint8 weights need uint8 input; the output type is the input's.
  const IntegerTensor x = b.integer_version(n.input(0), px->params, wp.zp_type == DType::U8 ? DType::U8 : kAnyType);
  const QuantizedWeight w = b.quantized_weight(n.input(1), *pw, false);
  IntegerTensor yq = b.new_integer_tensor(y, y + "_quantized", as_type(plan->params, x.params.zp_type));
  std::vector<std::string> ins{x.name, x.scale, x.zero_point, w.name, w.scale, w.zero_point, yq.scale, yq.zero_point};
  if (has_bias) {
    int64_t clamped = 0;
    Tensor bias = quantize_bias(g.get_initializer(n.input(2)), x.params.scale[0], w.params.scale, clamped);
    if (clamped)
      b.warn(fmt::format("QLinearConv '{}': {} bias values exceed int32 at scale x_scale * w_scale and were clamped",
                         n.name(), clamped));
    ins.push_back(b.add_initializer(n.input(2) + "_quantized", bias));
  }
  onnx::NodeProto& q = b.add_node(n);
  q.set_op_type("QLinearConv");
  q.set_domain("");
  q.clear_input();
  for (const auto& s : ins) q.add_input(s);
  q.set_output(0, yq.name);
  b.integer_output(y, yq, *plan, n.name());
  return true;
}

}  // namespace dpl::qop
