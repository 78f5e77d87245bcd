// Checksums of the inputs compared over ranks (dist/same_files.h).
#include "dist/same_files.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "dist/agree.h"
#include "util/error.h"

namespace dpl::dist {

uint64_t checksum_bytes(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

uint64_t file_checksum(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DPL_CHECK(f.good(), "cannot read {}", path);
  uint64_t h = checksum_bytes(nullptr, 0);
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = checksum_bytes(buf.data(), static_cast<size_t>(f.gcount()), h);
  }
  DPL_CHECK(f.eof(), "cannot read {}", path);
  return h;
}

void check_same_files(Comm& comm, const std::vector<std::string>& files) {
  if (!comm.distributed()) return;
  std::vector<uint64_t> mine;
  agree(comm, [&] {
    for (const auto& f : files) mine.push_back(file_checksum(f));
  });
  // Rank 0's list as lines "checksum path".
  std::string root;
  if (comm.root())
    for (size_t i = 0; i < files.size(); ++i) root += fmt::format("{:016x} {}\n", mine[i], files[i]);
  comm.broadcast(root, 0);
  agree(comm, [&] {
    std::istringstream in(root);
    std::string line;
    size_t i = 0;
    while (std::getline(in, line)) {
      const std::string path = line.substr(17);
      DPL_CHECK(i < files.size(), "rank 0 reads {} file(s), this rank only {} (first missing here: {})",
                std::count(root.begin(), root.end(), '\n'), files.size(), path);
      DPL_CHECK(path == files[i], "file {} of rank 0 is {} here: the ranks disagree on the model or the data",
                path, files[i]);
      DPL_CHECK(line.substr(0, 16) == fmt::format("{:016x}", mine[i]),
                "{} differs from rank 0's copy (checksum {:016x}, rank 0 {}): every rank must read the same model and "
                "samples",
                path, mine[i], line.substr(0, 16));
      ++i;
    }
    DPL_CHECK(i == files.size(), "this rank reads {} file(s), rank 0 only {} (first extra here: {})", files.size(), i,
              files[i]);
  });
}

}  // namespace dpl::dist
