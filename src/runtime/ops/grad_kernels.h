// Backward passes of ops whose forward classes live in their own files (batch_norm.cpp,
// softmax.cpp, fake_quantize.cpp, pool.cpp, resize.cpp, clip.cpp): each class's backward() resolves
// its attributes and calls one of these (docs/training.md).
#pragma once
#include <string>

#include "runtime/op.h"
#include "runtime/ops/pool_geometry.h"
#include "runtime/ops/resize_tables.h"

namespace dpl::grad {

// BatchNormalization in inference form: gradients of X, scale, B, mean and var.
void batch_norm(const GradArgs& args, float epsilon, const std::string& name);

// Softmax / LogSoftmax over `len` values at stride `inner` (the forward's outer/len/inner),
// from the forward output.
void softmax(const GradArgs& args, bool log, int64_t outer, int64_t len, int64_t inner, const std::string& name);

// dpl.FakeQuantize (x, scale, zero_point): straight-through for x inside the integer range
// (dL/dy passes), zero outside; LSQ for the scale: dy * (round(x/s) - x/s) inside, dy * (q_lo -
// zp) or dy * (q_hi - zp) where x clamps; no gradient for the zero point. q_lo / q_hi: the zero
// point type's range narrowed to [code_lo, code_hi] (the op's qmin / qmax attributes).
void fake_quantize(const GradArgs& args, const std::string& name, double code_lo, double code_hi);

// MaxPool (is_max) or AveragePool over the windows of `axes`; the gradient of MaxPool goes
// to the first maximum of each window, as the forward picks it.
void pool(const GradArgs& args, const std::vector<pool::Axis1D>& axes, bool is_max, const std::string& name);
// GlobalAveragePool: dL/dy / (number of spatial positions), broadcast.
void global_average_pool(const GradArgs& args);
// GlobalMaxPool: dL/dy to the first maximum of each (n, c) plane, zero elsewhere.
void global_max_pool(const GradArgs& args);

// Resize with the forward's per-axis tables: every mode is a linear map of X, applied here
// transposed, one axis at a time; extrapolated outputs pass no gradient.
void resize(const GradArgs& args, const std::vector<resize::AxisTable>& ax, const std::string& name);

// Clip with bounds [lo, hi]: dL/dx where lo <= x <= hi; dL/dmin and dL/dmax (inputs 1 and 2,
// opset 11+) sum dL/dy where x is clamped to them.
void clip(const GradArgs& args, float lo, float hi);

}  // namespace dpl::grad
