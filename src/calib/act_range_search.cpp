// Searched activation ranges (see act_range_search.h).
#include "calib/act_range_search.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace dpl {

calib::LpSearch act_grid(const CaliOptions& o, const std::string& name, float lo) {
  calib::LpSearch s;
  s.bits = o.bits_of(name);
  s.symmetric = o.symmetric && !(o.dynamic_sym && std::fabs(lo) < 1e-6f);
  return s;
}

ActRanges lp_ranges(const RangeHistObserver& hist, const CaliOptions& o) {
  ActRanges r;
  for (const auto& name : hist.tensors()) {
    const auto h = hist.histogram(name);
    const Range minmax{static_cast<float>(h.lo), static_cast<float>(h.hi)};
    double total = 0;
    for (double c : h.counts) total += c;
    if (total == 0) {
      r[name] = minmax;
      continue;
    }
    const auto clip = calib::search_lp_clip(h, act_grid(o, name, minmax.lo));
    r[name] = {clip.lo, clip.hi};
  }
  return r;
}

int kl_threshold_bin(const std::vector<uint64_t>& counts, int levels) {
  const int bins = static_cast<int>(counts.size());
  double total = 0;
  for (uint64_t c : counts) total += static_cast<double>(c);
  if (bins < levels || levels < 1 || total == 0) return bins;
  std::vector<double> above(bins + 1, 0.0);  // above[i] = sum of counts[i..bins)
  for (int k = bins - 1; k >= 0; --k) above[k] = above[k + 1] + static_cast<double>(counts[k]);
  std::vector<double> q;
  int best = bins;
  double best_kl = std::numeric_limits<double>::infinity();
  for (int i = levels; i <= bins; ++i) {
    // The candidate: counts[0..i) merged into `levels` groups (group j holds the bins k with
    // j <= k * levels / i < j + 1), each group's sum spread over its nonzero bins.
    q.assign(i, 0.0);
    for (int j = 0, k = 0; j < levels; ++j) {
      const int end = j + 1 == levels ? i : static_cast<int>(std::ceil(static_cast<double>(j + 1) * i / levels));
      double sum = 0;
      int nonzero = 0;
      for (int m = k; m < end; ++m)
        if (counts[m] != 0) sum += static_cast<double>(counts[m]), ++nonzero;
      for (int m = k; m < end; ++m)
        if (counts[m] != 0) q[m] = sum / nonzero;
      k = end;
    }
    double q_total = 0;
    for (double v : q) q_total += v;
    const double p_total = total;  // the reference holds every count (the tail in bin i-1)
    double kl = 0;
    for (int m = 0; m < i && std::isfinite(kl); ++m) {
      const double p = static_cast<double>(counts[m]) + (m == i - 1 ? above[i] : 0.0);
      if (p == 0) continue;
      if (q[m] == 0) {
        kl = std::numeric_limits<double>::infinity();
        break;
      }
      const double pn = p / p_total, qn = q[m] / q_total;
      kl += pn * std::log(pn / qn);
    }
    if (kl <= best_kl) best_kl = kl, best = i;
  }
  return best;
}

ActRanges kl_ranges(const HistObserver& hist, const MinMaxObserver& mm, const CaliOptions& o) {
  ActRanges r;
  for (const auto& [name, s] : mm.stats()) {
    if (s.empty()) continue;
    Range range{s.lo, s.hi};
    const auto& counts = hist.counts(name);
    const auto grid = act_grid(o, name, s.lo);
    const bool one_sided = s.lo >= 0 || s.hi <= 0;
    const int levels = 1 << (grid.symmetric || !one_sided ? grid.bits - 1 : grid.bits);
    const int bins = static_cast<int>(counts.size());
    if (bins > 0) {
      const int k = kl_threshold_bin(counts, levels);
      const float amax = std::max(-s.lo, s.hi);
      const float c = static_cast<float>(k) * (amax / static_cast<float>(bins));
      if (k < bins) range = {std::max(-c, s.lo), std::min(c, s.hi)};
    }
    r[name] = range;
  }
  return r;
}

std::map<std::string, std::vector<Range>> output_candidates(const ActRanges& lp, const MinMaxObserver& mm, int count) {
  DPL_CHECK(count >= 2, "the output-aware search needs at least 2 candidates, got {}", count);
  std::map<std::string, std::vector<Range>> r;
  for (const auto& [name, clip] : lp) {
    auto it = mm.stats().find(name);
    if (it == mm.stats().end() || it->second.empty()) continue;
    std::vector<Range>& c = r[name];
    for (int k = 0; k < count; ++k) {
      const float t = static_cast<float>(k) / static_cast<float>(count - 1);
      c.push_back({clip.lo + (it->second.lo - clip.lo) * t, clip.hi + (it->second.hi - clip.hi) * t});
    }
    c.back() = {it->second.lo, it->second.hi};
  }
  return r;
}

}  // namespace dpl
