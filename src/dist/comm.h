// Communication between the ranks of a distributed run (docs/distributed.md). Stages call
// this interface only; `local_comm()` is the one-process implementation that runs without
// --mpirun/--slurm (no MPI call at all), `mpi_comm()` the MPI one (dist/comm_mpi.cpp, the only
// file that includes mpi.h).
//
// Every collective must be called by every rank, in the same order. Reductions give every
// rank bit-identical values (one rank computes them and sends them to the others), so that
// parameters updated from reduced gradients stay identical on all ranks.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace dpl::dist {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks on this host (threads per rank default to cores / local ranks).
  virtual int local_size() const = 0;
  bool root() const { return rank() == 0; }
  bool distributed() const { return size() > 1; }

  // Element-wise reductions over ranks, in place (observer state, min/max included, is merged
  // through dist/reduce.h instead).
  virtual void sum(std::span<double> v) = 0;
  virtual void sum(std::span<float> v) = 0;
  virtual void max(std::span<double> v) = 0;
  // Every rank's bytes, in rank order.
  virtual std::vector<std::string> allgather(const std::string& bytes) = 0;
  // `bytes` of rank `root` on every rank.
  virtual void broadcast(std::string& bytes, int root) = 0;
  // Point to point (the tree of dist/reduce.h): a matching recv(from) on rank `to`.
  virtual void send(const std::string& bytes, int to) = 0;
  virtual std::string recv(int from) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the run (a rank that failed alone must not leave the others waiting
  // in a collective).
  [[noreturn]] virtual void abort(int code) = 0;

  double sum(double x) {
    sum(std::span<double>(&x, 1));
    return x;
  }
};

// The one-process communicator (rank 0 of 1).
Comm& local_comm();
std::unique_ptr<Comm> new_local_comm();

// True when this build has MPI (comm_mpi.cpp compiled in).
bool mpi_built();
// Initializes MPI (MPI_Init_thread, funneled) and returns MPI_COMM_WORLD's communicator;
// MPI is finalized when it is destroyed. Throws when the build has no MPI.
std::unique_ptr<Comm> mpi_comm();

}  // namespace dpl::dist
