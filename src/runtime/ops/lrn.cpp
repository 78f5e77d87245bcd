// LRN (local response normalization across channels):
//   y[n,c,...] = x[n,c,...] / (bias + alpha / size * sum_{c' in window(c)} x[n,c',...]^2) ^ beta
// with window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C).
#include <cmath>
#include <vector>

#include "runtime/op_registry.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

template <typename T>
void lrn(const T* x, T* y, int64_t n, int64_t c, int64_t sp, int64_t size, double alpha, double beta, double bias) {
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  const T a = static_cast<T>(alpha / static_cast<double>(size)), bt = static_cast<T>(bias);
  const T nb = static_cast<T>(-beta);
  parallel_for(
      n * c,
      [&](int64_t beg, int64_t end) {
        std::vector<T> acc(sp);
        for (int64_t i = beg; i < end; ++i) {
          const int64_t b = i / c, ch = i % c;
          const int64_t c0 = std::max<int64_t>(0, ch - lo), c1 = std::min<int64_t>(c - 1, ch + hi);
          std::fill(acc.begin(), acc.end(), T(0));
          for (int64_t k = c0; k <= c1; ++k) {
            const T* xp = x + (b * c + k) * sp;
            for (int64_t j = 0; j < sp; ++j) acc[j] += xp[j] * xp[j];
          }
          const T* xp = x + i * sp;
          T* yp = y + i * sp;
          for (int64_t j = 0; j < sp; ++j) yp[j] = xp[j] * std::pow(bt + a * acc[j], nb);
        }
      },
      std::max<int64_t>(1, 8192 / std::max<int64_t>(1, sp * size)));
}

class LrnOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    size_ = node.attrs.get_int("size", 0);
    DPL_CHECK(size_ >= 1, "LRN '{}': attribute size is required and must be positive", name_);
    alpha_ = node.attrs.get_float("alpha", 1e-4f);
    beta_ = node.attrs.get_float("beta", 0.75f);
    bias_ = node.attrs.get_float("bias", 1.0f);
  }

  void forward(OpContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    DPL_CHECK(x.rank() >= 2, "LRN '{}': input must have rank >= 2 (N, C, ...), got {}", name_, shape_str(x.shape()));
    const int64_t n = x.shape()[0], c = x.shape()[1];
    const int64_t sp = n * c > 0 ? x.numel() / (n * c) : 0;
    out[0] = Tensor(x.dtype(), x.shape());
    if (x.dtype() == DType::F32)
      lrn<float>(x.data<float>(), out[0].data<float>(), n, c, sp, size_, alpha_, beta_, bias_);
    else if (x.dtype() == DType::F64)
      lrn<double>(x.data<double>(), out[0].data<double>(), n, c, sp, size_, alpha_, beta_, bias_);
    else fail("LRN '{}': element type {} is not supported (float, double)", name_, dtype_name(x.dtype()));
  }

 private:
  std::string name_;
  int64_t size_ = 0;
  float alpha_ = 1e-4f, beta_ = 0.75f, bias_ = 1.0f;
};

}  // namespace

DPL_REGISTER_OP("LRN", LrnOp);

}  // namespace dpl
