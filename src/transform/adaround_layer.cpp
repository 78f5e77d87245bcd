#include "transform/adaround_layer.h"

#include <malloc.h>

#include <mutex>

#include "graph/region.h"
#include "train/loss.h"
#include "util/error.h"

namespace dpl::transform {

OnnxGraph layer_model(const OnnxGraph& g, const ReconLayer& layer) {
  Region region(g, layer.nodes, {layer.target});
  DPL_CHECK(region.inputs().size() == 1, "it reads {} activations (one is supported)", region.inputs().size());
  OnnxGraph sub = region.extract();
  const Tensor w = g.get_initializer(layer.weight);
  sub.del_initializer(layer.weight);
  auto* in = sub.graph().add_input();
  in->set_name(layer.weight);
  auto* type = in->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : w.shape()) type->mutable_shape()->add_dim()->set_dim_value(d);
  sub.update_maps();
  return sub;
}

namespace {

// Training allocates the same large activations and gradients every iteration. glibc serves
// blocks above its mmap threshold (at most 32 MB, e.g. one 32 x 32 x 104 x 104 activation)
// with fresh mmaps and unmaps them on free, so each iteration paid the kernel for zeroing
// new pages (a sixth of an iteration on YOLOX-Nano's 1x1 layer, docs/benchmarks.md). With the
// threshold raised, freed blocks go back to the heap and the next iteration reuses them; the
// process keeps its peak working set, which reconstruction reaches every iteration anyway.
void reuse_large_blocks() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
}

}  // namespace

AdaRoundLayer::AdaRoundLayer(const OnnxGraph& g, ReconLayer layer, train::WeightGrid grid, double lr, int threads)
    : layer_(std::move(layer)),
      rounding_(g.get_initializer(layer_.weight), std::move(grid)),
      adam_(rounding_.size(), train::AdamOptions{.lr = lr}) {
  reuse_large_blocks();
  SessionOptions so;
  so.threads = std::max(1, threads);
  session_ = std::make_unique<Session>(layer_model(g, layer_), so);
}

std::pair<double, double> AdaRoundLayer::iterate(const Tensor& x, const Tensor& target, double beta, double lambda) {
  Tape tape;
  TensorMap y = session_->run_forward(0, session_->node_count(), {{layer_.input, x}, {layer_.weight, rounding_.soft()}},
                                      {layer_.target}, {layer_.weight}, tape);
  Tensor dy;
  const double l = train::reconstruction_loss(y.at(layer_.target), target, layer_.channel_axis, &dy);
  y.clear();
  TensorMap g = session_->run_backward(tape, {{layer_.target, dy}});
  const double reg = rounding_.grad_v(g.at(layer_.weight), beta, lambda, grad_v_);
  adam_.step(rounding_.v(), grad_v_);
  return {l, reg};
}

double AdaRoundLayer::loss(const Tensor& x, const Tensor& target, const Tensor& w) {
  TensorMap out = session_->run({{layer_.input, x}, {layer_.weight, w}}, {layer_.target});
  return train::reconstruction_loss(out.at(layer_.target), target, layer_.channel_axis, nullptr);
}

}  // namespace dpl::transform
