// Searched weight ranges (see weight_range_search.h).
#include "calib/weight_range_search.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "graph/node_attrs.h"
#include "runtime/parallel.h"
#include "util/error.h"

namespace dpl {

WeightRangeAlgo parse_weight_range_algo(const std::string& name) {
  if (name == "minmax") return WeightRangeAlgo::MinMax;
  if (name == "mse") return WeightRangeAlgo::Mse;
  if (name == "output") return WeightRangeAlgo::Output;
  fail("unknown weight range algorithm '{}' (expected minmax, mse or output)", name);
}

void check_finite_weight(const std::string& name, const Tensor& w) {
  const float* d = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i)
    DPL_CHECK(std::isfinite(d[i]), "weight '{}' holds a NaN or infinite value (element {}): it cannot be quantized",
              name, i);
}

namespace {

// The range of all channels together.
Range extent(const ChannelRanges& r) {
  Range all{r.lo[0], r.hi[0]};
  for (size_t c = 1; c < r.lo.size(); ++c) all.lo = std::min(all.lo, r.lo[c]), all.hi = std::max(all.hi, r.hi[c]);
  return all;
}

// Each channel's range clamped to one clip for the tensor: the per-channel file form whose
// reduction (the QDQ builder's) gives back the clip.
ChannelRanges clamped(ChannelRanges r, const calib::LpClip& clip) {
  for (size_t c = 0; c < r.lo.size(); ++c) {
    r.lo[c] = std::min(std::max(r.lo[c], clip.lo), clip.hi);
    r.hi[c] = std::max(std::min(r.hi[c], clip.hi), r.lo[c]);
  }
  return r;
}

// The flat indices of each channel's elements along `axis` (-1: one channel holding all).
std::vector<std::vector<int64_t>> channel_elements(const Tensor& w, int axis) {
  const int64_t channels = axis < 0 ? 1 : w.dim(axis);
  int64_t inner = 1;
  for (int k = axis + 1; axis >= 0 && k < w.rank(); ++k) inner *= w.dim(k);
  std::vector<std::vector<int64_t>> idx(static_cast<size_t>(channels));
  for (int64_t j = 0; j < w.numel(); ++j) idx[static_cast<size_t>((j / inner) % channels)].push_back(j);
  return idx;
}

// The gain xi = <w, w> / <w, Q(w)> that makes the error xi Q(w) - w uncorrelated with w
// (docs/calibration.md, "Gain correction"); 1 where Q(w) is orthogonal to w or opposite.
double unbiasing_gain(double ww, double wd) {
  const double xi = wd > 0 ? ww / wd : 1.0;
  return std::isfinite(xi) ? xi : 1.0;
}

struct ScoredClip {
  double error = 0, gain = 1;
};

}  // namespace

ChannelRanges searched_weight_ranges(const std::string& name, const Tensor& w, int axis, const TensorGrid& grid,
                                     calib::LpSearch search, std::vector<float>* gain) {
  check_finite_weight(name, w);
  const ChannelRanges mm = channel_ranges(w, axis);
  search.bits = grid.bits;
  search.symmetric = grid.symmetric;
  const float* d = w.data<float>();
  const bool per_channel = grid.per_channel && axis >= 0;
  if (!gain && !per_channel) {
    // One clip for the tensor, each channel's min/max clamped to it.
    const Range all = extent(mm);
    return clamped(mm, calib::search_lp_clip(d, w.numel(), all.lo, all.hi, search));
  }
  // Each channel's values gathered (the channel axis need not be the first); channels are
  // independent searches.
  const auto idx = channel_elements(w, per_channel ? axis : -1);
  ChannelRanges r = mm;
  if (gain) gain->assign(mm.lo.size(), 1.0f);
  std::vector<calib::LpClip> clips(idx.size());
  std::vector<double> xi(idx.size(), 1.0);
  parallel_for(
      static_cast<int64_t>(idx.size()),
      [&](int64_t c0, int64_t c1) {
        std::vector<float> values, deq;
        for (auto c = static_cast<size_t>(c0); c < static_cast<size_t>(c1); ++c) {
          values.resize(idx[c].size());
          for (size_t i = 0; i < values.size(); ++i) values[i] = d[idx[c][i]];
          const int64_t n = static_cast<int64_t>(values.size());
          const Range all = per_channel ? Range{mm.lo[c], mm.hi[c]} : extent(mm);
          if (!gain) {
            clips[c] = calib::search_lp_clip(values.data(), n, all.lo, all.hi, search);
            continue;
          }
          double ww = 0;
          for (float v : values) ww += static_cast<double>(v) * v;
          deq.resize(values.size());
          // The Lp error after the gain, in float arithmetic in the hot loop as lp_error.
          auto score = [&](double l, double hh) {
            const auto q = calib::GridQuantizer::make(l, hh, search.bits, search.symmetric);
            q.apply(values.data(), deq.data(), n);
            double wd = 0;
            for (int64_t i = 0; i < n; ++i) wd += static_cast<double>(values[i]) * deq[i];
            const double g = unbiasing_gain(ww, wd);
            const float gf = static_cast<float>(g), p = static_cast<float>(search.p);
            double e = 0;
            for (int64_t i = 0; i < n; ++i) {
              const float err = std::fabs(gf * deq[i] - values[i]);
              if (err > 0) e += std::pow(err, p);
            }
            return ScoredClip{e / static_cast<double>(std::max<int64_t>(1, n)), g};
          };
          clips[c] = calib::search_clip(all.lo, all.hi, search, [&](double l, double hh) { return score(l, hh).error; });
          xi[c] = score(clips[c].lo, clips[c].hi).gain;
        }
      },
      1);
  if (!per_channel) {
    r = clamped(mm, clips[0]);
    if (gain) gain->assign(mm.lo.size(), static_cast<float>(xi[0]));
    return r;
  }
  for (size_t c = 0; c < idx.size(); ++c) {
    r.lo[c] = clips[c].lo;
    r.hi[c] = clips[c].hi;
    if (gain) (*gain)[c] = static_cast<float>(xi[c]);
  }
  return r;
}

void apply_weight_gain(Tensor& w, int axis, const TensorGrid& grid, ChannelRanges& r, const std::vector<float>& gain) {
  DPL_CHECK(gain.size() == r.lo.size() && r.hi.size() == r.lo.size(), "{} gains for {} weight ranges", gain.size(),
            r.lo.size());
  const auto idx = channel_elements(w, r.lo.size() == 1 ? -1 : axis);
  DPL_CHECK(idx.size() == r.lo.size(), "{} weight ranges for {} channels", r.lo.size(), idx.size());
  // A per-tensor grid quantizes every channel on the reduction of the ranges (the QDQ builder's).
  const Range all = extent(r);
  float* d = w.data<float>();
  for (size_t c = 0; c < idx.size(); ++c) {
    const double xi = gain[c];
    const Range rc = grid.per_channel ? Range{r.lo[c], r.hi[c]} : all;
    const auto q = calib::GridQuantizer::make(rc.lo, rc.hi, grid.bits, grid.symmetric);
    for (int64_t j : idx[c]) d[j] = static_cast<float>(xi * q.apply(d[j]));
  }
  for (size_t c = 0; c < idx.size(); ++c) {
    r.lo[c] = static_cast<float>(r.lo[c] * static_cast<double>(gain[c]));
    r.hi[c] = static_cast<float>(r.hi[c] * static_cast<double>(gain[c]));
  }
}

std::optional<int> layer_input_channel_axis(const onnx::NodeProto& node) {
  const std::string& op = node.op_type();
  if (op == "Conv" || op == "ConvTranspose") return 1;
  if (op == "Gemm") return attr_int(node, "transA", 0) != 0 ? 0 : 1;
  if (op == "MatMul") return -1;
  return std::nullopt;
}

std::vector<int32_t> weight_input_channels(const onnx::NodeProto& node, const Tensor& w, int64_t in_channels) {
  const std::string& op = node.op_type();
  const int r = w.rank();
  std::vector<int32_t> ic;
  if (in_channels <= 0 || in_channels > std::numeric_limits<int32_t>::max()) return ic;
  // The weight as [outer, n, inner] with the input channel index a function of (outer, n).
  auto fill = [&](int axis, auto channel_of) {
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; ++k) outer *= w.dim(k);
    for (int k = axis + 1; k < r; ++k) inner *= w.dim(k);
    const int64_t n = w.dim(axis);
    ic.resize(static_cast<size_t>(w.numel()));
    size_t j = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < n; ++c) std::fill_n(ic.begin() + j, inner, channel_of(o, c)), j += inner;
  };
  if (op == "Conv" && r >= 3) {
    // [M, C/group, k...]: output channel m belongs to group m / (M / group).
    const int64_t m = w.dim(0), per_group = w.dim(1);
    if (per_group <= 0 || in_channels % per_group) return ic;
    const int64_t groups = in_channels / per_group;
    if (m % groups) return ic;
    const int64_t out_per_group = m / groups;
    fill(1, [&](int64_t o, int64_t c) { return static_cast<int32_t>(o / out_per_group * per_group + c); });
  } else if (op == "ConvTranspose" && r >= 3) {
    if (w.dim(0) != in_channels) return ic;
    fill(0, [](int64_t, int64_t c) { return static_cast<int32_t>(c); });
  } else if (op == "Gemm" && r == 2) {
    const int axis = attr_int(node, "transB", 0) != 0 ? 1 : 0;
    if (w.dim(axis) != in_channels) return ic;
    fill(axis, [](int64_t, int64_t c) { return static_cast<int32_t>(c); });
  } else if (op == "MatMul" && r >= 2) {
    if (w.dim(r - 2) != in_channels) return ic;
    fill(r - 2, [](int64_t, int64_t c) { return static_cast<int32_t>(c); });
  }
  return ic;
}

namespace {

// v^T M v for values v (one per element of `idx`, in order) standing in for the weights at
// `idx`: the expected square of what they add to the layer's output, with the input's
// second-moment matrix M when there is one (each element a distinct input channel), else
// sum_j v_j^2 var_k(j) + (sum_j v_j mean_k(j))^2.
double output_quad(const std::vector<double>& v, const std::vector<int64_t>& idx,
                   const std::vector<int32_t>& input_channel, const ChannelMoments& in) {
  if (!in.autocorr.empty()) {
    // A convolution's output channel: windows of kh x kw taps, one per input channel, in
    // order. Within a window the taps co-vary as the input's autocorrelation R says; across
    // input channels only through the means: sum_c (v_c^T R_c v_c - m_c^2 S_c^2) + (sum_c m_c S_c)^2
    // with S_c the window's sum.
    const auto& l = in.lattice;
    const int64_t T = l.kh * l.kw, A = 2 * l.kh - 1, B = 2 * l.kw - 1;
    double within = 0, mean_sum = 0;
    for (size_t b0 = 0; b0 + static_cast<size_t>(T) <= idx.size(); b0 += static_cast<size_t>(T)) {
      const int32_t c = input_channel[static_cast<size_t>(idx[b0])];
      const double* e = v.data() + b0;
      double S = 0;
      for (int64_t t = 0; t < T; ++t) S += e[t];
      const double* R = in.autocorr.data() + static_cast<size_t>(c) * static_cast<size_t>(A * B);
      double Q = 0;
      for (int64_t p = 0; p < T; ++p) {
        if (e[p] == 0) continue;
        const int64_t ip = p / l.kw, jp = p % l.kw;
        double r = 0;
        for (int64_t t = 0; t < T; ++t) r += e[t] * R[(t / l.kw - ip + l.kh - 1) * B + (t % l.kw - jp + l.kw - 1)];
        Q += e[p] * r;
      }
      within += Q - in.mean[c] * in.mean[c] * S * S;
      mean_sum += in.mean[c] * S;
    }
    return within + mean_sum * mean_sum;
  }
  if (!in.second.empty()) {
    const size_t K = in.mean.size();
    thread_local std::vector<double> e;
    e.assign(K, 0.0);
    for (size_t i = 0; i < idx.size(); ++i) e[static_cast<size_t>(input_channel[static_cast<size_t>(idx[i])])] = v[i];
    double sum = 0;
    for (size_t i = 0; i < K; ++i) {
      if (e[i] == 0) continue;
      const double* row = in.second.data() + i * K;
      double r = 0;
      for (size_t k = 0; k < K; ++k) r += row[k] * e[k];
      sum += e[i] * r;
    }
    return sum;
  }
  double var_part = 0, mean_part = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    const int32_t k = input_channel[static_cast<size_t>(idx[i])];
    var_part += v[i] * v[i] * in.var[k];
    mean_part += v[i] * in.mean[k];
  }
  return var_part + mean_part * mean_part;
}

// h = "M w" for one output channel's weights w (at `idx`, in order): the vector with
// w^T M v = sum_i v_i h_i for every v, in each of output_quad's three forms, so that a
// candidate's w^T M e costs one pass instead of a second quadratic form (gain correction).
std::vector<double> output_gradient(const std::vector<double>& w, const std::vector<int64_t>& idx,
                                    const std::vector<int32_t>& input_channel, const ChannelMoments& in) {
  std::vector<double> h(w.size(), 0.0);
  auto k_of = [&](size_t i) { return static_cast<size_t>(input_channel[static_cast<size_t>(idx[i])]); };
  if (!in.autocorr.empty()) {
    // sum_c (v_c^T R_c w_c - m_c^2 S_c(v) S_c(w)) + (sum_c m_c S_c(v)) (sum_c m_c S_c(w)).
    const auto& l = in.lattice;
    const size_t T = static_cast<size_t>(l.kh * l.kw);
    const int64_t B = 2 * l.kw - 1;
    double ms = 0;
    for (size_t b0 = 0; b0 + T <= w.size(); b0 += T) {
      double S = 0;
      for (size_t t = 0; t < T; ++t) S += w[b0 + t];
      ms += in.mean[k_of(b0)] * S;
    }
    for (size_t b0 = 0; b0 + T <= w.size(); b0 += T) {
      const size_t c = k_of(b0);
      const double* R = in.autocorr.data() + c * static_cast<size_t>((2 * l.kh - 1) * B);
      double S = 0;
      for (size_t t = 0; t < T; ++t) S += w[b0 + t];
      for (size_t p = 0; p < T; ++p) {
        const int64_t ip = static_cast<int64_t>(p) / l.kw, jp = static_cast<int64_t>(p) % l.kw;
        double r = 0;
        for (size_t t = 0; t < T; ++t)
          r += w[b0 + t] *
               R[(static_cast<int64_t>(t) / l.kw - ip + l.kh - 1) * B + (static_cast<int64_t>(t) % l.kw - jp + l.kw - 1)];
        h[b0 + p] = r - in.mean[c] * in.mean[c] * S + in.mean[c] * ms;
      }
    }
    return h;
  }
  if (!in.second.empty()) {
    const size_t K = in.mean.size();
    std::vector<double> wk(K, 0.0);
    for (size_t i = 0; i < w.size(); ++i) wk[k_of(i)] = w[i];
    for (size_t i = 0; i < w.size(); ++i) {
      const double* row = in.second.data() + k_of(i) * K;
      double r = 0;
      for (size_t k = 0; k < K; ++k) r += row[k] * wk[k];
      h[i] = r;
    }
    return h;
  }
  double sw = 0;
  for (size_t i = 0; i < w.size(); ++i) sw += w[i] * in.mean[k_of(i)];
  for (size_t i = 0; i < w.size(); ++i) h[i] = w[i] * in.var[k_of(i)] + in.mean[k_of(i)] * sw;
  return h;
}

// For quantizer `q` on the weights `w` at `idx`: e^T M e of the error e = Q(w) - w, and
// w^T M e = sum_i e_i h_i (h: output_gradient of the weights; empty: not wanted).
struct OutputQuads {
  double ee = 0, we = 0;
};
OutputQuads output_quads(const calib::GridQuantizer& q, const float* w, const std::vector<int64_t>& idx,
                         const std::vector<int32_t>& input_channel, const ChannelMoments& in,
                         const std::vector<double>& h) {
  thread_local std::vector<double> e;
  e.resize(idx.size());
  double we = 0;
  for (size_t i = 0; i < idx.size(); ++i) e[i] = q.apply(w[idx[i]]) - w[idx[i]];
  if (!h.empty())
    for (size_t i = 0; i < idx.size(); ++i) we += e[i] * h[i];
  return {output_quad(e, idx, input_channel, in), we};
}

// The error to score a clip by: e^T M e, or with `gain` the error after the unbiasing gain,
// xi^2 d^T M d - w^T M w with xi = w^T M w / w^T M d for d = w + e: w^T M d = ww + we,
// d^T M d = ww + 2 we + ee (docs/calibration.md, "Gain correction").
ScoredClip output_score(double ww, const OutputQuads& o, bool gain) {
  if (!gain) return {o.ee, 1.0};
  const double xi = unbiasing_gain(ww, ww + o.we);
  return {xi == 1.0 ? o.ee : std::max(0.0, xi * xi * (ww + 2 * o.we + o.ee) - ww), xi};
}

}  // namespace

ChannelRanges output_aware_weight_ranges(const std::string& name, const Tensor& w, int axis, const TensorGrid& grid,
                                         const std::vector<int32_t>& input_channel, const ChannelMoments& in,
                                         calib::LpSearch search, std::vector<float>* gain) {
  check_finite_weight(name, w);
  DPL_CHECK(static_cast<int64_t>(input_channel.size()) == w.numel(),
            "weight '{}': {} input channel indices for {} elements", name, input_channel.size(), w.numel());
  for (int32_t k : input_channel)
    DPL_CHECK(k >= 0 && static_cast<size_t>(k) < in.mean.size() && in.var.size() == in.mean.size(),
              "weight '{}' multiplies input channel {}, the input has {}", name, k, in.mean.size());
  const bool full = !in.second.empty();
  DPL_CHECK(!full || (w.rank() == 2 && in.second.size() == in.mean.size() * in.mean.size()),
            "weight '{}': second moments of its input only for a 2-D weight", name);
  const auto& l = in.lattice;
  DPL_CHECK(in.autocorr.empty() ||
                (w.rank() == 4 && axis == 0 && w.dim(2) == l.kh && w.dim(3) == l.kw &&
                 in.autocorr.size() == in.mean.size() * static_cast<size_t>((2 * l.kh - 1) * (2 * l.kw - 1))),
            "weight '{}': window statistics of its input only for a 2-D convolution weight of its kernel size", name);
  const ChannelRanges mm = channel_ranges(w, axis);
  search.bits = grid.bits;
  search.symmetric = grid.symmetric;
  const float* d = w.data<float>();
  // The flat indices of each output channel's elements, their own w^T M w and, for the
  // gain, their h = M w.
  const auto idx = channel_elements(w, axis);
  const size_t channels = idx.size();
  std::vector<double> own(channels);
  std::vector<std::vector<double>> h(channels);
  // Only the gain reads them (the plain score is e^T M e alone).
  if (gain) {
    parallel_for(
        static_cast<int64_t>(channels),
        [&](int64_t c0, int64_t c1) {
          for (auto c = static_cast<size_t>(c0); c < static_cast<size_t>(c1); ++c) {
            std::vector<double> v(idx[c].size());
            for (size_t i = 0; i < v.size(); ++i) v[i] = d[idx[c][i]];
            own[c] = output_quad(v, idx[c], input_channel, in);
            h[c] = output_gradient(v, idx[c], input_channel, in);
          }
        },
        1);
  }
  if (gain) gain->assign(mm.lo.size(), 1.0f);
  if (!grid.per_channel || axis < 0) {
    // One clip for the tensor: the channels' errors add up (each is its own output); with
    // the gain, one gain for the tensor too (one scale), from the sums over the channels.
    double ww = 0;
    for (double o : own) ww += o;
    auto score = [&](double lo, double hi) {
      const auto q = calib::GridQuantizer::make(lo, hi, search.bits, search.symmetric);
      OutputQuads sum;
      for (size_t c = 0; c < channels; ++c) {
        const OutputQuads o = output_quads(q, d, idx[c], input_channel, in, h[c]);
        sum.ee += o.ee;
        sum.we += o.we;
      }
      return output_score(ww, sum, gain != nullptr);
    };
    const Range all = extent(mm);
    const auto clip = calib::search_clip(all.lo, all.hi, search, [&](double lo, double hi) { return score(lo, hi).error; });
    if (gain) gain->assign(mm.lo.size(), static_cast<float>(score(clip.lo, clip.hi).gain));
    return clamped(mm, clip);
  }
  ChannelRanges r;
  r.lo.resize(channels);
  r.hi.resize(channels);
  // Channels are independent searches (thread-local scratch in the scores).
  parallel_for(
      static_cast<int64_t>(channels),
      [&](int64_t c0, int64_t c1) {
        for (auto c = static_cast<size_t>(c0); c < static_cast<size_t>(c1); ++c) {
          auto score = [&](double lo, double hi) {
            const auto q = calib::GridQuantizer::make(lo, hi, search.bits, search.symmetric);
            return output_score(own[c], output_quads(q, d, idx[c], input_channel, in, h[c]), gain != nullptr);
          };
          const auto clip =
              calib::search_clip(mm.lo[c], mm.hi[c], search, [&](double lo, double hi) { return score(lo, hi).error; });
          r.lo[c] = clip.lo;
          r.hi[c] = clip.hi;
          if (gain) (*gain)[c] = static_cast<float>(score(clip.lo, clip.hi).gain);
        }
      },
      1);
  return r;
}

}  // namespace dpl
