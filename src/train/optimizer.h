// First-order optimizers over one flat float parameter vector (docs/training.md, "train/").
// Reconstruction trains small per-layer tensors (AdaRound's V, LSQ steps); each gets its own
// optimizer object holding its moments. Element-wise loops only: no kernels here.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace dpl::train {

struct AdamOptions {
  double lr = 1e-3;  // the torch default, which every AdaRound reference uses for V
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // L2 added to the gradient (torch.optim.Adam's form)
};

// Adam (Kingma & Ba 2015) with bias correction, in torch.optim.Adam's arithmetic:
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
class Adam {
 public:
  Adam(int64_t size, AdamOptions opts);
  // One step on `param` with gradient `grad` (same size as constructed) at learning rate `lr`
  // (a schedule's value; opts.lr when negative).
  void step(std::span<float> param, std::span<const float> grad, double lr = -1);
  int64_t steps() const { return t_; }

 private:
  AdamOptions o_;
  std::vector<float> m_, v_;
  int64_t t_ = 0;
};

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0.9;
  double weight_decay = 1e-4;
};

// SGD with momentum and weight decay, torch.optim.SGD's form (dampening 0, not Nesterov):
// g += wd p; buf = momentum buf + g (buf = g on the first step); p -= lr buf.
class Sgd {
 public:
  Sgd(int64_t size, SgdOptions opts);
  void step(std::span<float> param, std::span<const float> grad, double lr = -1);

 private:
  SgdOptions o_;
  std::vector<float> buf_;
  bool first_ = true;
};

}  // namespace dpl::train
