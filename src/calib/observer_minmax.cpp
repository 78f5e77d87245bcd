// The min/max observer (see observer_minmax.h).
#include "calib/observer_minmax.h"

#include "calib/observer_state.h"

namespace dpl {

namespace {
constexpr uint32_t kMinMaxTag = 0x4d4d5831;  // "MMX1"
constexpr const char* kKind = "a min/max observer";
}  // namespace

void MinMaxObserver::observe(const std::string& name, const Tensor& value, int) {
  if (value.dtype() != DType::F32) return;
  calib::MinMaxF& s = stats_[name];
  if (value.numel() > 0) s.add(calib::finite_minmax(value.data<float>(), value.numel()));
}

void MinMaxObserver::reserve(const std::vector<std::string>& tensors) {
  stats_.reserve(tensors.size());
  for (const auto& t : tensors) stats_.try_emplace(t);
}

void MinMaxObserver::merge(const Observer& other) {
  for (const auto& [name, s] : same_kind<MinMaxObserver>(other, kKind).stats_) stats_[name].add(s);
}

std::string MinMaxObserver::serialize() const {
  ByteWriter w(kMinMaxTag);
  w.put_entries(stats_, [&](const calib::MinMaxF& s) { w.put(s); });
  return w.take();
}

void MinMaxObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes, kMinMaxTag, kKind);
  r.get_entries([&](const std::string& name) { stats_[name].add(r.get<calib::MinMaxF>()); });
}

ActRanges MinMaxObserver::ranges() const {
  ActRanges r;
  for (const auto& [name, s] : stats_)
    if (!s.empty()) r[name] = {s.lo, s.hi};
  return r;
}

}  // namespace dpl
