// Helpers shared by the backward passes (docs/training.md): argument checks, the reduction
// of a broadcast gradient back to an input's shape, and the backward of the ops that only
// move elements (Transpose, Slice, Concat, Split, Pad, nearest Resize), found by tracing
// where every output element comes from.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/op.h"

namespace dpl::grad {

// Whether dL/d(input i) is asked for.
inline bool wants(const GradArgs& a, size_t i) { return i < a.wants.size() && a.wants[i]; }
// Input i as float32 (a clear error otherwise).
const Tensor& float_input(const GradArgs& a, size_t i, const std::string& op);
// dL/d(output k), checked to be float32 of that output's shape; nullptr when no gradient
// reaches it.
const Tensor* output_grad(const GradArgs& a, size_t k, const std::string& op);

// Sums g over the axes along which `shape` was broadcast to g's shape (numpy rules), so
// the result has `shape`: the gradient of a broadcast operand.
Tensor reduce_to_shape(const Tensor& g, const Shape& shape);

// dst[i] += src[i] (the same shape).
void accumulate(Tensor& dst, const Tensor& src);

// Backward of a data-movement op: the forward run once per input shape on int64 tensors
// holding 1 + the element's position among all data inputs gives, per output element, its
// source (0: none, as a constant pad). dL/dx is then a scatter-add of dL/dy, in parallel
// when no two outputs share a source.
class IndexMapGrad {
 public:
  // data: the inputs whose elements the op moves; `replace` lists other inputs to feed
  // instead of the forward's during tracing (Pad's constant value: 0). Inputs not listed
  // are passed as the forward got them; their values are part of the cache key.
  void backward(Op& op, OpContext& ctx, const GradArgs& a, const std::vector<size_t>& data,
                const std::vector<std::pair<size_t, Tensor>>& replace = {});

 private:
  struct Trace {
    std::vector<Shape> in_shapes;
    std::vector<std::string> key_bytes;  // the non-data inputs' bytes
    std::vector<int64_t> offsets;        // start of each data input in the global numbering
    std::vector<Tensor> maps;            // per output: int64 source + 1, or 0
    bool injective = true;
  };
  const Trace& trace(Op& op, OpContext& ctx, const GradArgs& a, const std::vector<size_t>& data,
                     const std::vector<std::pair<size_t, Tensor>>& replace);
  std::vector<Trace> cache_;  // most recent first
};

// Base of the ops that only reshape (Reshape, Flatten, Squeeze, Unsqueeze): dL/dx is
// dL/dy with x's shape.
class ReshapeGradOp : public Op {
 public:
  bool has_backward() const override { return true; }
  void backward(OpContext& ctx, const GradArgs& args) override;
};

// Base of the ops that only move elements (Transpose, Slice, Split: input 0; Concat: every
// input), whose backward is an IndexMapGrad.
class MoveGradOp : public Op {
 public:
  bool has_backward() const override { return true; }
  void backward(OpContext& ctx, const GradArgs& args) override;

 protected:
  bool trace_all_inputs_ = false;
  std::vector<std::pair<size_t, Tensor>> trace_replace_;  // see IndexMapGrad::backward

 private:
  IndexMapGrad trace_;
};

}  // namespace dpl::grad
