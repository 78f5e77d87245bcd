#include "transform/recon_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "util/error.h"

namespace dpl::transform {

namespace {

double mb(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// A file for the spilled rows, unlinked at once: it lives as long as the descriptor.
int open_spill_file(const std::string& dir, const std::string& label) {
  static std::atomic<int> counter{0};
  const std::string path =
      (std::filesystem::path(dir) / (".dipoorlet-cache-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(counter++)))
          .string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot create the cache file for {} in {}: {}", label, dir, std::strerror(errno));
  ::unlink(path.c_str());
  return fd;
}

// pwrite / pread of all `bytes` at `at`, retried on EINTR and short counts; throws naming
// `verb`, the cache and its folder.
template <typename Io, typename Ptr>
void transfer_all(Io io, int fd, Ptr p, int64_t bytes, off_t at, const char* verb, const std::string& label,
                  const std::string& dir) {
  while (bytes > 0) {
    const ssize_t n = io(fd, p, static_cast<size_t>(bytes), at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("{} the cache of {} in {}: {}", verb, label, dir, n < 0 ? std::strerror(errno) : "short file");
    p += n;
    at += n;
    bytes -= n;
  }
}

}  // namespace

SampleCache::SampleCache(std::string label, int64_t count, Shape row, int64_t batch, CacheBudget& budget, DType dtype)
    : label_(std::move(label)), count_(count), row_(std::move(row)), dtype_(dtype), dir_(budget.spill_dir),
      budget_(&budget) {
  DPL_CHECK(batch <= 1 || (!row_.empty() && row_[0] > 0), "{}: a per-sample value of shape {} cannot be batched",
            label_, shape_str(row_));
  for (int64_t d : row_) row_elems_ *= d;
  const int64_t batch_bytes = std::min(batch, count) * row_bytes();
  DPL_CHECK(batch_bytes <= budget.bytes_left,
            "--cache_mb is too small: one batch of {} ({} samples of shape {}) takes {:.1f} MB, {:.1f} MB are left",
            label_, std::min(batch, count), shape_str(row_), mb(batch_bytes), mb(std::max<int64_t>(0, budget.bytes_left)));
  const int64_t total = count * row_bytes();
  if (total <= budget.bytes_left) {
    mem_.resize(static_cast<size_t>(total));
    taken_ = total;
    budget.bytes_left -= total;
    return;
  }
  // One batch stays in memory while training: reserve it.
  fd_ = open_spill_file(dir_, label_);
  taken_ = batch_bytes;
  budget.bytes_left -= batch_bytes;
  spdlog::info("{}: {:.1f} MB of cached rows spill to a file in {} (--cache_mb)", label_, mb(total), dir_);
}

SampleCache::~SampleCache() {
  if (fd_ >= 0) ::close(fd_);
  budget_->bytes_left += taken_;
}

void SampleCache::put(int64_t i, const void* row) {
  DPL_CHECK(i >= 0 && i < count_, "{}: row {} of {}", label_, i, count_);
  if (fd_ < 0) {
    if (row_bytes() > 0) std::memcpy(mem_.data() + i * row_bytes(), row, static_cast<size_t>(row_bytes()));
    return;
  }
  transfer_all(::pwrite, fd_, reinterpret_cast<const char*>(row), row_bytes(), static_cast<off_t>(i * row_bytes()),
               "writing", label_, dir_);
}

Tensor SampleCache::gather(const std::vector<int64_t>& idx) const {
  Shape shape = row_;
  if (shape.empty()) {
    DPL_CHECK(idx.size() == 1, "{}: a per-sample scalar cannot be batched", label_);
  } else {
    shape[0] *= static_cast<int64_t>(idx.size());
  }
  Tensor out(dtype_, shape);
  char* o = static_cast<char*>(out.raw());
  const int64_t rb = row_bytes();
  for (size_t k = 0; k < idx.size(); ++k) {
    const int64_t i = idx[k];
    DPL_CHECK(i >= 0 && i < count_, "{}: row {} of {}", label_, i, count_);
    char* dst = o + static_cast<int64_t>(k) * rb;
    if (rb == 0) continue;
    if (fd_ < 0) {
      std::memcpy(dst, mem_.data() + i * rb, static_cast<size_t>(rb));
      continue;
    }
    transfer_all(::pread, fd_, dst, rb, static_cast<off_t>(i * rb), "reading", label_, dir_);
  }
  return out;
}

CacheFiller::CacheFiller(std::vector<std::string> tensors, Make make)
    : tensors_(std::move(tensors)), make_(std::move(make)) {}

void CacheFiller::observe(const std::string& name, const Tensor& value, int samples) {
  if (std::find(tensors_.begin(), tensors_.end(), name) == tensors_.end()) return;
  // One sample per run: the value is the row, whatever its shape. Several: split along axis 0.
  DPL_CHECK(samples == 1 || (samples > 1 && value.rank() > 0 && value.dim(0) % samples == 0),
            "cannot cache '{}' ({} {}) per sample", name, dtype_name(value.dtype()), shape_str(value.shape()));
  Shape row = value.shape();
  if (samples > 1) row[0] /= samples;
  auto it = filled_.find(name);
  if (it == filled_.end())
    it = filled_.emplace(name, std::make_pair(&make_(name, row, value.dtype()), int64_t{0})).first;
  auto& [cache, written] = it->second;
  DPL_CHECK(cache->row_shape() == row, "'{}' has shape {} per sample here and {} before: samples of different "
            "shapes cannot be batched for training", name, shape_str(row), shape_str(cache->row_shape()));
  DPL_CHECK(cache->dtype() == value.dtype(), "'{}' is {} here and {} before", name, dtype_name(value.dtype()),
            dtype_name(cache->dtype()));
  const char* v = static_cast<const char*>(value.raw());
  for (int s = 0; s < samples; ++s) cache->put(written++, v + s * cache->row_bytes());
}

void CacheFiller::merge(const Observer&) { fail("a sample cache is not merged across processes"); }
std::string CacheFiller::serialize() const { fail("a sample cache is not serialized"); }
void CacheFiller::merge_serialized(std::string_view) { fail("a sample cache is not merged across processes"); }
// A pass that starts over (observe_pass falls back to one sample at a time) rewrites the
// same caches from row 0: they keep their memory and their share of the budget.
void CacheFiller::clear() {
  for (auto& [name, entry] : filled_) entry.second = 0;
}

}  // namespace dpl::transform
