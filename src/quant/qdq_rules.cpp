#include "quant/qdq_rules.h"

#include <algorithm>
#include <limits>

#include "util/error.h"

namespace dpl {

namespace {

int64_t int_attr(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return dflt;
}

}  // namespace

bool op_has_weight(const std::string& op_type) {
  return op_type == "Conv" || op_type == "Gemm" || op_type == "ConvTranspose" || op_type == "PRelu" ||
         op_type == "BatchNormalization";
}

int weight_channel_axis(const onnx::NodeProto& node, int input, int rank) {
  if (rank <= 0) return -1;
  const std::string& op = node.op_type();
  if (op == "ConvTranspose" && input == 1 && rank >= 2) return 1;
  if (op == "Gemm" && rank == 2) {
    if (input == 1) return int_attr(node, "transB", 0) != 0 ? 0 : 1;
    if (input == 0) return int_attr(node, "transA", 0) != 0 ? 1 : 0;
  }
  if (op == "MatMul" && input == 1) return rank >= 2 ? rank - 1 : -1;
  return 0;
}

ChannelRanges channel_ranges(const Tensor& w, int axis) {
  DPL_CHECK(w.dtype() == DType::F32, "weight ranges need a float32 tensor, got {}", dtype_name(w.dtype()));
  DPL_CHECK(axis >= -1 && axis < std::max(w.rank(), 1), "channel axis {} out of range for shape {}", axis,
            shape_str(w.shape()));
  int64_t outer = 1, channels = 1, inner = w.numel();
  if (axis >= 0 && w.rank() > 0) {
    channels = w.dim(axis);
    inner = 1;
    for (int d = 0; d < axis; ++d) outer *= w.dim(d);
    for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  }
  ChannelRanges r;
  r.lo.assign(channels, std::numeric_limits<float>::infinity());
  r.hi.assign(channels, -std::numeric_limits<float>::infinity());
  const float* d = w.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = d + (o * channels + c) * inner;
      float lo = r.lo[c], hi = r.hi[c];
      for (int64_t i = 0; i < inner; ++i) {
        lo = std::min(lo, p[i]);
        hi = std::max(hi, p[i]);
      }
      r.lo[c] = lo;
      r.hi[c] = hi;
    }
  return r;
}

}  // namespace dpl
