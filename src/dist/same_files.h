// Ranks must read the same model and the same samples (docs/distributed.md, "Bad input"): on
// a cluster each host may hold its own copy. A checksum of every file is compared with rank
// 0's at start.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dist/comm.h"

namespace dpl::dist {

// FNV-1a (64 bit) of `n` bytes, continuing from `h` (the offset basis by default).
uint64_t checksum_bytes(const void* data, size_t n, uint64_t h = 1469598103934665603ULL);
// FNV-1a (64 bit) of a file's bytes; throws naming the file when it cannot be read.
uint64_t file_checksum(const std::string& path);

// Collective: throws AgreedError on every rank when a rank's list of files, or the bytes of
// one of them, differ from rank 0's (one line naming the rank and the file).
void check_same_files(Comm& comm, const std::vector<std::string>& files);

}  // namespace dpl::dist
