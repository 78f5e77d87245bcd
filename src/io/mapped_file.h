// A whole file mapped read-only into memory, shared by everything that reads it: external
// weight data is viewed in place instead of copied (graph/tensor_proto.cpp,
// docs/external_data.md). Pages come from the page cache on first touch and the kernel may
// drop them again under memory pressure, which copies in the heap never allow.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dpl {

class MappedFile {
 public:
  // The mapping of `path` (throws with the path when it cannot be opened or mapped). Holders
  // share one mapping while any of them keeps it; a file replaced since it was mapped (other
  // inode, size or modification time) is mapped anew.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Says that the pages of [p, p + bytes) are not needed for now, when that range lies in a
// live mapping: they leave the process's resident set but stay in the page cache, and a later
// read brings them back. Kernels call it once they hold a packed copy of a weight they view.
// Memory outside every mapping is left alone.
void release_mapped_pages(const void* p, size_t bytes);

}  // namespace dpl
