// Tensor comparison for tests: ONNX's rule |got - want| <= atol + rtol * |want|, NaN
// equal to NaN, exact for integer and bool tensors.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/tensor.h"

namespace dpl::test {

// Empty string when equal; else a description of the first mismatch.
inline std::string compare_tensors(const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (got.shape() != want.shape())
    return "shape " + shape_str(got.shape()) + " != expected " + shape_str(want.shape());
  if (got.dtype() != want.dtype()) return "type " + dtype_name(got.dtype()) + " != expected " + dtype_name(want.dtype());
  const bool is_float = want.dtype() == DType::F32 || want.dtype() == DType::F64;
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double g = got.at_f64(i), w = want.at_f64(i);
    bool ok;
    if (is_float) {
      ok = (std::isnan(g) && std::isnan(w)) || (std::isinf(w) && g == w) || std::fabs(g - w) <= atol + rtol * std::fabs(w);
    } else {
      ok = got.at_i64(i) == want.at_i64(i);
    }
    if (!ok && bad++ == 0)
      first = "element " + std::to_string(i) + ": got " + std::to_string(g) + ", expected " + std::to_string(w);
  }
  if (!bad) return "";
  return std::to_string(bad) + " of " + std::to_string(want.numel()) + " elements differ; first " + first;
}

inline void expect_tensor_near(const Tensor& got, const Tensor& want, double rtol, double atol) {
  std::string r = compare_tensors(got, want, rtol, atol);
  EXPECT_TRUE(r.empty()) << r;
}

}  // namespace dpl::test
