// The operator interface. One small class per operator (or family), registered by its ONNX
// op type in a flat registry (ops/*.cpp), as ncnn does with layers.
//
// Life cycle: the session creates one Op per graph node, calls init() once with the node's
// attributes and constant inputs (weights can be reordered/packed there), then forward()
// for every batch. Shapes may change between calls (batch size, dynamic H/W), so kernels
// that cache work keyed on shapes must check them.
#pragma once
#include <memory>
#include <vector>

#include "runtime/node_desc.h"
#include "core/tensor.h"

namespace dpl {

struct OpContext {
  int threads = 1;
  // Batch size the model was exported with (dim 0 of its first input) and the batch
  // actually fed. Reshape uses them to rescale a literal batch dimension.
  int64_t declared_batch = 0;
  int64_t actual_batch = 0;
};

class Op {
 public:
  virtual ~Op() = default;
  virtual void init(const NodeDesc& node) { (void)node; }
  // inputs[i] is nullptr for an omitted optional input. outputs has one (undefined)
  // Tensor per node output; the kernel allocates and fills them.
  virtual void forward(OpContext& ctx, const std::vector<const Tensor*>& inputs,
                       std::vector<Tensor>& outputs) = 0;
  // Fusion in inference sessions (SessionOptions::fuse): the session offers the node that
  // consumes this op's output. `extra_inputs_ready` says whether the follower's other
  // operands are computed before this node runs. Returning true makes the session drop the
  // follower and pass it to init() in NodeDesc::absorbed. Called before init().
  // Synthetic follower types: "dpl.Swish" (x * Sigmoid(x), YOLOX's SiLU).
  virtual bool can_absorb(const NodeDesc& self, const NodeDesc& follower, bool extra_inputs_ready) const {
    (void)self, (void)follower, (void)extra_inputs_ready;
    return false;
  }
  // Reconstruction (AdaRound/BRECQ) will add a backward pass to the kernels that need one;
  // an op reports whether it has one so the trainer can refuse a region it cannot train.
  virtual bool has_backward() const { return false; }
};

}  // namespace dpl
