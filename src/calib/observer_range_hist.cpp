// The signed-range histogram observer (see observer_range_hist.h).
#include "calib/observer_range_hist.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "calib/observer_state.h"

namespace dpl {

namespace {
constexpr uint32_t kRangeHistTag = 0x52485331;  // "RHS1"
constexpr const char* kKind = "a range histogram observer";
}  // namespace

RangeHistObserver::RangeHistObserver(const MinMaxObserver& minmax, int bins) : bins_(bins) {
  DPL_CHECK(bins >= 1, "the number of histogram bins must be positive, got {}", bins);
  for (const auto& [name, mm] : minmax.stats())
    if (!mm.empty()) entries_[name].mm = mm;
}

void RangeHistObserver::observe(const std::string& name, const Tensor& value, int) {
  if (value.dtype() != DType::F32 || value.numel() == 0) return;
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.counts.empty()) e.counts.assign(bins_, 0);
  const float lo = e.mm.lo, width = e.mm.hi - e.mm.lo;
  const float per = width > 0 ? static_cast<float>(bins_) / width : 0.f, last = static_cast<float>(bins_ - 1);
  const float* p = value.data<float>();
  uint64_t* c = e.counts.data();
  // Bin indices of a block first (a loop the compiler vectorizes; non-finite values go to a
  // slot past the end), then the counting, split over 4 tables so that runs of equal bins do
  // not wait on each other's increments.
  constexpr int64_t kBlock = 4096;
  int32_t idx[kBlock];
  std::vector<uint32_t>& part = part_;
  part.assign(4 * (bins_ + 1), 0);
  for (int64_t b = 0, n = value.numel(); b < n; b += kBlock) {
    const int64_t m = std::min(kBlock, n - b);
    for (int64_t i = 0; i < m; ++i) {
      const float x = p[b + i];
      const float k = std::min(std::max((x - lo) * per, 0.f), last);
      idx[i] = std::fabs(x) <= std::numeric_limits<float>::max() ? static_cast<int32_t>(k) : bins_;
    }
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
      ++part[idx[i]];
      ++part[(bins_ + 1) + idx[i + 1]];
      ++part[2 * (bins_ + 1) + idx[i + 2]];
      ++part[3 * (bins_ + 1) + idx[i + 3]];
    }
    for (; i < m; ++i) ++part[idx[i]];
    if ((b / kBlock) % 256 == 255 || b + m >= n) {  // flush before the 32-bit tables could overflow
      for (int k = 0; k < bins_; ++k)
        c[k] += static_cast<uint64_t>(part[k]) + part[(bins_ + 1) + k] + part[2 * (bins_ + 1) + k] +
                part[3 * (bins_ + 1) + k];
      std::fill(part.begin(), part.end(), 0u);
    }
  }
}

void RangeHistObserver::reserve(const std::vector<std::string>& tensors) {
  reserve_counts(entries_, tensors, bins_);
}

void RangeHistObserver::add_entry(const std::string& name, const Entry& o) {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    entries_.emplace(name, o);
    return;
  }
  Entry& e = it->second;
  check_same_hist_range(name, e.mm.lo == o.mm.lo && e.mm.hi == o.mm.hi, e.mm.lo, e.mm.hi, o.mm.lo,
                        o.mm.hi);
  if (o.counts.empty()) return;
  if (e.counts.empty()) e.counts.assign(bins_, 0);
  for (int k = 0; k < bins_; ++k) e.counts[k] += o.counts[k];
}

void RangeHistObserver::merge(const Observer& other) {
  const auto& o = same_kind<RangeHistObserver>(other, kKind);
  DPL_CHECK(o.bins_ == bins_, "cannot merge histograms of {} and {} bins", bins_, o.bins_);
  for (const auto& [name, e] : o.entries_) add_entry(name, e);
}

std::string RangeHistObserver::serialize() const {
  ByteWriter w(kRangeHistTag);
  w.put<int32_t>(bins_);
  w.put_entries(entries_, [&](const Entry& e) {
    w.put(e.mm);
    w.put<uint8_t>(e.counts.empty() ? 0 : 1);
    w.put_array(e.counts);
  });
  return w.take();
}

void RangeHistObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes, kRangeHistTag, kKind);
  const auto bins = r.get<int32_t>();
  DPL_CHECK(bins == bins_, "cannot merge histograms of {} and {} bins", bins_, bins);
  r.get_entries([&](const std::string& name) {
    Entry e;
    e.mm = r.get<calib::MinMaxF>();
    if (r.get<uint8_t>() != 0) r.get_array(e.counts, bins_);
    add_entry(name, e);
  });
}

void RangeHistObserver::clear() {
  for (auto& [name, e] : entries_) e.counts.clear();
}

std::vector<std::string> RangeHistObserver::tensors() const {
  std::vector<std::string> r;
  for (const auto& [name, e] : entries_) r.push_back(name);
  std::sort(r.begin(), r.end());
  return r;
}

calib::ValueHistogram RangeHistObserver::histogram(const std::string& name) const {
  calib::ValueHistogram h;
  auto it = entries_.find(name);
  if (it == entries_.end()) return h;
  h.lo = it->second.mm.lo;
  h.hi = it->second.mm.hi;
  h.counts.assign(it->second.counts.begin(), it->second.counts.end());
  return h;
}

}  // namespace dpl
