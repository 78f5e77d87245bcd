// Reducing mergeable state over ranks (docs/distributed.md). A binomial tree: at step s (1, 2,
// 4, ...) a rank r that is a multiple of 2s merges the state of rank r + s, which holds ranks
// [r + s, r + 2s) already merged, after its own; the others send theirs to r - s and are done.
// Rank 0 ends with every rank's state merged in rank order and broadcasts it. Each rank sends
// and receives O(log K) states, never K of them. Rank r observed samples [first_r, first_r +
// n_r) with the shares in rank order, so a merge that depends on order (the moving averages of
// BN update) sees the samples in the order one process would; sums differ from one process's
// only in rounding, and every rank ends with the very same bytes.
// T needs serialize(), merge_serialized(std::string_view) and clear().
#pragma once
#include <string>

#include "dist/comm.h"

namespace dpl::dist {

template <typename T>
void reduce_in_rank_order(Comm& comm, T& state) {
  if (!comm.distributed()) return;
  const int r = comm.rank(), k = comm.size();
  for (int s = 1; s < k; s *= 2) {
    if (r % (2 * s) != 0) {
      comm.send(state.serialize(), r - s);
      break;
    }
    if (r + s < k) state.merge_serialized(comm.recv(r + s));
  }
  std::string merged = r == 0 ? state.serialize() : std::string();
  comm.broadcast(merged, 0);
  // Rank 0 too rebuilds its state from the bytes, so that every rank holds the same.
  state.clear();
  state.merge_serialized(merged);
}

}  // namespace dpl::dist
