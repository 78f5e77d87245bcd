// The op type -> lowering table of the QOP builder: a new integer lowering is one file under
// quant/qop/ and one row here.
#include "quant/qop/lowerings.h"

#include <unordered_map>

namespace dpl::qop {

const LoweringRule* lowering_for(const std::string& op_type) {
  constexpr bool kQuantizedOnly = true, kAnyNode = false;
  static const std::unordered_map<std::string, LoweringRule> table = {
      {"Conv", {lower_qlinear_conv, kQuantizedOnly}},
      {"Gemm", {lower_gemm_to_qlinear_matmul, kQuantizedOnly}},
      {"MatMul", {lower_qlinear_matmul, kQuantizedOnly}},
      {"MaxPool", {lower_integer_passthrough, kAnyNode}},
      {"Reshape", {lower_integer_passthrough, kAnyNode}},
      {"Transpose", {lower_integer_passthrough, kAnyNode}},
      {"Flatten", {lower_integer_passthrough, kAnyNode}},
      {"Concat", {lower_integer_concat, kAnyNode}},
  };
  auto it = table.find(op_type);
  return it == table.end() ? nullptr : &it->second;
}

}  // namespace dpl::qop
