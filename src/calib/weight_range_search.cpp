// Searched weight ranges (see weight_range_search.h).
#include "calib/weight_range_search.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "graph/node_attrs.h"
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
  if (!gain) {
    if (!per_channel) {
      // One clip for the tensor, each channel's min/max clamped to it.
      const Range all = extent(mm);
      return clamped(mm, calib::search_lp_clip(d, w.numel(), all.lo, all.hi, search));
    }
  }
  // Each channel's values gathered (the channel axis need not be the first).
  const auto idx = channel_elements(w, per_channel ? axis : -1);
  ChannelRanges r = mm;
  if (gain) gain->assign(mm.lo.size(), 1.0f);
  std::vector<float> values;
  for (size_t c = 0; c < idx.size(); ++c) {
    values.resize(idx[c].size());
    for (size_t i = 0; i < values.size(); ++i) values[i] = d[idx[c][i]];
    const int64_t n = static_cast<int64_t>(values.size());
    if (!gain) {
      const auto clip = calib::search_lp_clip(values.data(), n, mm.lo[c], mm.hi[c], search);
      r.lo[c] = clip.lo;
      r.hi[c] = clip.hi;
      continue;
    }
    const Range all = per_channel ? Range{mm.lo[c], mm.hi[c]} : extent(mm);
    double ww = 0;
    for (float v : values) ww += static_cast<double>(v) * v;
    auto score = [&](double l, double h) {
      const auto q = calib::GridQuantizer::make(l, h, search.bits, search.symmetric);
      double wd = 0;
      for (float v : values) wd += v * q.apply(v);
      const double xi = unbiasing_gain(ww, wd);
      double e = 0;
      for (float v : values) e += std::pow(std::fabs(xi * q.apply(v) - v), search.p);
      return ScoredClip{e / static_cast<double>(std::max<int64_t>(1, n)), xi};
    };
    const auto clip = calib::search_clip(all.lo, all.hi, search, [&](double l, double h) { return score(l, h).error; });
    const double xi = score(clip.lo, clip.hi).gain;
    if (!per_channel) {
      r = clamped(mm, clip);
      gain->assign(mm.lo.size(), static_cast<float>(xi));
      break;
    }
    r.lo[c] = clip.lo;
    r.hi[c] = clip.hi;
    (*gain)[c] = static_cast<float>(xi);
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

// For quantizer `q` on the weights `w` at `idx`: e^T M e of the error e = Q(w) - w, and with
// `with_dequantized` also d^T M d of d = Q(w).
struct OutputQuads {
  double ee = 0, dd = 0;
};
OutputQuads output_quads(const calib::GridQuantizer& q, const float* w, const std::vector<int64_t>& idx,
                         const std::vector<int32_t>& input_channel, const ChannelMoments& in, bool with_dequantized) {
  thread_local std::vector<double> d, e;
  d.resize(idx.size());
  e.resize(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) {
    d[i] = q.apply(w[idx[i]]);
    e[i] = d[i] - w[idx[i]];
  }
  return {output_quad(e, idx, input_channel, in), with_dequantized ? output_quad(d, idx, input_channel, in) : 0.0};
}

// The error to score a clip by: e^T M e, or with `gain` the error after the unbiasing gain,
// xi^2 d^T M d - w^T M w with xi = w^T M w / w^T M d, w^T M d = (ww + dd - ee) / 2
// (docs/calibration.md, "Gain correction").
ScoredClip output_score(double ww, const OutputQuads& o, bool gain) {
  if (!gain) return {o.ee, 1.0};
  const double xi = unbiasing_gain(ww, (ww + o.dd - o.ee) / 2);
  return {xi == 1.0 ? o.ee : std::max(0.0, xi * xi * o.dd - ww), xi};
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
  // The flat indices of each output channel's elements, and their own v^T M v.
  const auto idx = channel_elements(w, axis);
  std::vector<double> own(idx.size());
  for (size_t c = 0; c < idx.size(); ++c) {
    std::vector<double> v(idx[c].size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = d[idx[c][i]];
    own[c] = output_quad(v, idx[c], input_channel, in);
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
      for (const auto& c : idx) {
        const OutputQuads o = output_quads(q, d, c, input_channel, in, gain != nullptr);
        sum.ee += o.ee;
        sum.dd += o.dd;
      }
      return output_score(ww, sum, gain != nullptr);
    };
    const Range all = extent(mm);
    const auto clip = calib::search_clip(all.lo, all.hi, search, [&](double lo, double hi) { return score(lo, hi).error; });
    if (gain) gain->assign(mm.lo.size(), static_cast<float>(score(clip.lo, clip.hi).gain));
    return clamped(mm, clip);
  }
  ChannelRanges r;
  r.lo.resize(idx.size());
  r.hi.resize(idx.size());
  for (size_t c = 0; c < idx.size(); ++c) {
    auto score = [&](double lo, double hi) {
      const auto q = calib::GridQuantizer::make(lo, hi, search.bits, search.symmetric);
      return output_score(own[c], output_quads(q, d, idx[c], input_channel, in, gain != nullptr), gain != nullptr);
    };
    const auto clip = calib::search_clip(mm.lo[c], mm.hi[c], search, [&](double lo, double hi) { return score(lo, hi).error; });
    r.lo[c] = clip.lo;
    r.hi[c] = clip.hi;
    if (gain) (*gain)[c] = static_cast<float>(score(clip.lo, clip.hi).gain);
  }
  return r;
}

}  // namespace dpl
