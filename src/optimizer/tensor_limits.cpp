#include "optimizer/tensor_limits.h"

#include "core/memory_budget.h"
#include "util/error.h"

namespace dpl {

namespace {

// Element size for the budget: unknown or unsupported types count as one byte (a lower bound).
size_t elem_bytes(int32_t onnx_type) {
  const size_t s = dtype_size(static_cast<DType>(onnx_type));
  return s ? s : 1;
}

std::string type_str(int32_t onnx_type) {
  const DType t = static_cast<DType>(onnx_type);
  return dtype_supported(t) ? dtype_name(t) : "element type " + std::to_string(onnx_type);
}

void check_proto(const std::string& what, const onnx::TensorProto& t) {
  const size_t bytes = saturated_bytes(Shape(t.dims().begin(), t.dims().end()), elem_bytes(t.data_type()));
  if (bytes > tensor_budget_bytes())
    check_tensor_budget(fmt::format("{} ({} of shape {})", what, type_str(t.data_type()),
                                    shape_str(Shape(t.dims().begin(), t.dims().end()))),
                        bytes);
}

}  // namespace

void check_constant_limits(const OnnxGraph& g) {
  for (const auto& init : g.graph().initializer()) check_proto(fmt::format("initializer '{}'", init.name()), init);
  for (const auto& n : g.graph().node())
    for (const auto& a : n.attribute()) {
      if (a.has_t())
        check_proto(fmt::format("node '{}' ({}): attribute '{}'", n.name(), n.op_type(), a.name()), a.t());
      for (const auto& t : a.tensors())
        check_proto(fmt::format("node '{}' ({}): attribute '{}'", n.name(), n.op_type(), a.name()), t);
    }
}

void check_tensor_limits(const OnnxGraph& g) {
  const size_t budget = tensor_budget_bytes();
  check_constant_limits(g);
  for (const auto& n : g.graph().node()) {
    for (const auto& out : n.output()) {
      if (out.empty()) continue;
      const auto shape = g.tensor_shape(out);
      if (!shape) continue;
      const DType t = g.value_type(out);
      const size_t bytes = saturated_bytes(*shape, elem_bytes(static_cast<int32_t>(t)));
      if (bytes > budget)
        check_tensor_budget(fmt::format("node '{}' ({}): output '{}' ({} of shape {})", n.name(), n.op_type(), out,
                                        type_str(static_cast<int32_t>(t)), shape_str(*shape)),
                            bytes);
    }
  }
}

}  // namespace dpl
