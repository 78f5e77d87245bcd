// The OCTAV (mse) observer (see observer_octav.h).
#include "calib/observer_octav.h"

#include <algorithm>
#include <cmath>

#include "calib/observer_state.h"

namespace dpl {

namespace {
constexpr uint32_t kOctavTag = 0x4f435431;  // "OCT1"
constexpr const char* kKind = "an OCTAV observer";
}  // namespace

OctavObserver::OctavObserver(int bits, bool dynamic_sym, std::map<std::string, int> tensor_bits)
    : bits_(bits), dynamic_sym_(dynamic_sym), tensor_bits_(std::move(tensor_bits)) {
  DPL_CHECK(bits >= 1 && bits <= 16, "OCTAV needs a bit width in 1..16, got {}", bits);
  for (const auto& [name, b] : tensor_bits_)
    DPL_CHECK(b >= 1 && b <= 16, "OCTAV needs a bit width in 1..16, got {} for tensor '{}'", b, name);
}

void OctavObserver::observe(const std::string& name, const Tensor& value, int samples) {
  if (value.dtype() != DType::F32 || value.numel() == 0) return;
  const SampleSplit split = split_samples(value, samples);
  auto tb = tensor_bits_.find(name);
  const int bits = tb == tensor_bits_.end() ? bits_ : tb->second;
  const auto res = calib::octav_clip(value.data<float>(), split.parts, split.part_size, bits, dynamic_sym_, scratch_);
  Entry& e = entries_[name];
  for (const auto& r : res) {
    e.mm.add(r.range);
    e.max_steps = std::max<int64_t>(e.max_steps, r.steps);
    // Weighted parts add their clip `weight` times: the same sum as unbatched samples.
    for (int w = 0; w < split.weight; ++w) {
      ++e.samples;
      if (std::isnan(r.s))
        ++e.nan_samples;
      else
        e.sum_s += r.s;
    }
  }
}

void OctavObserver::reserve(const std::vector<std::string>& tensors) {
  entries_.reserve(tensors.size());
  for (const auto& t : tensors) entries_.try_emplace(t);
}

void OctavObserver::add(const std::string& name, const Entry& o) {
  Entry& e = entries_[name];
  e.mm.add(o.mm);
  e.sum_s += o.sum_s;
  e.samples += o.samples;
  e.nan_samples += o.nan_samples;
  e.max_steps = std::max(e.max_steps, o.max_steps);
}

void OctavObserver::merge(const Observer& other) {
  const auto& o = same_kind<OctavObserver>(other, kKind);
  DPL_CHECK(o.bits_ == bits_ && o.dynamic_sym_ == dynamic_sym_ && o.tensor_bits_ == tensor_bits_,
            "cannot merge OCTAV observers of different settings");
  for (const auto& [name, e] : o.entries_) add(name, e);
}

std::string OctavObserver::serialize() const {
  ByteWriter w(kOctavTag);
  w.put<int32_t>(bits_);
  w.put<uint8_t>(dynamic_sym_);
  w.put_entries(entries_, [&](const Entry& e) {
    w.put(e.mm);
    w.put(e.sum_s);
    w.put(e.samples);
    w.put(e.nan_samples);
    w.put(e.max_steps);
  });
  return w.take();
}

void OctavObserver::merge_serialized(std::string_view bytes) {
  ByteReader r(bytes, kOctavTag, kKind);
  const auto bits = r.get<int32_t>();
  const bool dyn = r.get<uint8_t>() != 0;
  DPL_CHECK(bits == bits_ && dyn == dynamic_sym_, "cannot merge OCTAV observers of different settings");
  r.get_entries([&](const std::string& name) {
    Entry e;
    e.mm = r.get<calib::MinMaxF>();
    e.sum_s = r.get<double>();
    e.samples = r.get<int64_t>();
    e.nan_samples = r.get<int64_t>();
    e.max_steps = r.get<int64_t>();
    add(name, e);
  });
}

ActRanges OctavObserver::ranges() const {
  ActRanges r;
  for (const auto& [name, e] : entries_) {
    if (e.mm.empty()) continue;
    Range range{e.mm.lo, e.mm.hi};
    if (e.nan_samples == 0 && e.samples > 0) {
      const double mean = e.sum_s / static_cast<double>(e.samples);
      if (-mean > e.mm.lo) range.lo = static_cast<float>(-mean);
      if (mean < e.mm.hi) range.hi = static_cast<float>(mean);
    }
    r[name] = range;
  }
  return r;
}

}  // namespace dpl
