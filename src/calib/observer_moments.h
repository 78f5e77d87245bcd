// Per-channel mean and variance of chosen tensors (the inputs of weighted layers), for the
// output-aware weight range search (--w_range output, docs/calibration.md): the error a weight
// error e adds to a layer's output has, for inputs independent across channels, the expected
// square sum_k e_k^2 var_k + (sum_k e_k mean_k)^2; for the input of a linear layer the whole
// second-moment matrix M gives it exactly, e^T M e. Non-finite values are left out of their
// channel's sums (rows holding one, of the matrix). Merging adds the sums (double sums: a merged mean can differ from a
// one-process mean in the last bits).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calib/observer.h"

namespace dpl {

struct ChannelMoments {
  std::vector<double> mean, var;  // per channel; a channel without a finite value: 0, 0
  // E[x_i x_j] over all positions, row-major C x C, for tensors asked for in full (the
  // inputs of linear layers, whose output error e^T E[x x^T] e it gives exactly); else empty.
  std::vector<double> second;
  // For the input of a 2-D convolution (tensors asked for with a tap lattice): per channel c,
  // E[x(h, w) x(h + a dil_h, w + b dil_w)] for |a| < kh, |b| < kw, as autocorr[(c * (2 kh - 1)
  // + a + kh - 1) * (2 kw - 1) + b + kw - 1]: how the taps of one kernel window co-vary
  // (neighbouring pixels are far from independent). Empty otherwise.
  struct Lattice {
    int64_t kh = 0, kw = 0, dil_h = 1, dil_w = 1;
    bool operator==(const Lattice&) const = default;
  };
  Lattice lattice;
  std::vector<double> autocorr;
};
using InputMoments = std::map<std::string, ChannelMoments>;

class ChannelMomentsObserver : public Observer {
 public:
  // tensor -> its channel axis (negative: counted from the end, -1 the last axis). Other
  // tensors are ignored. `full`: tensors (channels on the last axis) whose whole matrix of
  // second moments is kept, up to kMaxFullChannels channels.
  explicit ChannelMomentsObserver(std::map<std::string, int> axes, std::set<std::string> full = {},
                                  std::map<std::string, ChannelMoments::Lattice> lattices = {});
  static constexpr int64_t kMaxFullChannels = 1024;

  void observe(const std::string& name, const Tensor& value, int samples) override;
  void merge(const Observer& other) override;
  std::string serialize() const override;
  void merge_serialized(std::string_view bytes) override;
  void clear() override { sums_.clear(); }

  // Every observed tensor's moments.
  InputMoments moments() const;

  struct Sums {
    std::vector<double> count, sum, sum_sq;  // per channel
    double rows = 0;                         // full: rows of the second-moment sum
    std::vector<double> cross;               // full: sum of x x^T over rows without a non-finite value
    std::vector<double> auto_sum, auto_count;  // lattice: per channel and offset, sum of products, pairs
  };

 private:
  void add(const std::string& name, const Sums& s);
  std::map<std::string, int> axes_;
  std::set<std::string> full_;
  std::map<std::string, ChannelMoments::Lattice> lattices_;
  std::map<std::string, Sums> sums_;
};

}  // namespace dpl
