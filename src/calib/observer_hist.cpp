#include "calib/observer_hist.h"

#include <algorithm>

#include "util/error.h"

namespace dpl {

namespace {
constexpr uint32_t kHistTag = 0x48535431;  // "HST1"
}

HistObserver::HistObserver(const MinMaxObserver& minmax, int bins) : bins_(bins) {
  DPL_CHECK(bins >= 1, "the number of histogram bins must be positive, got {}", bins);
  for (const auto& [name, mm] : minmax.stats()) {
    if (mm.empty()) continue;
    Entry& e = entries_[name];
    e.mm = mm;
    e.amax = std::max(-mm.lo, mm.hi);
  }
}

void HistObserver::observe(const std::string& name, const Tensor& value, int) {
  if (value.dtype() != DType::F32 || value.numel() == 0) return;
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.counts.empty()) e.counts.assign(bins_, 0);
  calib::abs_histogram(value.data<float>(), value.numel(), e.amax, bins_, e.counts.data());
}

void HistObserver::add_counts(const std::string& name, const calib::MinMaxF& mm, float amax, const uint64_t* counts) {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    it = entries_.emplace(name, Entry{}).first;
    it->second.mm = mm;
    it->second.amax = amax;
  }
  Entry& e = it->second;
  DPL_CHECK(e.amax == amax && e.mm.lo == mm.lo && e.mm.hi == mm.hi,
            "cannot merge histograms of tensor '{}' taken over different ranges ([{}, {}] and [{}, {}]): reduce the "
            "min/max stage first",
            name, e.mm.lo, e.mm.hi, mm.lo, mm.hi);
  if (!counts) return;
  if (e.counts.empty()) e.counts.assign(bins_, 0);
  for (int k = 0; k < bins_; ++k) e.counts[k] += counts[k];
}

void HistObserver::merge(const Observer& other) {
  const auto* o = dynamic_cast<const HistObserver*>(&other);
  DPL_CHECK(o != nullptr, "cannot merge a different kind of observer into a histogram observer");
  DPL_CHECK(o->bins_ == bins_, "cannot merge histograms of {} and {} bins", bins_, o->bins_);
  for (const auto& [name, e] : o->entries_) add_counts(name, e.mm, e.amax, e.counts.empty() ? nullptr : e.counts.data());
}

std::string HistObserver::serialize() const {
  ByteWriter w;
  w.put(kHistTag);
  w.put<int32_t>(bins_);
  w.put<uint64_t>(entries_.size());
  for (const auto& [name, e] : entries_) {
    w.put_string(name);
    w.put(e.mm.lo);
    w.put(e.mm.hi);
    w.put(e.amax);
    w.put<uint8_t>(e.counts.empty() ? 0 : 1);
    if (!e.counts.empty()) w.put_bytes(e.counts.data(), e.counts.size() * sizeof(uint64_t));
  }
  return w.take();
}

void HistObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes);
  DPL_CHECK(r.get<uint32_t>() == kHistTag, "calibration state is not a histogram observer's");
  const auto bins = r.get<int32_t>();
  DPL_CHECK(bins == bins_, "cannot merge histograms of {} and {} bins", bins_, bins);
  const auto n = r.get<uint64_t>();
  std::vector<uint64_t> counts(bins_);
  for (uint64_t i = 0; i < n; ++i) {
    std::string name = r.get_string();
    calib::MinMaxF mm;
    mm.lo = r.get<float>();
    mm.hi = r.get<float>();
    const auto amax = r.get<float>();
    const bool has = r.get<uint8_t>() != 0;
    if (has) r.get_bytes(counts.data(), counts.size() * sizeof(uint64_t));
    add_counts(name, mm, amax, has ? counts.data() : nullptr);
  }
  DPL_CHECK(r.done(), "calibration state has trailing bytes");
}

void HistObserver::clear() {
  for (auto& [name, e] : entries_) e.counts.clear();
}

const std::vector<uint64_t>& HistObserver::counts(const std::string& name) const {
  static const std::vector<uint64_t> none;
  auto it = entries_.find(name);
  return it == entries_.end() ? none : it->second.counts;
}

ActRanges HistObserver::ranges(double threshold) const {
  ActRanges r;
  for (const auto& [name, e] : entries_) {
    Range range{e.mm.lo, e.mm.hi};
    uint64_t total = 0;
    for (uint64_t c : e.counts) total += c;
    if (total > 0) {
      uint64_t cum = 0;
      for (int k = 0; k < bins_; ++k) {
        cum += e.counts[k];
        if (static_cast<double>(cum) / static_cast<double>(total) >= threshold) {
          const float c = (static_cast<float>(k) + 0.5f) * (e.amax / static_cast<float>(bins_));
          range = {std::max(-c, e.mm.lo), std::min(c, e.mm.hi)};
          break;
        }
      }
    }
    r[name] = range;
  }
  return r;
}

}  // namespace dpl
