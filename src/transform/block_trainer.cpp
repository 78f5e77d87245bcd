#include "transform/block_trainer.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "train/loss.h"
#include "transform/data_parallel.h"
#include "util/error.h"

namespace dpl::transform {

BlockTrainer::BlockTrainer(const OnnxGraph& g, const ReconBlock& block, const QdqModel& q,
                           const BlockModelOptions& mo, const BlockTrainOptions& o)
    : channel_axis_(block.channel_axis) {
  model_ = block_model(g, block, q, mo);
  for (const auto& w : model_.weights) trainable_.insert(w.tensor);
  for (const auto& s : model_.scales)
    if (s.learned) trainable_.insert(s.input);
  for (const auto& w : model_.weights) {
    rounding_.emplace_back(g.get_initializer(w.tensor), w.grid);
    adam_w_.emplace_back(rounding_.back().size(), train::AdamOptions{.lr = o.lr});
  }
  for (const auto& s : model_.scales) {
    scale_.push_back(s.scale);
    if (s.learned) adam_s_.emplace_back(1, train::AdamOptions{});
  }
  SessionOptions so;
  so.threads = std::max(1, o.threads);
  train_ = std::make_unique<Session>(model_.graph, so);
  eval_output_ = model_.output;
  eval_ = train_.get();
  if (mo.drop) {
    // The loss without drop runs on the same block model built without DropMix nodes; its feeds
    // (input, weights, steps) have the same names.
    BlockModelOptions plain = mo;
    plain.drop = false;
    BlockModel eval = block_model(g, block, q, plain);
    eval_output_ = eval.output;
    eval_own_ = std::make_unique<Session>(eval.graph, so);
    eval_ = eval_own_.get();
  }
}

TensorMap BlockTrainer::feeds(const Tensor& x, bool hard, bool nearest) const {
  TensorMap f;
  f[model_.input] = x;
  for (size_t i = 0; i < rounding_.size(); ++i)
    f[model_.weights[i].tensor] = nearest ? rounding_[i].nearest() : hard ? rounding_[i].hard() : rounding_[i].soft();
  for (size_t j = 0; j < model_.scales.size(); ++j)
    if (model_.scales[j].learned) f[model_.scales[j].input] = Tensor::scalar<float>(scale_[j]);
  return f;
}

std::pair<double, double> BlockTrainer::iterate(const Tensor& x, const Tensor* x_fp, const Tensor& target, double beta,
                                                double lambda, double scale_lr, uint64_t seed,
                                                const DataParallel* dp) {
  if (grad_scale_.empty()) {
    // LSQ's gradient scale needs each quantized tensor's size: one forward without drop.
    std::vector<std::string> fetch;
    for (const auto& s : model_.scales)
      if (s.learned) fetch.push_back(s.tensor);
    const TensorMap out = fetch.empty() ? TensorMap{} : eval_->run(feeds(x, false, false), fetch);
    for (const auto& s : model_.scales) {
      const double per_row =
          s.learned ? static_cast<double>(out.at(s.tensor).numel()) / std::max<int64_t>(1, x.dim(0)) : 1.0;
      grad_scale_.push_back(per_row * std::max(1, s.qmax));
    }
  }
  TensorMap f = feeds(x, false, false);
  if (!model_.input_fp.empty()) {
    DPL_CHECK(x_fp, "internal: the block model mixes its input but no FP32 input was given");
    f[model_.input_fp] = *x_fp;
  }
  for (size_t k = 0; k < model_.seeds.size(); ++k)
    f[model_.seeds[k]] = Tensor::scalar<int64_t>(static_cast<int64_t>(seed * 1000003ULL + k));
  Tape tape;
  TensorMap y = train_->run_forward(0, train_->node_count(), f, {model_.output}, trainable_, tape);
  Tensor dy;
  double l = train::reconstruction_loss(y.at(model_.output), target, channel_axis_, &dy);
  y.clear();
  f.clear();
  TensorMap g = train_->run_backward(tape, {{model_.output, dy}});
  int64_t rows = std::max<int64_t>(1, x.dim(0));
  if (dp) {
    // Every gradient of this update in one exchange: the weights', then the steps'.
    std::vector<std::span<float>> grads;
    for (const auto& w : model_.weights) {
      Tensor& t = g.at(w.tensor);
      grads.emplace_back(t.data<float>(), static_cast<size_t>(t.numel()));
    }
    for (const auto& s : model_.scales)
      if (s.learned) grads.emplace_back(g.at(s.input).data<float>(), 1);
    l = dp->reduce(grads, l, rows, &rows);
  }
  double reg = 0;
  for (size_t i = 0; i < rounding_.size(); ++i) {
    reg += rounding_[i].grad_v(g.at(model_.weights[i].tensor), beta, lambda, grad_v_);
    adam_w_[i].step(rounding_[i].v(), grad_v_);
  }
  size_t a = 0;
  for (size_t j = 0; j < model_.scales.size(); ++j) {
    if (!model_.scales[j].learned) continue;
    const float gs = static_cast<float>(g.at(model_.scales[j].input).data<float>()[0] /
                                        std::sqrt(grad_scale_[j] * static_cast<double>(rows)));
    adam_s_[a++].step(std::span<float>(&scale_[j], 1), std::span<const float>(&gs, 1), scale_lr);
    scale_[j] = std::max(scale_[j], 1e-8f);
  }
  return {l, reg};
}

double BlockTrainer::loss(const Tensor& x, const Tensor& target, bool hard) {
  TensorMap out = eval_->run(feeds(x, hard, !hard), {eval_output_});
  return train::reconstruction_loss(out.at(eval_output_), target, channel_axis_, nullptr);
}

}  // namespace dpl::transform
