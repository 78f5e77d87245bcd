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

}  // namespace

ChannelRanges searched_weight_ranges(const std::string& name, const Tensor& w, int axis, const TensorGrid& grid,
                                     calib::LpSearch search) {
  check_finite_weight(name, w);
  const ChannelRanges mm = channel_ranges(w, axis);
  search.bits = grid.bits;
  search.symmetric = grid.symmetric;
  const float* d = w.data<float>();
  if (!grid.per_channel || axis < 0) {
    // One clip for the tensor, each channel's min/max clamped to it.
    const Range all = extent(mm);
    return clamped(mm, calib::search_lp_clip(d, w.numel(), all.lo, all.hi, search));
  }
  // Each channel's values gathered (the channel axis need not be the first).
  int64_t outer = 1, inner = 1;
  const int64_t channels = w.dim(axis);
  for (int k = 0; k < axis; ++k) outer *= w.dim(k);
  for (int k = axis + 1; k < w.rank(); ++k) inner *= w.dim(k);
  std::vector<float> values(static_cast<size_t>(outer * inner));
  ChannelRanges r;
  r.lo.resize(channels);
  r.hi.resize(channels);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(d + (o * channels + c) * inner, inner, values.data() + o * inner);
    const auto clip =
        calib::search_lp_clip(values.data(), static_cast<int64_t>(values.size()), mm.lo[c], mm.hi[c], search);
    r.lo[c] = clip.lo;
    r.hi[c] = clip.hi;
  }
  return r;
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

// The expected square output error of the elements `idx` of `d` on `q`: e^T M e with the
// input's second-moment matrix M when there is one (each element a distinct input channel),
// else sum_j e_j^2 var_k(j) + (sum_j e_j mean_k(j))^2.
double output_error(const calib::GridQuantizer& q, const float* d, const std::vector<int64_t>& idx,
                    const std::vector<int32_t>& input_channel, const ChannelMoments& in) {
  if (!in.autocorr.empty()) {
    // A convolution's output channel: windows of kh x kw taps, one per input channel, in
    // order. Within a window the taps co-vary as the input's autocorrelation R says; across
    // input channels only through the means: sum_c (e_c^T R_c e_c - m_c^2 S_c^2) + (sum_c m_c S_c)^2
    // with S_c the window's error sum.
    const auto& l = in.lattice;
    const int64_t T = l.kh * l.kw, A = 2 * l.kh - 1, B = 2 * l.kw - 1;
    thread_local std::vector<double> e;
    e.resize(static_cast<size_t>(T));
    double within = 0, mean_sum = 0;
    for (size_t b0 = 0; b0 + static_cast<size_t>(T) <= idx.size(); b0 += static_cast<size_t>(T)) {
      const int32_t c = input_channel[static_cast<size_t>(idx[b0])];
      double S = 0;
      for (int64_t t = 0; t < T; ++t) {
        const float v = d[idx[b0 + static_cast<size_t>(t)]];
        e[static_cast<size_t>(t)] = q.apply(v) - v;
        S += e[static_cast<size_t>(t)];
      }
      const double* R = in.autocorr.data() + static_cast<size_t>(c) * static_cast<size_t>(A * B);
      double Q = 0;
      for (int64_t p = 0; p < T; ++p) {
        if (e[static_cast<size_t>(p)] == 0) continue;
        const int64_t ip = p / l.kw, jp = p % l.kw;
        double r = 0;
        for (int64_t t = 0; t < T; ++t)
          r += e[static_cast<size_t>(t)] * R[(t / l.kw - ip + l.kh - 1) * B + (t % l.kw - jp + l.kw - 1)];
        Q += e[static_cast<size_t>(p)] * r;
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
    for (int64_t j : idx) e[static_cast<size_t>(input_channel[static_cast<size_t>(j)])] = q.apply(d[j]) - d[j];
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
  for (int64_t j : idx) {
    const double e = q.apply(d[j]) - d[j];
    const int32_t k = input_channel[static_cast<size_t>(j)];
    var_part += e * e * in.var[k];
    mean_part += e * in.mean[k];
  }
  return var_part + mean_part * mean_part;
}

}  // namespace

ChannelRanges output_aware_weight_ranges(const std::string& name, const Tensor& w, int axis, const TensorGrid& grid,
                                         const std::vector<int32_t>& input_channel, const ChannelMoments& in,
                                         calib::LpSearch search) {
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
  const int64_t channels = axis < 0 ? 1 : w.dim(axis);
  int64_t inner = 1;
  for (int k = axis + 1; axis >= 0 && k < w.rank(); ++k) inner *= w.dim(k);
  // The flat indices of each output channel's elements.
  std::vector<std::vector<int64_t>> idx(static_cast<size_t>(channels));
  for (int64_t j = 0; j < w.numel(); ++j) idx[static_cast<size_t>((j / inner) % channels)].push_back(j);
  if (!grid.per_channel || axis < 0) {
    // One clip for the tensor: the channels' errors add up (each is its own output).
    const Range all = extent(mm);
    return clamped(mm, calib::search_clip(all.lo, all.hi, search, [&](double l, double h) {
                     const auto q = calib::GridQuantizer::make(l, h, search.bits, search.symmetric);
                     double e = 0;
                     for (const auto& c : idx) e += output_error(q, d, c, input_channel, in);
                     return e;
                   }));
  }
  ChannelRanges r;
  r.lo.resize(channels);
  r.hi.resize(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const auto clip = calib::search_clip(mm.lo[c], mm.hi[c], search, [&](double l, double h) {
      return output_error(calib::GridQuantizer::make(l, h, search.bits, search.symmetric), d, idx[c], input_channel,
                          in);
    });
    r.lo[c] = clip.lo;
    r.hi[c] = clip.hi;
  }
  return r;
}

}  // namespace dpl
