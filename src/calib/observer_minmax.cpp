#include "calib/observer_minmax.h"

#include "util/error.h"

namespace dpl {

namespace {
constexpr uint32_t kMinMaxTag = 0x4d4d5831;  // "MMX1"
}

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
  const auto* o = dynamic_cast<const MinMaxObserver*>(&other);
  DPL_CHECK(o != nullptr, "cannot merge a different kind of observer into a min/max observer");
  for (const auto& [name, s] : o->stats_) stats_[name].add(s);
}

std::string MinMaxObserver::serialize() const {
  ByteWriter w;
  w.put(kMinMaxTag);
  w.put<uint64_t>(stats_.size());
  for (const auto& [name, s] : stats_) {
    w.put_string(name);
    w.put(s.lo);
    w.put(s.hi);
  }
  return w.take();
}

void MinMaxObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes);
  DPL_CHECK(r.get<uint32_t>() == kMinMaxTag, "calibration state is not a min/max observer's");
  const auto n = r.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    std::string name = r.get_string();
    calib::MinMaxF s;
    s.lo = r.get<float>();
    s.hi = r.get<float>();
    stats_[name].add(s);
  }
  DPL_CHECK(r.done(), "calibration state has {} trailing bytes", bytes.size());
}

ActRanges MinMaxObserver::ranges() const {
  ActRanges r;
  for (const auto& [name, s] : stats_)
    if (!s.empty()) r[name] = {s.lo, s.hi};
  return r;
}

}  // namespace dpl
