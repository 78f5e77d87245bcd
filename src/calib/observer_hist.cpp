// The histogram observer (see observer_hist.h).
#include "calib/observer_hist.h"

#include <algorithm>
#include <cmath>

#include "calib/observer_state.h"

namespace dpl {

namespace {
constexpr uint32_t kHistTag = 0x48535432;  // "HST2"
constexpr const char* kKind = "a histogram observer";
constexpr double kMarginFactor = 64;  // the cut leaves 64x the threshold's share above it
constexpr double kMarginValues = 64;  // and at least 64 values
}  // namespace

HistObserver::HistObserver(const MinMaxObserver& minmax, int bins, double threshold)
    : bins_(bins), threshold_(threshold) {
  DPL_CHECK(bins >= 1, "the number of histogram bins must be positive, got {}", bins);
  for (const auto& [name, mm] : minmax.stats()) {
    if (mm.empty()) continue;
    Entry& e = entries_[name];
    e.mm = mm;
    e.amax = std::max(-mm.lo, mm.hi);
  }
}

void HistObserver::fold(Entry& e, int cut) {
  if (cut <= e.cut) return;
  if (!e.counts.empty())
    for (int k = e.cut; k < cut; ++k) e.below += e.counts[k], e.counts[k] = 0;
  e.cut = cut;
}

int HistObserver::choose_cut(const Entry& e) const {
  if (threshold_ < 0 || e.counts.empty()) return 0;
  uint64_t total = e.below;
  for (uint64_t c : e.counts) total += c;
  const double need = kMarginFactor * std::max(0.0, 1.0 - threshold_) * static_cast<double>(total) + kMarginValues;
  uint64_t tail = 0;
  for (int k = bins_ - 1; k > e.cut; --k) {
    tail += e.counts[k];
    if (static_cast<double>(tail) >= need) return k;
  }
  return 0;
}

void HistObserver::observe(const std::string& name, const Tensor& value, int) {
  if (value.dtype() != DType::F32 || value.numel() == 0) return;
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.counts.empty()) e.counts.assign(bins_, 0);
  calib::abs_histogram_tail(value.data<float>(), value.numel(), e.amax, bins_, e.cut, e.counts.data(), &e.below);
  if (!e.cut_chosen) {
    e.cut_chosen = true;
    fold(e, choose_cut(e));
  }
}

void HistObserver::reserve(const std::vector<std::string>& tensors) {
  reserve_counts(entries_, tensors, bins_);
}

void HistObserver::add_entry(const std::string& name, const Entry& o) {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    entries_.emplace(name, o);
    return;
  }
  Entry& e = it->second;
  check_same_hist_range(name, e.amax == o.amax && e.mm.lo == o.mm.lo && e.mm.hi == o.mm.hi, e.mm.lo, e.mm.hi,
                        o.mm.lo, o.mm.hi);
  if (o.counts.empty()) return;
  Entry add = o;
  const int cut = std::max(e.cut, o.cut);
  fold(e, cut);
  fold(add, cut);
  if (e.counts.empty()) e.counts.assign(bins_, 0);
  for (int k = 0; k < bins_; ++k) e.counts[k] += add.counts[k];
  e.below += add.below;
  e.cut_chosen = e.cut_chosen || o.cut_chosen;
}

void HistObserver::merge(const Observer& other) {
  const auto& o = same_kind<HistObserver>(other, kKind);
  DPL_CHECK(o.bins_ == bins_, "cannot merge histograms of {} and {} bins", bins_, o.bins_);
  for (const auto& [name, e] : o.entries_) add_entry(name, e);
}

std::string HistObserver::serialize() const {
  ByteWriter w(kHistTag);
  w.put<int32_t>(bins_);
  w.put_entries(entries_, [&](const Entry& e) {
    w.put(e.mm);
    w.put(e.amax);
    w.put(e.below);
    w.put<int32_t>(e.cut);
    w.put<uint8_t>(e.cut_chosen);
    w.put<uint8_t>(e.counts.empty() ? 0 : 1);
    w.put_array(e.counts);
  });
  return w.take();
}

void HistObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes, kHistTag, kKind);
  const auto bins = r.get<int32_t>();
  DPL_CHECK(bins == bins_, "cannot merge histograms of {} and {} bins", bins_, bins);
  r.get_entries([&](const std::string& name) {
    Entry e;
    e.mm = r.get<calib::MinMaxF>();
    e.amax = r.get<float>();
    e.below = r.get<uint64_t>();
    e.cut = r.get<int32_t>();
    DPL_CHECK(e.cut >= 0 && e.cut < bins_, "calibration state holds a bad histogram cut {}", e.cut);
    e.cut_chosen = r.get<uint8_t>() != 0;
    if (r.get<uint8_t>() != 0) r.get_array(e.counts, bins_);
    add_entry(name, e);
  });
}

void HistObserver::clear() {
  for (auto& [name, e] : entries_) {
    e.counts.clear();
    e.below = 0;
    e.cut = 0;
    e.cut_chosen = false;
  }
}

int HistObserver::threshold_bin(const Entry& e, double threshold, int bins) {
  uint64_t total = e.below;
  for (uint64_t c : e.counts) total += c;
  if (total == 0) return -1;
  const double t = static_cast<double>(total);
  uint64_t cum = e.below;
  if (e.cut > 0 && static_cast<double>(cum) / t >= threshold) return -2;  // reached below the cut
  for (int k = e.cut; k < bins; ++k) {
    cum += e.counts[k];
    if (static_cast<double>(cum) / t >= threshold) return k;
  }
  return -1;
}

std::vector<std::string> HistObserver::unresolved(double threshold) const {
  std::vector<std::string> r;
  for (const auto& [name, e] : entries_)
    if (threshold_bin(e, threshold, bins_) == -2) r.push_back(name);
  std::sort(r.begin(), r.end());
  return r;
}

void HistObserver::restrict_to(const std::vector<std::string>& names) {
  std::unordered_map<std::string, Entry> kept;
  for (const auto& n : names) {
    auto it = entries_.find(n);
    if (it != entries_.end()) kept.emplace(n, std::move(it->second));
  }
  entries_.swap(kept);
}

void HistObserver::replace(const HistObserver& other) {
  DPL_CHECK(other.bins_ == bins_, "cannot merge histograms of {} and {} bins", bins_, other.bins_);
  for (const auto& [name, e] : other.entries_) entries_[name] = e;
}

const std::vector<uint64_t>& HistObserver::counts(const std::string& name) const {
  static const std::vector<uint64_t> none;
  auto it = entries_.find(name);
  return it == entries_.end() ? none : it->second.counts;
}

int HistObserver::cut(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? 0 : it->second.cut;
}

uint64_t HistObserver::below(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? 0 : it->second.below;
}

ActRanges HistObserver::ranges(double threshold) const {
  ActRanges r;
  for (const auto& [name, e] : entries_) {
    Range range{e.mm.lo, e.mm.hi};
    const int k = threshold_bin(e, threshold, bins_);
    DPL_CHECK(k != -2,
              "the histogram of '{}' does not hold the bins where threshold {} is reached (a full pass is needed)",
              name, threshold);
    if (k >= 0) {
      const float c = (static_cast<float>(k) + 0.5f) * (e.amax / static_cast<float>(bins_));
      range = {std::max(-c, e.mm.lo), std::min(c, e.mm.hi)};
    }
    r[name] = range;
  }
  return r;
}

}  // namespace dpl
