// Resize's per-axis tables: for each output position of a resized axis, the input
// positions it reads (1 tap nearest, 2 linear, 4 cubic) and their weights, computed in
// double from the coordinate transformation mode; or a flag for "outside the crop"
// (tf_crop_and_resize: extrapolation_value). Shared by resize.cpp (the op) and
// resize_kernels.cpp (the loops that run through the tables).
#pragma once
#include <cstdint>
#include <vector>

namespace dpl::resize {

enum class Mode { Nearest, Linear, Cubic };
enum class Coord { HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNN, TfCropAndResize };
// Simple: Upsample and Resize-10 (truncate when upsampling, ceil when downsampling).
enum class Round { PreferFloor, PreferCeil, Floor, Ceil, Simple };

struct ResizeAttrs {
  Mode mode = Mode::Nearest;
  Coord coord = Coord::HalfPixel;
  Round round = Round::PreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  float extrapolation = 0.f;
};

struct AxisTable {
  int64_t in = 0, out = 0;
  int taps = 1;
  std::vector<int64_t> idx;   // out * taps input positions, clamped to [0, in)
  std::vector<double> w;      // out * taps weights
  std::vector<char> outside;  // per output: extrapolation value instead
  bool identity = false;
  int64_t repeat = 0;         // > 0: nearest with idx[j] == j / repeat (integer upsampling)
  bool any_outside = false;
  // Integer upsampling (out = in * period): for i in [per_lo, per_hi), output i*period+p
  // reads input i + per_d[t*period+p] with weight per_w[t*period+p] for every phase p and
  // tap t (no clamping there), so rows run as phase-unrolled vector loops.
  int64_t period = 0, per_lo = 0, per_hi = 0;
  std::vector<int64_t> per_d;
  std::vector<double> per_w;
  std::vector<int32_t> idx_tm;  // idx in tap-major order ([tap][out]), 32-bit: vector gathers
};

// The table of one axis of `in` elements resized to `out`; scale and len_out as the
// coordinate modes define them, [r0, r1] the axis' roi (tf_crop_and_resize).
AxisTable build_axis(const ResizeAttrs& a, int64_t in, int64_t out, double scale, double len_out, double r0,
                     double r1);

}  // namespace dpl::resize
