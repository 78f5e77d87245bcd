// InstanceNormalization: every (n, c) slice is normalized by its own mean and variance,
// then scaled and shifted per channel. Statistics are accumulated in double.
#include <cmath>
#include <vector>

#include "runtime/op_registry.h"
#include "runtime/ops/row_moments.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

template <typename T>
void instance_norm(const Tensor& x, const Tensor& scale, const Tensor& bias, float eps, Tensor& y) {
  const int64_t n = x.shape()[0], c = x.shape()[1];
  const int64_t sp = n * c > 0 ? x.numel() / (n * c) : 0;
  const T* xs = x.data<T>();
  T* ys = y.data<T>();
  std::vector<double> s(c), b(c);
  for (int64_t i = 0; i < c; ++i) s[i] = scale.at_f64(i), b[i] = bias.at_f64(i);
  parallel_for(
      n * c,
      [&](int64_t beg, int64_t end) {
        for (int64_t i = beg; i < end; ++i) {
          const T* xp = xs + i * sp;
          T* yp = ys + i * sp;
          const auto [mean, var] = row_moments(xp, sp);
          const double a = s[i % c] / std::sqrt(var + static_cast<double>(eps));
          // (x - mean) * a + b: no cancellation when the mean is large against the spread.
          const T at = static_cast<T>(a), mt = static_cast<T>(mean), bt = static_cast<T>(b[i % c]);
#pragma omp simd
          for (int64_t j = 0; j < sp; ++j) yp[j] = (xp[j] - mt) * at + bt;
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, sp)));
}

class InstanceNormOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    eps_ = node.attrs.get_float("epsilon", 1e-5f);
    DPL_CHECK(node.has_input(1) && node.has_input(2), "InstanceNormalization '{}' needs inputs input, scale, B",
              name_);
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    DPL_CHECK(x.rank() >= 2, "InstanceNormalization '{}': input must have rank >= 2 (N, C, ...), got {}", name_,
              shape_str(x.shape()));
    const int64_t c = x.shape()[1];
    DPL_CHECK(in[1]->numel() == c && in[2]->numel() == c,
              "InstanceNormalization '{}': scale and B must have {} values (one per channel)", name_, c);
    out[0] = Tensor(x.dtype(), x.shape());
    if (x.dtype() == DType::F32) instance_norm<float>(x, *in[1], *in[2], eps_, out[0]);
    else if (x.dtype() == DType::F64) instance_norm<double>(x, *in[1], *in[2], eps_, out[0]);
    else fail("InstanceNormalization '{}': element type {} is not supported (float, double)", name_,
              dtype_name(x.dtype()));
  }

 private:
  std::string name_;
  float eps_ = 1e-5f;
};

}  // namespace

DPL_REGISTER_OP("InstanceNormalization", InstanceNormOp);

}  // namespace dpl
