// Starting a distributed run (docs/distributed.md): `mpirun -np K dipoorlet ... --mpirun`, or
// `srun -n K dipoorlet ... --slurm` with MPI started by Slurm's PMIx plugin. Without either
// flag the run is one process and no MPI function is ever called.
#pragma once
#include <memory>
#include <string>

#include "dist/comm.h"

namespace dpl::dist {

enum class Launcher { None, Mpirun, Slurm };

// Environment variables a launcher sets, as a lookup (getenv in the command; a map in tests).
using EnvLookup = const char* (*)(const char*);

// Throws one line saying how to launch when `l` was asked for but the environment shows no
// such launcher (mpirun: OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK; Slurm: SLURM_PROCID and
// SLURM_NTASKS).
void check_launcher(Launcher l, EnvLookup env);

// The rank an MPI launcher gave this process (OMPI_COMM_WORLD_RANK, PMIX_RANK or PMI_RANK),
// -1 when none did: ranks other than 0 keep quiet about errors that every rank meets (bad
// flags) so that the user reads them once.
int launcher_rank(EnvLookup env);
// Throws when mpirun started several processes but --mpirun was not given (each would run
// the whole job alone and write the same files).
void check_not_forgotten(Launcher l, EnvLookup env);

// MPI started for `l` (None: the local communicator, no MPI). Under Slurm, checks that MPI
// joined all of srun's tasks (a task that is alone in MPI means srun did not give MPI its
// process-management interface).
std::unique_ptr<Comm> start(Launcher l, EnvLookup env);

// Threads per rank when --threads is not given: the CPUs this rank may run on, shared by the
// ranks of its host when they all see the same CPUs (mpirun --bind-to none), or all of them
// when the launcher bound the rank to its own cores.
int default_threads(const Comm& comm);
// A warning (empty when none) when `threads` exceeds the CPUs this rank may run on.
std::string threads_warning(int threads, int cpus);

}  // namespace dpl::dist
