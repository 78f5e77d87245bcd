#include "train/loss.h"

#include "util/error.h"

namespace dpl::train {

double reconstruction_loss(const Tensor& y, const Tensor& target, int channel_axis, Tensor* grad) {
  DPL_CHECK(y.shape() == target.shape(), "reconstruction loss: output {} and target {} differ in shape",
            shape_str(y.shape()), shape_str(target.shape()));
  DPL_CHECK(y.dtype() == DType::F32 && target.dtype() == DType::F32, "reconstruction loss: float32 tensors only");
  const int64_t n = y.numel();
  const int64_t channels = y.rank() == 0 ? 1 : y.dim(channel_axis < 0 ? channel_axis + y.rank() : channel_axis);
  const double rows = channels > 0 ? static_cast<double>(n) / static_cast<double>(channels) : 1;
  const float* a = y.data<float>();
  const float* b = target.data<float>();
  float* g = nullptr;
  if (grad) {
    *grad = Tensor(DType::F32, y.shape());
    g = grad->data<float>();
  }
  const float k = static_cast<float>(2 / rows);
  double sum = 0;
#pragma omp parallel for reduction(+ : sum) if (n > 65536) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float d = a[i] - b[i];
    sum += static_cast<double>(d) * d;
    if (g) g[i] = k * d;
  }
  return sum / rows;
}

}  // namespace dpl::train
