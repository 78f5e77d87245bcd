// train/: Adam and SGD against values computed by hand from torch.optim's update rules, the
// schedules at their end points, the reconstruction loss and its gradient against central
// differences, and the batch sampler's determinism and coverage.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "graph/model_builder.h"
#include "train/batch_sampler.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace dpl::test {
namespace {

TEST(TrainOptimizer, AdamMatchesHandComputedSteps) {
  // p = 1, lr 0.1, gradients 0.5 then -1:
  // t=1: m = 0.05, v = 0.00025, p -= 0.1 * 0.5 / (0.5 + 1e-8)            -> 0.9000000020
  // t=2: m = -0.055, v = 0.00124975, m^ = -0.289474, v^ = 0.625188       -> 0.9366103542
  train::Adam adam(1, {.lr = 0.1});
  std::vector<float> p = {1.f};
  std::vector<float> g = {0.5f};
  adam.step(p, g);
  EXPECT_NEAR(p[0], 0.9000000020, 1e-6);
  g[0] = -1.f;
  adam.step(p, g);
  EXPECT_NEAR(p[0], 0.9366103542, 1e-6);
  EXPECT_EQ(adam.steps(), 2);
  // The learning rate of a step can come from a schedule.
  adam.step(p, g, 0.0);
  EXPECT_NEAR(p[0], 0.9366103542, 1e-6);
}

TEST(TrainOptimizer, SgdMomentumAndWeightDecayMatchHandComputedSteps) {
  // lr 0.1, momentum 0.9, weight decay 0.01, p = 1:
  // g1 = 0.5 + 0.01 = 0.51, buf = 0.51, p = 0.949;
  // g2 = -1 + 0.00949, buf = 0.9 * 0.51 + g2 = -0.53151, p = 1.002151.
  train::Sgd sgd(1, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  std::vector<float> p = {1.f};
  sgd.step(p, std::vector<float>{0.5f});
  EXPECT_NEAR(p[0], 0.949, 1e-6);
  sgd.step(p, std::vector<float>{-1.f});
  EXPECT_NEAR(p[0], 1.002151, 1e-6);
}

TEST(TrainOptimizer, SizeMismatchIsAnError) {
  train::Adam adam(2, {});
  std::vector<float> p = {1.f}, g = {1.f};
  EXPECT_THROW(adam.step(p, g), std::exception);
}

TEST(TrainSchedule, CosineLearningRateAndBetaDecays) {
  using train::LrSchedule;
  EXPECT_DOUBLE_EQ(train::learning_rate(LrSchedule::Constant, 0.5, 70, 100), 0.5);
  EXPECT_DOUBLE_EQ(train::learning_rate(LrSchedule::Cosine, 0.5, 0, 100), 0.5);
  EXPECT_NEAR(train::learning_rate(LrSchedule::Cosine, 0.5, 50, 100), 0.25, 1e-12);
  EXPECT_NEAR(train::learning_rate(LrSchedule::Cosine, 0.5, 100, 100), 0.0, 1e-12);

  train::BetaSchedule lin;  // 20 -> 2 after 20% warm-up
  EXPECT_EQ(lin.at(0, 1000), 0.0);
  EXPECT_EQ(lin.at(199, 1000), 0.0);
  EXPECT_FALSE(lin.active(199, 1000));
  EXPECT_DOUBLE_EQ(lin.at(200, 1000), 20.0);
  EXPECT_DOUBLE_EQ(lin.at(600, 1000), 11.0);  // half way: (20 + 2) / 2
  EXPECT_NEAR(lin.at(999, 1000), 2 + 18.0 / 800, 1e-12);
  train::BetaSchedule cos;
  cos.decay = train::BetaDecay::Cosine;
  EXPECT_DOUBLE_EQ(cos.at(200, 1000), 20.0);
  EXPECT_NEAR(cos.at(600, 1000), 11.0, 1e-12);
  EXPECT_LT(cos.at(300, 1000), 20.0);
  EXPECT_GT(cos.at(300, 1000), lin.at(300, 1000));  // cosine stays near the start longer
  EXPECT_THROW(train::parse_beta_decay("exp"), std::exception);
}

TEST(TrainLoss, ReconstructionLossSumsChannelsAndAveragesTheRest) {
  // y - t = [[1, 2], [3, 4]] along channels of a [1, 2, 2] tensor: sum of squares 30 over
  // numel / channels = 2 positions -> 15.
  Tensor y = Tensor::from_vector<float>({1, 2, 2}, {1, 2, 3, 4});
  Tensor t = Tensor::zeros(DType::F32, {1, 2, 2});
  Tensor g;
  EXPECT_DOUBLE_EQ(train::reconstruction_loss(y, t, 1, &g), 15.0);
  EXPECT_FLOAT_EQ(g.data<float>()[3], 4.f);  // 2 * 4 / 2
  // Last axis as the channel axis (MatMul outputs): 2 channels, 2 rows.
  EXPECT_DOUBLE_EQ(train::reconstruction_loss(y, t, -1, nullptr), 15.0);
  Tensor y3 = Tensor::from_vector<float>({1, 3}, {1, 2, 3});
  EXPECT_DOUBLE_EQ(train::reconstruction_loss(y3, Tensor::zeros(DType::F32, {1, 3}), 1, nullptr), 14.0);
  EXPECT_THROW(train::reconstruction_loss(y, y3, 1, nullptr), std::exception);
}

TEST(TrainLoss, ReconstructionGradientMatchesCentralDifferences) {
  Tensor y = random_tensor({2, 3, 4, 5}, 7, -1.f, 1.f);
  Tensor t = random_tensor({2, 3, 4, 5}, 8, -1.f, 1.f);
  Tensor g;
  train::reconstruction_loss(y, t, 1, &g);
  for (int64_t i = 0; i < y.numel(); i += 7) {
    Tensor yp = y.clone(), ym = y.clone();
    const float h = 1e-2f;
    yp.data<float>()[i] += h;
    ym.data<float>()[i] -= h;
    const double d = (train::reconstruction_loss(yp, t, 1, nullptr) - train::reconstruction_loss(ym, t, 1, nullptr)) /
                     (static_cast<double>(yp.data<float>()[i]) - ym.data<float>()[i]);
    EXPECT_NEAR(g.data<float>()[i], d, 1e-4 + 1e-3 * std::fabs(d)) << i;
  }
}

TEST(TrainSampler, RandomBatchesAreSeededAndWithoutRepeats) {
  using Mode = train::BatchSampler::Mode;
  train::BatchSampler a(100, 32, Mode::Random, 5), b(100, 32, Mode::Random, 5), c(100, 32, Mode::Random, 6);
  std::set<int64_t> seen;
  bool differs = false;
  for (int k = 0; k < 20; ++k) {
    auto x = a.next();
    EXPECT_EQ(x, b.next());
    differs |= x != c.next();
    ASSERT_EQ(x.size(), 32u);
    EXPECT_EQ(std::set<int64_t>(x.begin(), x.end()).size(), 32u) << "a batch repeats a sample";
    for (auto i : x) {
      EXPECT_GE(i, 0);
      EXPECT_LT(i, 100);
      seen.insert(i);
    }
  }
  EXPECT_TRUE(differs) << "the seed changes nothing";
  EXPECT_EQ(seen.size(), 100u) << "640 draws should reach every sample";
  // Fewer samples than a batch: the batch is all of them.
  EXPECT_EQ(train::BatchSampler(5, 32, Mode::Random).next().size(), 5u);
}

TEST(TrainSampler, SequentialBatchesAreTheOriginalsSlices) {
  train::BatchSampler s(10, 4, train::BatchSampler::Mode::Sequential);
  EXPECT_EQ(s.batches_per_epoch(), 3);
  EXPECT_EQ(s.next(), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(s.next(), (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(s.next(), (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(s.next(), (std::vector<int64_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace dpl::test
