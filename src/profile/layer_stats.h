// Streaming error statistics of a quantized tensor against its FP32 reference (docs/spec.md 9).
//
// Per sample i (one row along the batch axis), over the elements x (FP32) and y (QDQ):
//   cos_i   = sum(x*y) / sqrt(sum(x^2) * sum(y^2)), and 0 when sum(x*y) == 0 (as the
//             original's cos_similarity, so an all-zero tensor scores 0);
// over all samples seen:
//   mean cosine       = mean_i cos_i (the original's "Layer cos" / "avgcos"), min_i cos_i;
//   pooled cosine     = sum_i sum(x*y) / sqrt(sum_i sum(x^2) * sum_i sum(y^2)): the cosine of
//                       all samples stacked (the original's "tolcos" for small outputs);
//   relative MSE      = sum_i sum((x-y)^2) / sum_i sum(x^2) (noise power / signal power);
//   SQNR              = -10 log10(relative MSE) dB (+inf when there is no error at all).
// Only sums are kept, so memory does not depend on the sample count, and two accumulators
// over disjoint samples merge exactly (a distributed run can reduce them).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/tensor.h"

namespace dpl {

// Sums of one sample (double accumulation).
struct PairSums {
  double dot = 0, xx = 0, yy = 0, ee = 0;
  int64_t count = 0;
};

PairSums pair_sums(const float* x, const float* y, int64_t n);
// Cosine of one sample by the original's rule (0 when the dot product is 0).
double sample_cosine(const PairSums& s);

class ErrorStats {
 public:
  void add_sample(const PairSums& s);
  // `fp` and `q` hold `batch` samples stacked along axis 0 (same shape, float32). When the
  // first axis is not the batch (a tensor that mixes samples), the tensor counts as `batch`
  // samples of the same cosine.
  void add_batch(const Tensor& fp, const Tensor& q, int batch);
  void merge(const ErrorStats& o);
  // The sums as bytes and their merge (dist/reduce.h reduces them over ranks), and an empty
  // accumulator.
  std::string serialize() const;
  void merge_serialized(std::string_view bytes);
  void clear() { *this = ErrorStats(); }

  int64_t samples() const { return samples_; }
  double mean_cosine() const;
  double min_cosine() const { return samples_ ? cos_min_ : 0.0; }
  double pooled_cosine() const;
  double rel_mse() const;
  double sqnr_db() const;

 private:
  int64_t samples_ = 0;
  double cos_sum_ = 0, cos_min_ = 1.0;
  double dot_ = 0, xx_ = 0, yy_ = 0, ee_ = 0;
};

}  // namespace dpl
