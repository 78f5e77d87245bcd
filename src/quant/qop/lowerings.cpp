// The op type -> lowering table of the QOP builder: a new integer lowering is one file under
// quant/qop/ and one row here.
#include "quant/qop/lowerings.h"

#include <unordered_map>

namespace dpl::qop {

Lowering lowering_for(const std::string& op_type) {
  static const std::unordered_map<std::string, Lowering> table = {
      {"Conv", lower_qlinear_conv},
      {"Gemm", lower_gemm_to_qlinear_matmul},
      {"MatMul", lower_qlinear_matmul},
      {"MaxPool", lower_integer_passthrough},
      {"Reshape", lower_integer_passthrough},
      {"Transpose", lower_integer_passthrough},
      {"Flatten", lower_integer_passthrough},
      {"Concat", lower_integer_concat},
  };
  auto it = table.find(op_type);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace dpl::qop
