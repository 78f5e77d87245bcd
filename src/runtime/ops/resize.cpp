// Resize (opset 10, 11, 13) and Upsample (opset 7, 9).
//
// Every axis gets a table, built once per call: for each output position, the input
// positions it reads (1 tap nearest, 2 linear, 4 cubic) and their weights, computed in
// double from the coordinate transformation mode; or a flag for "outside the crop"
// (tf_crop_and_resize: extrapolation_value). The leading axes that are not resized
// (usually N and C) become independent slices run in parallel. Nearest is a gather
// through the tables, copying whole output rows/planes when consecutive outputs read the
// same input; linear and cubic are separable: one 1-D pass per resized axis, last axis
// first, the outer passes blending whole contiguous rows.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/op_registry.h"
#include "runtime/parallel.h"

namespace dpl {
namespace {

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

double source_coord(const ResizeAttrs& a, int64_t o, int64_t in, double scale, double len_out, double r0, double r1,
                    bool& outside) {
  const double x = static_cast<double>(o);
  outside = false;
  switch (a.coord) {
    case Coord::HalfPixel: return (x + 0.5) / scale - 0.5;
    case Coord::PytorchHalfPixel: return len_out > 1.0 ? (x + 0.5) / scale - 0.5 : 0.0;
    case Coord::AlignCorners: return len_out == 1.0 ? 0.0 : x * static_cast<double>(in - 1) / (len_out - 1.0);
    case Coord::Asymmetric: return x / scale;
    case Coord::TfHalfPixelForNN: return (x + 0.5) / scale;
    case Coord::TfCropAndResize: {
      const double span = static_cast<double>(in - 1);
      const double v = len_out > 1.0 ? r0 * span + x * (r1 - r0) * span / (len_out - 1.0) : 0.5 * (r0 + r1) * span;
      outside = v < 0.0 || v > span;
      return v;
    }
  }
  return 0.0;
}

int64_t nearest_index(Round r, double x, bool downsampling) {
  const double fl = std::floor(x);
  if (x == fl) return static_cast<int64_t>(fl);
  const double frac = x - fl;
  switch (r) {
    case Round::PreferFloor: return static_cast<int64_t>(frac <= 0.5 ? fl : fl + 1);
    case Round::PreferCeil: return static_cast<int64_t>(frac < 0.5 ? fl : fl + 1);
    case Round::Floor: return static_cast<int64_t>(fl);
    case Round::Ceil: return static_cast<int64_t>(fl + 1);
    case Round::Simple: return downsampling ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(x);
  }
  return 0;
}

void cubic_weights(double r, double A, double* c) {
  const double r1 = r + 1, r2 = 1 - r, r3 = 2 - r;
  c[0] = ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A;
  c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
  c[2] = ((A + 2) * r2 - (A + 3)) * r2 * r2 + 1;
  c[3] = ((A * r3 - 5 * A) * r3 + 8 * A) * r3 - 4 * A;
}

// Detects the periodic interior of an integer upsampling table (see AxisTable::period).
void find_period(AxisTable& t) {
  if (t.in < 4 || t.out % t.in != 0) return;
  const int64_t k = t.out / t.in;
  if (k != 2 && k != 3 && k != 4 && k != 8) return;
  const int K = t.taps;
  const int64_t mid = t.in / 2;
  std::vector<int64_t> d(K * k);
  std::vector<double> w(K * k);
  for (int64_t p = 0; p < k; ++p)
    for (int q = 0; q < K; ++q) {
      d[q * k + p] = t.idx[(mid * k + p) * K + q] - mid;
      w[q * k + p] = t.w[(mid * k + p) * K + q];
    }
  auto matches = [&](int64_t i) {
    for (int64_t p = 0; p < k; ++p) {
      const int64_t o = i * k + p;
      if (t.outside[o]) return false;
      for (int q = 0; q < K; ++q) {
        const int64_t src = i + d[q * k + p];
        // Unclamped position and (up to rounding) the same weight.
        if (src < 0 || src >= t.in || t.idx[o * K + q] != src) return false;
        if (std::fabs(t.w[o * K + q] - w[q * k + p]) > 1e-9) return false;
      }
    }
    return true;
  };
  if (!matches(mid)) return;
  int64_t lo = mid, hi = mid + 1;
  while (lo > 0 && matches(lo - 1)) --lo;
  while (hi < t.in && matches(hi)) ++hi;
  if (hi - lo < 2) return;
  t.period = k;
  t.per_lo = lo;
  t.per_hi = hi;
  t.per_d = std::move(d);
  t.per_w = std::move(w);
}

AxisTable build_axis(const ResizeAttrs& a, int64_t in, int64_t out, double scale, double len_out, double r0,
                     double r1) {
  AxisTable t;
  t.in = in;
  t.out = out;
  t.taps = a.mode == Mode::Nearest ? 1 : a.mode == Mode::Linear ? 2 : 4;
  t.idx.assign(out * t.taps, 0);
  t.w.assign(out * t.taps, 0.0);
  t.outside.assign(out, 0);
  auto clampi = [in](int64_t i) { return i < 0 ? int64_t{0} : i >= in ? in - 1 : i; };
  for (int64_t o = 0; o < out; ++o) {
    bool outside = false;
    const double x = source_coord(a, o, in, scale, len_out, r0, r1, outside);
    t.outside[o] = outside;
    int64_t* ip = &t.idx[o * t.taps];
    double* wp = &t.w[o * t.taps];
    if (in == 0) continue;
    if (a.mode == Mode::Nearest) {
      ip[0] = clampi(nearest_index(a.round, x, scale < 1.0));
      wp[0] = 1.0;
    } else {
      const double fl = std::floor(x);
      const double r = x - fl;
      const int64_t x0 = static_cast<int64_t>(fl);
      if (a.mode == Mode::Linear) {
        ip[0] = clampi(x0);
        ip[1] = clampi(x0 + 1);
        wp[0] = 1.0 - r;
        wp[1] = r;
      } else {
        cubic_weights(r, a.cubic_a, wp);
        double sum = 0;
        for (int k = 0; k < 4; ++k) {
          const int64_t p = x0 - 1 + k;
          if (a.exclude_outside && (p < 0 || p >= in)) wp[k] = 0.0;
          sum += wp[k];
          ip[k] = clampi(p);
        }
        if (a.exclude_outside && sum != 0.0)
          for (int k = 0; k < 4; ++k) wp[k] /= sum;
      }
    }
  }
  // Identity: every output reads exactly its own position (weights at grid points are
  // exactly 0 and 1).
  t.identity = in == out;
  for (int64_t o = 0; o < out && t.identity; ++o) {
    double on = 0, off = 0;
    for (int k = 0; k < t.taps; ++k) (t.idx[o * t.taps + k] == o ? on : off) += std::fabs(t.w[o * t.taps + k]);
    t.identity = !t.outside[o] && on == 1.0 && off == 0.0;
  }
  if (a.mode == Mode::Nearest && in > 0 && out % in == 0 && out > in) {
    const int64_t k = out / in;
    bool rep = true;
    for (int64_t o = 0; o < out && rep; ++o) rep = !t.outside[o] && t.idx[o] == o / k;
    if (rep) t.repeat = k;
  }
  DPL_CHECK(in <= INT32_MAX, "Resize: axis of {} elements is too long", in);
  find_period(t);
  t.idx_tm.resize(t.idx.size());
  for (int64_t o = 0; o < out; ++o) {
    t.any_outside = t.any_outside || t.outside[o];
    for (int k = 0; k < t.taps; ++k) t.idx_tm[k * out + o] = static_cast<int32_t>(t.idx[o * t.taps + k]);
  }
  return t;
}

// ---- periodic interiors of integer upsampling -------------------------------------------

// y[i*P + p] = sum_t w[t][p] * x[i + d[t][p]] for i in [lo, hi): the phases unroll, the
// loop over i vectorizes (grouped stores).
template <int P, int K, typename T>
void periodic_row(const T* x, T* y, int64_t lo, int64_t hi, const int64_t* d, const T* w) {
  int64_t D[K][P];
  T W[K][P];
  for (int t = 0; t < K; ++t)
    for (int p = 0; p < P; ++p) D[t][p] = d[t * P + p], W[t][p] = w[t * P + p];
  for (int64_t i = lo; i < hi; ++i) {
    for (int p = 0; p < P; ++p) {
      T acc = W[0][p] * x[i + D[0][p]];
      for (int t = 1; t < K; ++t) acc += W[t][p] * x[i + D[t][p]];
      y[i * P + p] = acc;
    }
  }
}

template <int K, typename T>
void periodic_dispatch(int64_t P, const T* x, T* y, int64_t lo, int64_t hi, const int64_t* d, const T* w) {
  switch (P) {
    case 2: periodic_row<2, K, T>(x, y, lo, hi, d, w); break;
    case 3: periodic_row<3, K, T>(x, y, lo, hi, d, w); break;
    case 4: periodic_row<4, K, T>(x, y, lo, hi, d, w); break;
    default: periodic_row<8, K, T>(x, y, lo, hi, d, w); break;
  }
}

// Nearest: y[i*P + p] = x[i + d[p]].
template <int P, typename U>
void periodic_copy(const U* x, U* y, int64_t lo, int64_t hi, const int64_t* d) {
  int64_t D[P];
  for (int p = 0; p < P; ++p) D[p] = d[p];
  for (int64_t i = lo; i < hi; ++i)
    for (int p = 0; p < P; ++p) y[i * P + p] = x[i + D[p]];
}

// ---- nearest: a gather through the tables --------------------------------------------

template <typename U>
struct NearestCtx {
  const std::vector<AxisTable>* ax;
  int last;
  std::vector<int64_t> in_stride, out_block;  // per axis, within one slice
  U ext;

  void run(int d, const U* s, U* o) const {
    const AxisTable& t = (*ax)[d];
    if (d == last) {
      if (t.repeat > 0) {
        const int64_t k = t.repeat;
        if (k == 2) {
          for (int64_t i = 0; i < t.in; ++i) o[2 * i] = o[2 * i + 1] = s[i];
        } else {
          for (int64_t i = 0; i < t.in; ++i)
            for (int64_t j = 0; j < k; ++j) o[i * k + j] = s[i];
        }
        return;
      }
      const int32_t* ip = t.idx_tm.data();
      if (t.any_outside) {
        for (int64_t j = 0; j < t.out; ++j) o[j] = t.outside[j] ? ext : s[ip[j]];
      } else if (t.period > 0) {
        const int64_t a = t.per_lo * t.period, b = t.per_hi * t.period;
        for (int64_t j = 0; j < a; ++j) o[j] = s[ip[j]];
        for (int64_t j = b; j < t.out; ++j) o[j] = s[ip[j]];
        const int64_t* d = t.per_d.data();
        switch (t.period) {
          case 2: periodic_copy<2>(s, o, t.per_lo, t.per_hi, d); break;
          case 3: periodic_copy<3>(s, o, t.per_lo, t.per_hi, d); break;
          case 4: periodic_copy<4>(s, o, t.per_lo, t.per_hi, d); break;
          default: periodic_copy<8>(s, o, t.per_lo, t.per_hi, d); break;
        }
      } else {
        for (int64_t j = 0; j < t.out; ++j) o[j] = s[ip[j]];
      }
      return;
    }
    const int64_t ob = out_block[d];
    for (int64_t j = 0; j < t.out; ++j) {
      U* oj = o + j * ob;
      if (t.outside[j]) {
        std::fill_n(oj, ob, ext);
      } else if (j > 0 && !t.outside[j - 1] && t.idx[j] == t.idx[j - 1]) {
        std::memcpy(oj, oj - ob, ob * sizeof(U));
      } else {
        run(d + 1, s + t.idx[j] * in_stride[d], oj);
      }
    }
  }
};

template <typename U>
void resize_nearest(const std::vector<AxisTable>& ax, int first, const void* xv, void* yv, int64_t slices,
                    U ext) {
  const int r = static_cast<int>(ax.size());
  NearestCtx<U> c;
  c.ax = &ax;
  c.last = r - 1;
  c.ext = ext;
  c.in_stride.assign(r, 1);
  c.out_block.assign(r, 1);
  for (int d = r - 2; d >= first; --d) {
    c.in_stride[d] = c.in_stride[d + 1] * ax[d + 1].in;
    c.out_block[d] = c.out_block[d + 1] * ax[d + 1].out;
  }
  const int64_t in_slice = c.in_stride[first] * ax[first].in, out_slice = c.out_block[first] * ax[first].out;
  const U* x = static_cast<const U*>(xv);
  U* y = static_cast<U*>(yv);
  parallel_for(
      slices,
      [&](int64_t b, int64_t e) {
        for (int64_t s = b; s < e; ++s) c.run(first, x + s * in_slice, y + s * out_slice);
      },
      std::max<int64_t>(1, 65536 / std::max<int64_t>(1, out_slice)));
}

// ---- linear / cubic: separable passes ----------------------------------------------------

// Along the contiguous axis: rows of t.in -> rows of t.out. `w` is tap-major like
// t.idx_tm; `pw` is t.per_w in the element type.
template <typename T>
void pass_last(const AxisTable& t, const std::vector<T>& w, const std::vector<T>& pw, const T* src, T* dst,
               int64_t rows, T ext) {
  const int K = t.taps;
  const int64_t out = t.out;
  const int32_t* i0 = t.idx_tm.data();
  const T* w0 = w.data();
  // Outputs [a, b) are the periodic interior (none when a == b).
  const int64_t a = t.period > 0 ? t.per_lo * t.period : 0, b = t.period > 0 ? t.per_hi * t.period : 0;
  auto gather = [&](const T* x, T* y, int64_t lo, int64_t hi) {
    if (K == 2) {
      const int32_t* i1 = i0 + out;
      const T* w1 = w0 + out;
      for (int64_t o = lo; o < hi; ++o) y[o] = w0[o] * x[i0[o]] + w1[o] * x[i1[o]];
    } else {
      for (int64_t o = lo; o < hi; ++o) y[o] = w0[o] * x[i0[o]];
      for (int k = 1; k < K; ++k) {
        const int32_t* ik = i0 + k * out;
        const T* wk = w0 + k * out;
        for (int64_t o = lo; o < hi; ++o) y[o] += wk[o] * x[ik[o]];
      }
    }
  };
  for (int64_t r = 0; r < rows; ++r) {
    const T* x = src + r * t.in;
    T* y = dst + r * out;
    if (a < b) {
      gather(x, y, 0, a);
      gather(x, y, b, out);
      if (K == 2) periodic_dispatch<2, T>(t.period, x, y, t.per_lo, t.per_hi, t.per_d.data(), pw.data());
      else periodic_dispatch<4, T>(t.period, x, y, t.per_lo, t.per_hi, t.per_d.data(), pw.data());
    } else {
      gather(x, y, 0, out);
    }
    if (t.any_outside)
      for (int64_t o = 0; o < out; ++o)
        if (t.outside[o]) y[o] = ext;
  }
}

// Along an outer axis: [outer, t.in, inner] -> [outer, t.out, inner], blending whole rows.
template <typename T>
void pass_mid(const AxisTable& t, const std::vector<T>& w, const T* src, T* dst, int64_t outer, int64_t inner,
              T ext) {
  const int K = t.taps;
  for (int64_t q = 0; q < outer; ++q) {
    const T* x = src + q * t.in * inner;
    T* y = dst + q * t.out * inner;
    for (int64_t o = 0; o < t.out; ++o) {
      T* yo = y + o * inner;
      if (t.outside[o]) {
        std::fill_n(yo, inner, ext);
        continue;
      }
      const int64_t* ip = &t.idx[o * K];
      // Taps with non-zero weight (at grid points only one remains).
      const T* rows_[4];
      T ws[4];
      int n = 0;
      for (int k = 0; k < K; ++k) {
        const T wk = w[k * t.out + o];
        if (wk == T(0)) continue;
        rows_[n] = x + ip[k] * inner;
        ws[n++] = wk;
      }
      if (n == 0) {
        std::fill_n(yo, inner, T(0));
      } else if (n == 1 && ws[0] == T(1)) {
        std::memcpy(yo, rows_[0], inner * sizeof(T));
      } else if (n == 1) {
        const T a = ws[0];
        const T* r0 = rows_[0];
        for (int64_t i = 0; i < inner; ++i) yo[i] = a * r0[i];
      } else if (n >= 2) {
        const T a = ws[0], b = ws[1];
        const T *r0 = rows_[0], *r1 = rows_[1];
        for (int64_t i = 0; i < inner; ++i) yo[i] = a * r0[i] + b * r1[i];
        for (int k = 2; k < n; ++k) {
          const T c = ws[k];
          const T* rk = rows_[k];
          for (int64_t i = 0; i < inner; ++i) yo[i] += c * rk[i];
        }
      }
    }
  }
}

template <typename T>
void resize_separable(const std::vector<AxisTable>& ax, int first, const T* x, T* y, int64_t slices, T ext) {
  const int r = static_cast<int>(ax.size());
  struct Pass { int axis; int64_t outer, inner, size; };
  std::vector<Pass> passes;
  std::vector<int64_t> cur(r);
  for (int d = 0; d < r; ++d) cur[d] = ax[d].in;
  for (int d = r - 1; d >= first; --d) {
    if (ax[d].identity) continue;
    int64_t outer = 1, inner = 1;
    for (int j = first; j < d; ++j) outer *= cur[j];
    for (int j = d + 1; j < r; ++j) inner *= cur[j];
    cur[d] = ax[d].out;
    passes.push_back({d, outer, inner, outer * ax[d].out * inner});
  }
  int64_t in_slice = 1, out_slice = 1;
  for (int d = first; d < r; ++d) in_slice *= ax[d].in, out_slice *= ax[d].out;
  // Weights in the element type, tap-major ([tap][out]) like AxisTable::idx_tm.
  std::vector<std::vector<T>> weights, per_weights;
  for (const auto& t : ax) {
    std::vector<T> wt(t.w.size());
    for (int64_t o = 0; o < t.out; ++o)
      for (int k = 0; k < t.taps; ++k) wt[k * t.out + o] = static_cast<T>(t.w[o * t.taps + k]);
    weights.push_back(std::move(wt));
    per_weights.emplace_back(t.per_w.begin(), t.per_w.end());
  }
  int64_t buf = 0;
  for (size_t p = 0; p + 1 < passes.size(); ++p) buf = std::max(buf, passes[p].size);
  parallel_for(
      slices,
      [&](int64_t b, int64_t e) {
        std::vector<T> b0(buf), b1(buf);
        for (int64_t s = b; s < e; ++s) {
          const T* src = x + s * in_slice;
          for (size_t p = 0; p < passes.size(); ++p) {
            const Pass& ps = passes[p];
            T* dst = p + 1 == passes.size() ? y + s * out_slice : (p % 2 == 0 ? b0.data() : b1.data());
            if (ps.inner == 1)
              pass_last<T>(ax[ps.axis], weights[ps.axis], per_weights[ps.axis], src, dst, ps.outer, ext);
            else pass_mid<T>(ax[ps.axis], weights[ps.axis], src, dst, ps.outer, ps.inner, ext);
            src = dst;
          }
        }
      },
      std::max<int64_t>(1, 32768 / std::max<int64_t>(1, out_slice)));
}

class ResizeOp : public Op {
 public:
  void init(const NodeDesc& node) override {
    name_ = node.name;
    op_ = node.op_type;
    const Attributes& at = node.attrs;
    const std::string mode = at.get_string("mode", "nearest");
    if (mode == "nearest") a_.mode = Mode::Nearest;
    else if (mode == "linear" || mode == "bilinear") a_.mode = Mode::Linear;
    else if (mode == "cubic" || mode == "bicubic") a_.mode = Mode::Cubic;
    else fail("{} '{}': unknown mode '{}'", op_, name_, mode);
    legacy_ = op_ == "Upsample" || node.opset < 11;
    if (legacy_) {
      DPL_CHECK(a_.mode != Mode::Cubic, "{} '{}': mode cubic needs Resize opset 11 or later", op_, name_);
      a_.coord = Coord::Asymmetric;
      a_.round = Round::Simple;
      attr_scales_ = at.get_floats("scales");
      return;
    }
    const std::string ct = at.get_string("coordinate_transformation_mode", "half_pixel");
    if (ct == "half_pixel") a_.coord = Coord::HalfPixel;
    else if (ct == "pytorch_half_pixel") a_.coord = Coord::PytorchHalfPixel;
    else if (ct == "align_corners") a_.coord = Coord::AlignCorners;
    else if (ct == "asymmetric") a_.coord = Coord::Asymmetric;
    else if (ct == "tf_half_pixel_for_nn") a_.coord = Coord::TfHalfPixelForNN;
    else if (ct == "tf_crop_and_resize") a_.coord = Coord::TfCropAndResize;
    else fail("{} '{}': unknown coordinate_transformation_mode '{}'", op_, name_, ct);
    const std::string nm = at.get_string("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") a_.round = Round::PreferFloor;
    else if (nm == "round_prefer_ceil") a_.round = Round::PreferCeil;
    else if (nm == "floor") a_.round = Round::Floor;
    else if (nm == "ceil") a_.round = Round::Ceil;
    else fail("{} '{}': unknown nearest_mode '{}'", op_, name_, nm);
    a_.cubic_a = at.get_float("cubic_coeff_a", -0.75f);
    a_.exclude_outside = at.get_int("exclude_outside", 0) != 0;
    a_.extrapolation = at.get_float("extrapolation_value", 0.f);
    DPL_CHECK(at.get_int("antialias", 0) == 0, "{} '{}': antialias is not supported", op_, name_);
    DPL_CHECK(!at.has("axes"), "{} '{}': the axes attribute (opset 18) is not supported", op_, name_);
  }

  void forward(OpContext& ctx, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) override {
    const Tensor& x = *in[0];
    const int r = x.rank();
    auto input = [&](size_t i) -> const Tensor* { return i < in.size() && in[i] && in[i]->numel() > 0 ? in[i] : nullptr; };
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    std::vector<double> roi;
    if (legacy_) {
      if (const Tensor* s = input(1)) {
        for (int64_t i = 0; i < s->numel(); ++i) scales.push_back(static_cast<double>(static_cast<float>(s->at_f64(i))));
      } else {
        for (float f : attr_scales_) scales.push_back(f);
      }
      DPL_CHECK(!scales.empty(), "{} '{}': scales are required", op_, name_);
    } else {
      if (const Tensor* t = input(1)) roi = std::vector<double>(t->numel()), [&] {
          for (int64_t i = 0; i < t->numel(); ++i) roi[i] = t->at_f64(i);
        }();
      if (const Tensor* s = input(2)) {
        for (int64_t i = 0; i < s->numel(); ++i) scales.push_back(static_cast<double>(static_cast<float>(s->at_f64(i))));
      } else if (const Tensor* z = input(3)) {
        sizes = z->to_i64_vector();
        // Batch rule (as Reshape's): sizes folded at export time carry the exported batch
        // in dim 0. When the data's dim 0 is the batch actually fed, follow it.
        if (!sizes.empty() && r > 0 && ctx.actual_batch != ctx.declared_batch && sizes[0] == ctx.declared_batch &&
            x.shape()[0] == ctx.actual_batch)
          sizes[0] = ctx.actual_batch;
      } else {
        fail("{} '{}': one of scales or sizes must be given", op_, name_);
      }
    }
    if (!scales.empty()) {
      DPL_CHECK(static_cast<int>(scales.size()) == r, "{} '{}': {} scales for an input of rank {}", op_, name_,
                scales.size(), r);
      for (double s : scales) DPL_CHECK(s > 0, "{} '{}': scales must be positive", op_, name_);
    } else {
      DPL_CHECK(static_cast<int>(sizes.size()) == r, "{} '{}': {} sizes for an input of rank {}", op_, name_,
                sizes.size(), r);
      for (int64_t s : sizes) DPL_CHECK(s >= 0, "{} '{}': sizes must be non-negative", op_, name_);
    }
    if (a_.coord == Coord::TfCropAndResize) {
      if (roi.empty()) {
        roi.assign(2 * r, 0.0);
        for (int d = 0; d < r; ++d) roi[r + d] = 1.0;
      }
      DPL_CHECK(static_cast<int>(roi.size()) == 2 * r, "{} '{}': roi needs {} values, got {}", op_, name_, 2 * r,
                roi.size());
    }
    Shape ys(r);
    std::vector<AxisTable> ax(r);
    int first = r;
    for (int d = 0; d < r; ++d) {
      const int64_t n = x.shape()[d];
      double scale, len_out;
      if (!scales.empty()) {
        scale = scales[d];
        len_out = static_cast<double>(n) * scale;
        ys[d] = static_cast<int64_t>(std::floor(len_out));
      } else {
        ys[d] = sizes[d];
        scale = n > 0 ? static_cast<double>(sizes[d]) / static_cast<double>(n) : 1.0;
        len_out = static_cast<double>(sizes[d]);
      }
      const double r0 = roi.empty() ? 0.0 : roi[d], r1 = roi.empty() ? 1.0 : roi[r + d];
      ax[d] = build_axis(a_, n, ys[d], scale, len_out, r0, r1);
      if (!ax[d].identity && first == r) first = d;
    }
    out[0] = Tensor(x.dtype(), ys);
    if (out[0].numel() == 0) return;
    DPL_CHECK(x.numel() > 0, "{} '{}': cannot resize an empty input to a non-empty output", op_, name_);
    if (first == r) {
      std::memcpy(out[0].raw(), x.raw(), x.bytes());
      return;
    }
    int64_t slices = 1;
    for (int d = 0; d < first; ++d) slices *= ys[d];
    if (a_.mode == Mode::Nearest) {
      const double e = a_.extrapolation;
      dispatch_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T ext = static_cast<T>(e);
        // Gather by element size: the values are only copied.
        switch (sizeof(T)) {
          case 1: { uint8_t u; std::memcpy(&u, &ext, 1); resize_nearest<uint8_t>(ax, first, x.raw(), out[0].raw(), slices, u); break; }
          case 2: { uint16_t u; std::memcpy(&u, &ext, 2); resize_nearest<uint16_t>(ax, first, x.raw(), out[0].raw(), slices, u); break; }
          case 4: { uint32_t u; std::memcpy(&u, &ext, 4); resize_nearest<uint32_t>(ax, first, x.raw(), out[0].raw(), slices, u); break; }
          default: { uint64_t u; std::memcpy(&u, &ext, 8); resize_nearest<uint64_t>(ax, first, x.raw(), out[0].raw(), slices, u); break; }
        }
      });
    } else if (x.dtype() == DType::F32) {
      resize_separable<float>(ax, first, x.data<float>(), out[0].data<float>(), slices, a_.extrapolation);
    } else if (x.dtype() == DType::F64) {
      resize_separable<double>(ax, first, x.data<double>(), out[0].data<double>(), slices, a_.extrapolation);
    } else {
      fail("{} '{}': {} mode needs float or double input, got {}", op_, name_,
           a_.mode == Mode::Linear ? "linear" : "cubic", dtype_name(x.dtype()));
    }
  }

 private:
  std::string name_, op_;
  ResizeAttrs a_;
  bool legacy_ = false;
  std::vector<float> attr_scales_;
};

}  // namespace

DPL_REGISTER_OP("Resize", ResizeOp);
DPL_REGISTER_OP("Upsample", ResizeOp);

}  // namespace dpl
