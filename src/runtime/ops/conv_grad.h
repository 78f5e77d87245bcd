// Backward of Conv and ConvTranspose on oneDNN's backward-data and backward-weights
// primitives (docs/training.md). Per (input shape, weight shape, thread count) an entry
// holds a forward-training primitive descriptor (the hint oneDNN's backward descriptors
// need), the backward primitives in the layouts oneDNN picks, and the reorders between
// those and the plain ONNX layouts; a few entries are kept (LRU), as the forward does.
#pragma once
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "runtime/ops/conv_geometry.h"

namespace dpl {

class ConvGrad {
 public:
  struct Entry;  // conv_grad.cpp
  ConvGrad();
  ~ConvGrad();
  ConvGrad(const ConvGrad&) = delete;
  ConvGrad& operator=(const ConvGrad&) = delete;

  // p: the forward's parameters (float, no post-ops). Fills each non-null of dx (X's shape),
  // dw (W's shape) and db ([M]) from x, w and dy = dL/dY.
  void run(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx, Tensor* dw,
           Tensor* db);

 private:
  Entry& entry_for(const ConvParams& p, const Shape& x, const Shape& w, bool want_bias);
  std::vector<std::unique_ptr<Entry>> cache_;  // most recently used first
};

// The Op::backward of Conv and ConvTranspose: inputs X, W and the optional B, each
// gradient computed where args.wants asks for it.
struct GradArgs;
void conv_backward(ConvGrad& grad, const ConvParams& p, const GradArgs& args);

}  // namespace dpl
