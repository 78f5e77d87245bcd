// Builds without MPI (libopenmpi-dev absent at configure time): --mpirun and --slurm say so.
#include "dist/comm.h"
#include "util/error.h"

namespace dpl::dist {

bool mpi_built() { return false; }

std::unique_ptr<Comm> mpi_comm() {
  fail("this dipoorlet was built without MPI (install libopenmpi-dev and openmpi-bin, then configure and build "
       "again): --mpirun and --slurm are not available");
}

}  // namespace dpl::dist
