// The loops of Resize that run through the per-axis tables (resize_tables.h). Nearest is
// a gather, copying whole output rows/planes when consecutive outputs read the same input;
// linear and cubic are separable: one 1-D pass per resized axis, last axis first, the outer
// passes blending whole contiguous rows. Axes before `first` are not resized: they become
// `slices` independent slices run in parallel.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/ops/resize_tables.h"

namespace dpl::resize {

// Nearest on elements of sizeof(U) bytes (the values are only copied): U is uint8_t,
// uint16_t, uint32_t or uint64_t; `ext` is the extrapolation value's bytes.
template <typename U>
void resize_nearest(const std::vector<AxisTable>& ax, int first, const void* xv, void* yv, int64_t slices, U ext);

// Linear or cubic, T float or double.
template <typename T>
void resize_separable(const std::vector<AxisTable>& ax, int first, const T* x, T* y, int64_t slices, T ext);

// Nearest on a channels-last tensor (runtime/channels_last.h) whose axes 0 and 1 (N, C)
// are not resized: memory [N, spatial..., C] in and out, elements of `elem` bytes; an
// output position outside the crop gets `ext` (one element's bytes) in every channel.
void nearest_channels_last(const std::vector<AxisTable>& ax, const void* x, void* y, int64_t channels, size_t elem,
                           const void* ext);

}  // namespace dpl::resize
