#include "transform/adaround_layer.h"

#include "graph/region.h"
#include "train/loss.h"
#include "transform/data_parallel.h"
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
  if (layer.kind.ends_with("+SiLU")) {
    // Sigmoid and Mul become one dpl.Silu node (runtime/ops/activation.cpp): two passes over
    // the activation per iteration instead of five.
    auto* nodes = sub.graph().mutable_node();
    const std::string out = sub.graph().node(0).output(0);
    while (nodes->size() > 1) nodes->RemoveLast();
    auto* silu = nodes->Add();
    silu->set_op_type("dpl.Silu");
    silu->set_name(layer.name + "_silu");
    silu->add_input(out);
    silu->add_output(layer.target);
  }
  sub.update_maps();
  return sub;
}

AdaRoundLayer::AdaRoundLayer(const OnnxGraph& g, ReconLayer layer, train::WeightGrid grid, double lr, int threads)
    : layer_(std::move(layer)),
      rounding_(g.get_initializer(layer_.weight), std::move(grid)),
      adam_(rounding_.size(), train::AdamOptions{.lr = lr}) {
  SessionOptions so;
  so.threads = std::max(1, threads);
  session_ = std::make_unique<Session>(layer_model(g, layer_), so);
}

std::pair<double, double> AdaRoundLayer::iterate(const Tensor& x, const Tensor& target, double beta, double lambda,
                                                 const DataParallel* dp) {
  Tape tape;
  TensorMap y = session_->run_forward(0, session_->node_count(), {{layer_.input, x}, {layer_.weight, rounding_.soft()}},
                                      {layer_.target}, {layer_.weight}, tape);
  Tensor dy;
  double l = train::reconstruction_loss(y.at(layer_.target), target, layer_.channel_axis, &dy);
  y.clear();
  TensorMap g = session_->run_backward(tape, {{layer_.target, dy}});
  Tensor& gw = g.at(layer_.weight);
  if (dp) l = dp->reduce({std::span<float>(gw.data<float>(), static_cast<size_t>(gw.numel()))}, l, x.dim(0));
  const double reg = rounding_.grad_v(gw, beta, lambda, grad_v_);
  adam_.step(rounding_.v(), grad_v_);
  return {l, reg};
}

double AdaRoundLayer::loss(const Tensor& x, const Tensor& target, const Tensor& w) {
  TensorMap out = session_->run({{layer_.input, x}, {layer_.weight, w}}, {layer_.target});
  return train::reconstruction_loss(out.at(layer_.target), target, layer_.channel_axis, nullptr);
}

}  // namespace dpl::transform
