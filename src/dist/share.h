// How work is split over ranks: rank r of K takes a contiguous share of n items, the first
// n % K ranks one more, so that every item is used and the shares are in rank order.
#pragma once
#include <cstdint>

namespace dpl::dist {

struct Share {
  int64_t first = 0, count = 0;
};

inline Share share_of(int64_t n, int rank, int size) {
  const int64_t base = n / size, extra = n % size;
  const int64_t first = rank * base + (rank < extra ? rank : extra);
  return {first, base + (rank < extra ? 1 : 0)};
}

}  // namespace dpl::dist
