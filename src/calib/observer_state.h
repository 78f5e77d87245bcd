// The byte form of an observer's state (Observer::serialize / merge_serialized), the same
// for every observer: a tag naming the observer kind, the observer's settings, then one
// record per tensor (its name, then the observer's entry). Native endianness: the bytes are
// for the ranks of one job (docs/spec.md 10), not for files.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/error.h"

namespace dpl {

class ByteWriter {
 public:
  // Starts a state with the tag of its observer kind.
  explicit ByteWriter(uint32_t tag) { put(tag); }

  // A value as its bytes (numbers, or a struct of numbers such as calib::MinMaxF).
  template <typename T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void put_bytes(const void* p, size_t n) {
    if (n > 0) out_.append(static_cast<const char*>(p), n);  // p may be an empty vector's null data()
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_ += s;
  }
  // The elements of v, without their count.
  template <typename T>
  void put_array(const std::vector<T>& v) {
    put_bytes(v.data(), v.size() * sizeof(T));
  }
  // What ends every state: the number of entries, then each entry's tensor name followed by
  // what put_entry(entry) writes (to this writer).
  template <typename Map, typename PutEntry>
  void put_entries(const Map& entries, PutEntry put_entry) {
    put<uint64_t>(entries.size());
    for (const auto& [name, e] : entries) {
      put_string(name);
      put_entry(e);
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  // Starts reading a state; throws unless it starts with `tag`. `kind` names the observer
  // kind in messages ("a min/max observer").
  ByteReader(std::string_view in, uint32_t tag, std::string kind);

  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    get_bytes(&v, sizeof(T));
    return v;
  }
  void get_bytes(void* p, size_t n);
  std::string get_string();
  // n elements that put_array wrote, into v (resized to n).
  template <typename T>
  void get_array(std::vector<T>& v, size_t n) {
    v.resize(n);
    get_bytes(v.data(), n * sizeof(T));
  }
  // Reads what put_entries wrote: calls read_entry(name) once per entry (it reads the entry
  // from this reader), then throws when bytes are left over.
  template <typename ReadEntry>
  void get_entries(ReadEntry read_entry) {
    const auto n = get<uint64_t>();
    for (uint64_t i = 0; i < n; ++i) read_entry(get_string());
    DPL_CHECK(pos_ == in_.size(), "calibration state of {} has trailing bytes", kind_);
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  std::string kind_;
};

// What the histogram observers share: allocating `bins` zero counts for the entries of
// `tensors` that have none yet, and refusing to add histograms taken over different ranges.
template <typename Entries>
void reserve_counts(Entries& entries, const std::vector<std::string>& tensors, int bins) {
  for (const auto& t : tensors) {
    auto it = entries.find(t);
    if (it != entries.end() && it->second.counts.empty()) it->second.counts.assign(bins, 0);
  }
}
inline void check_same_hist_range(const std::string& name, bool same, float lo, float hi, float other_lo,
                                  float other_hi) {
  DPL_CHECK(same,
            "cannot merge histograms of tensor '{}' taken over different ranges ([{}, {}] and [{}, {}]): reduce the "
            "min/max stage first",
            name, lo, hi, other_lo, other_hi);
}

}  // namespace dpl
