// One block's BRECQ / QDrop training state (docs/training.md, "BRECQ and QDrop"): the block
// model (transform/block_model.h), the soft rounding of each trained weight with Adam on V
// (lr 1e-3), and the learned activation steps with Adam (LSQ, the LSQ paper's gradient scale
// 1 / sqrt(numel * Q_p)). transform/brecq.h drives it over the cached samples.
#pragma once
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/session.h"
#include "train/optimizer.h"
#include "train/soft_rounding.h"
#include "transform/block_model.h"

namespace dpl::transform {

struct BlockTrainOptions {
  double lr = 1e-3;  // Adam on V
  int threads = 1;
};

class DataParallel;

// With a DataParallel, iterate() trains on the global batch of the ranks (its gradients and
// loss reduced over them, transform/data_parallel.h).
class BlockTrainer {
 public:
  // Throws naming the reason when the block cannot be cut out (more than one activation
  // input, a per-channel activation grid).
  BlockTrainer(const OnnxGraph& g, const ReconBlock& block, const QdqModel& q, const BlockModelOptions& mo,
               const BlockTrainOptions& o);

  // One iteration on a batch: x is the block input in the quantized model, x_fp the same in
  // the FP32 model (drop only; else null), target the FP32 block output. `seed` draws the
  // drop masks. Soft weights, forward, loss, backward; Adam on every V (with the rounding
  // regulariser at `beta`, weight `lambda`) and, at learning rate `scale_lr`, on every
  // learned step. Returns (reconstruction loss, regulariser). Throws, naming node and op,
  // when the block holds an operator without a backward pass.
  std::pair<double, double> iterate(const Tensor& x, const Tensor* x_fp, const Tensor& target, double beta,
                                    double lambda, double scale_lr, uint64_t seed, const DataParallel* dp = nullptr);
  // The reconstruction loss without drop, with the hard (learned) or the round-to-nearest
  // weights and the current steps.
  double loss(const Tensor& x, const Tensor& target, bool hard);

  const BlockModel& model() const { return model_; }
  const std::vector<train::SoftRounding>& roundings() const { return rounding_; }
  // Current value of each of model().scales (learned or fixed).
  const std::vector<float>& scales() const { return scale_; }

 private:
  TensorMap feeds(const Tensor& x, bool hard, bool nearest) const;

  BlockModel model_;
  std::string eval_output_;           // the output of the session the loss without drop runs on
  std::set<std::string> trainable_;   // fed weights and learned steps
  int channel_axis_ = 1;
  std::vector<train::SoftRounding> rounding_;
  std::vector<train::Adam> adam_w_, adam_s_;
  std::vector<float> scale_;
  std::vector<double> grad_scale_;  // LSQ: 1 / sqrt(elements per batch row * Q_p), per scale
  std::unique_ptr<Session> train_, eval_own_;
  Session* eval_ = nullptr;  // train_ itself when there is no drop
  std::vector<float> grad_v_;
};

}  // namespace dpl::transform
