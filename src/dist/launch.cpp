// Starting a distributed run (dist/launch.h).
#include "dist/launch.h"

#include <cstdlib>
#include <fmt/format.h>
#include <thread>

#include "util/error.h"
#include "util/omp_env.h"

namespace dpl::dist {

namespace {

long env_int(EnvLookup env, const char* name) {
  const char* v = env(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end && *end == '\0' ? n : -1;
}

}  // namespace

int launcher_rank(EnvLookup env) {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"}) {
    const long r = env_int(env, name);
    if (r >= 0) return static_cast<int>(r);
  }
  return -1;
}

void check_not_forgotten(Launcher l, EnvLookup env) {
  if (l != Launcher::None) return;
  const long size = std::max(env_int(env, "OMPI_COMM_WORLD_SIZE"), env_int(env, "PMI_SIZE"));
  DPL_CHECK(size <= 1,
            "this process is one of {} started by mpirun: add --mpirun so that they share the work (without it "
            "each one would run the whole job alone and write the same files)",
            size);
  const long tasks = env_int(env, "SLURM_STEP_NUM_TASKS");
  DPL_CHECK(!(env("PMIX_RANK") && tasks > 1),
            "this process is one of {} tasks started by srun: add --slurm so that they share the work (without it "
            "each one would run the whole job alone and write the same files)",
            tasks);
}

void check_launcher(Launcher l, EnvLookup env) {
  if (l == Launcher::Mpirun) {
    DPL_CHECK(env("OMPI_COMM_WORLD_SIZE") || env("PMIX_RANK") || env("PMI_RANK"),
              "--mpirun: this process was not started by an MPI launcher; run it as `mpirun -np K dipoorlet ... "
              "--mpirun` (as root add --allow-run-as-root), or drop --mpirun for one process");
  } else if (l == Launcher::Slurm) {
    DPL_CHECK(env_int(env, "SLURM_PROCID") >= 0 && (env_int(env, "SLURM_NTASKS") > 0 || env_int(env, "SLURM_NPROCS") > 0),
              "--slurm: SLURM_PROCID/SLURM_NTASKS are not set, so this is not a task started by srun; run it as "
              "`srun -n K -K --mpi=pmix dipoorlet ... --slurm` inside an allocation, or use mpirun with --mpirun");
  }
}

std::unique_ptr<Comm> start(Launcher l, EnvLookup env) {
  if (l == Launcher::None) return new_local_comm();
  check_launcher(l, env);
  std::unique_ptr<Comm> comm = mpi_comm();
  if (l == Launcher::Slurm) {
    long tasks = env_int(env, "SLURM_NTASKS");
    if (tasks <= 0) tasks = env_int(env, "SLURM_NPROCS");
    DPL_CHECK(comm->size() == tasks,
              "--slurm: srun started {} tasks but MPI joined {} of them: srun must hand MPI its process interface "
              "(`srun --mpi=pmix`, `srun --mpi=list` shows what this Slurm has), or start the ranks with mpirun "
              "inside the allocation and use --mpirun",
              tasks, comm->size());
    const long procid = env_int(env, "SLURM_PROCID");
    DPL_CHECK(procid == comm->rank(), "--slurm: task SLURM_PROCID={} became MPI rank {}", procid, comm->rank());
  }
  return comm;
}

int default_threads(const Comm& comm) {
  const int cpus = usable_cpus();
  const int host = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // A rank bound to a subset of the host's CPUs has them to itself; unbound ranks share all.
  const int share = cpus < host ? cpus : cpus / std::max(1, comm.local_size());
  return std::max(1, share);
}

std::string threads_warning(int threads, int cpus) {
  if (threads <= cpus) return "";
  return fmt::format("--threads {} but this rank may run on {} CPU(s) only (mpirun binds ranks to cores by default: "
                     "add --bind-to none, or lower --threads)",
                     threads, cpus);
}

}  // namespace dpl::dist
