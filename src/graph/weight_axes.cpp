#include "graph/weight_axes.h"

#include "graph/node_attrs.h"

namespace dpl {

bool op_has_weight(const std::string& op_type) {
  return op_type == "Conv" || op_type == "Gemm" || op_type == "ConvTranspose" || op_type == "PRelu" ||
         op_type == "BatchNormalization";
}

int weight_channel_axis(const onnx::NodeProto& node, int input, int rank) {
  if (rank <= 0) return -1;
  const std::string& op = node.op_type();
  if (op == "ConvTranspose" && input == 1 && rank >= 2) return 1;
  if (op == "Gemm" && rank == 2) {
    if (input == 1) return attr_int(node, "transB", 0) != 0 ? 0 : 1;
    if (input == 0) return attr_int(node, "transA", 0) != 0 ? 1 : 0;
  }
  if (op == "MatMul" && input == 1) return rank >= 2 ? rank - 1 : -1;
  return 0;
}

}  // namespace dpl
