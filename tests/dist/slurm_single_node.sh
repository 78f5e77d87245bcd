#!/usr/bin/env bash
# slurm_single_node.sh - run a command inside a throw-away, single-node Slurm
# cluster (munged + slurmctld + slurmd, all private to a temporary folder).
#
# Usage:
#   slurm_single_node.sh [-t SECONDS] [-s SECONDS] [-v] -- COMMAND [ARGS...]
#
#   -t SECONDS  time limit for COMMAND (default: $SLURM_SINGLE_NODE_TIMEOUT or 300)
#   -s SECONDS  time limit for the daemons to come up (default:
#               $SLURM_SINGLE_NODE_START_TIMEOUT or 30)
#   -v          print the daemon logs to stderr when something fails
#               (also: SLURM_SINGLE_NODE_VERBOSE=1)
#
#   Environment:
#     SLURM_SINGLE_NODE_CPUS  CPUs to declare for the node (default: nproc; a
#                             larger value lets e.g. `srun -n 2` run on 1 core)
#
# COMMAND runs with SLURM_CONF pointing at the private slurm.conf, so plain
# `srun`, `sinfo`, `squeue`, `sbatch` talk to the private cluster, e.g.
#   slurm_single_node.sh -- srun -n 2 --mpi=pmix ./mpi_program
# (Debian's Open MPI 4.1 has no PMI1/PMI2 support, so an MPI program started by
# srun needs --mpi=pmix to form one MPI_COMM_WORLD; without it MPI_Init aborts in
# every task. Export SLURM_MPI_TYPE=pmix instead of passing --mpi.)
#
# Exit status: COMMAND's exit status (124 if it hit the time limit);
#              77 (with one line on stderr starting "slurm_single_node: SKIP:")
#              when Slurm/munge are missing or the daemons cannot start here;
#              2 on a usage error.
# All daemons, job steps and the temporary folder are removed on every exit.

set -u

prog=slurm_single_node
cmd_timeout=${SLURM_SINGLE_NODE_TIMEOUT:-300}
start_timeout=${SLURM_SINGLE_NODE_START_TIMEOUT:-30}
verbose=${SLURM_SINGLE_NODE_VERBOSE:-0}

usage() {
  sed -n '5,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    -t) [ $# -ge 2 ] || usage; cmd_timeout=$2; shift 2 ;;
    -s) [ $# -ge 2 ] || usage; start_timeout=$2; shift 2 ;;
    -v) verbose=1; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage
case "$cmd_timeout$start_timeout" in *[!0-9]*) usage ;; esac

dir=""
tag=""
pids=()            # daemons we started (munged, slurmctld, slurmd)
cmd_pid=""         # the timeout(1) process wrapping COMMAND

log() { echo "$prog: $*" >&2; }

dump_logs() {
  [ "$verbose" = 1 ] || return 0
  [ -n "$dir" ] && [ -d "$dir/log" ] || return 0
  local f
  for f in "$dir"/log/*; do
    [ -f "$f" ] || continue
    echo "----- $f (last 40 lines) -----" >&2
    tail -n 40 "$f" >&2
  done
}

skip() {
  dump_logs
  echo "$prog: SKIP: $*" >&2
  exit 77
}

alive() { kill -0 "$1" 2>/dev/null; }

# PIDs of processes carrying our tag in their (initial) environment:
# slurmstepd (inherits slurmd's environment) and the job tasks / COMMAND
# (inherit the tagged environment COMMAND is started with).
tagged_pids() {
  [ -n "$tag" ] || return 0
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    if tr '\0' '\n' 2>/dev/null < "/proc/$p/environ" | grep -qxF "SLURM_SINGLE_NODE_TAG=$tag"; then
      echo "$p"
    fi
  done
}

cleanup() {
  local rc=$? i p left
  trap - EXIT INT TERM HUP
  if [ -n "$cmd_pid" ] && alive "$cmd_pid"; then
    kill -TERM "$cmd_pid" 2>/dev/null      # timeout passes it on to COMMAND
    for i in $(seq 1 40); do alive "$cmd_pid" || break; sleep 0.25; done
    kill -KILL "$cmd_pid" 2>/dev/null
    wait "$cmd_pid" 2>/dev/null
  fi
  if [ -n "$dir" ]; then
    if [ ${#pids[@]} -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
      # Cancel whatever is still queued or running, give steps a moment.
      timeout 5 scancel --quiet --user="$(id -un)" >/dev/null 2>&1
      for i in 1 2 3 4 5 6 7 8 9 10; do
        [ -z "$(timeout 3 squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.5
      done
    fi
    # Stop the daemons (reverse start order), then any tagged leftovers.
    for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null; done
    for i in $(seq 1 20); do
      left=0
      for p in "${pids[@]}"; do alive "$p" && left=1; done
      [ $left = 0 ] && break
      sleep 0.25
    done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in $(tagged_pids); do kill -TERM "$p" 2>/dev/null; done
    sleep 0.5
    for p in $(tagged_pids); do kill -KILL "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    [ "$rc" = 0 ] || [ "$rc" = 77 ] || dump_logs
    case "$dir" in
      */slurm1n.*) rm -rf -- "$dir" ;;
    esac
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- prerequisites -------------------------------------------------------
for b in munged munge unmunge slurmctld slurmd srun sinfo squeue scancel timeout; do
  command -v "$b" >/dev/null 2>&1 ||
    skip "'$b' not found (install Debian packages slurm-wlm and munge)"
done

node=$(hostname -s 2>/dev/null) || node=""
[ -n "$node" ] || skip "cannot determine the short host name"
user=$(id -un)
ncpu=$(nproc 2>/dev/null || echo 1)
cpus=${SLURM_SINGLE_NODE_CPUS:-$ncpu}
case "$cpus" in ''|*[!0-9]*|0) cpus=$ncpu ;; esac

# ---- private folder ------------------------------------------------------
dir=$(mktemp -d "${TMPDIR:-/tmp}/slurm1n.XXXXXX") || { dir=""; skip "mktemp failed"; }
# munged wants the socket folder searchable by all and nothing writable by others.
chmod 755 "$dir"
mkdir -p "$dir"/{munge,state,spool,run,log,tmp} && chmod 755 "$dir/munge" ||
  skip "cannot create folders under $dir"
tag=$dir

# ---- free port pair (SlurmctldPort, SlurmdPort) --------------------------
port_used() {  # port number -> 0 if some socket already uses it locally
  local hex
  hex=$(printf '%04X' "$1")
  awk -v h="$hex" 'NR > 1 { split($2, a, ":"); if (a[2] == h) { f = 1; exit } }
                   END { exit f ? 0 : 1 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
ctld_port=""
for i in $(seq 1 50); do
  p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
  if ! port_used "$p" && ! port_used $((p + 1)); then ctld_port=$p; break; fi
done
[ -n "$ctld_port" ] || skip "no free TCP port pair found"
slurmd_port=$((ctld_port + 1))

# ---- munge ---------------------------------------------------------------
sock=$dir/munge/munge.socket
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null &&
  chmod 400 "$dir/munge/munge.key" || skip "cannot write a munge key"

# -F: foreground (backgrounded here, so $! is the daemon itself).
env SLURM_SINGLE_NODE_TAG="$tag" munged -F \
  --socket="$sock" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
  --seed-file="$dir/munge/munged.seed" </dev/null >/dev/null 2>>"$dir/log/munged.log" &
pids+=($!)
for i in $(seq 1 40); do
  [ -S "$sock" ] && break
  alive "${pids[0]}" || break
  sleep 0.25
done
timeout 5 munge -n -S "$sock" 2>/dev/null | timeout 5 unmunge -S "$sock" >/dev/null 2>&1 ||
  skip "munged cannot run here (see $dir/log/munged.log with -v)"

# ---- slurm.conf ----------------------------------------------------------
conf=$dir/slurm.conf
: > "$dir/plugstack.conf"
cat > "$conf" <<EOF
ClusterName=slurm1n
SlurmctldHost=$node(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
TmpFS=$dir/tmp
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
InactiveLimit=0
KillWait=5
MinJobAge=10
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$conf

# ---- slurmctld + slurmd --------------------------------------------------
t0=$(date +%s.%N)
env SLURM_SINGLE_NODE_TAG="$tag" slurmctld -D -i -f "$conf" \
  </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
pids+=($!); ctld_pid=$!
env SLURM_SINGLE_NODE_TAG="$tag" slurmd -D -f "$conf" -N "$node" \
  </dev/null >>"$dir/log/slurmd.out" 2>&1 &
pids+=($!); slurmd_pid=$!

deadline=$(( $(date +%s) + start_timeout ))
state=""
while :; do
  alive "$ctld_pid" || skip "slurmctld exited during start-up (see logs with -v)"
  alive "$slurmd_pid" || skip "slurmd exited during start-up (see logs with -v)"
  state=$(timeout 5 sinfo -h -n "$node" -o %t 2>/dev/null | head -n 1)
  case "$state" in idle|mix|alloc) break ;; esac
  [ "$(date +%s)" -lt "$deadline" ] ||
    skip "Slurm node '$node' not idle after ${start_timeout}s (state: '${state:-none}')"
  sleep 0.5
done
t1=$(date +%s.%N)
[ "$verbose" = 1 ] &&
  log "cluster up in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s (node $node, $cpus CPUs, ports $ctld_port/$slurmd_port, $dir)"

# ---- the command ---------------------------------------------------------
# Run in the background and wait, so INT/TERM reach the trap at once; the
# explicit <&0 keeps the caller's stdin (bash would give /dev/null otherwise).
env SLURM_SINGLE_NODE_TAG="$tag" timeout -k 10 "$cmd_timeout" "$@" <&0 &
cmd_pid=$!
wait "$cmd_pid"
rc=$?
cmd_pid=""
[ $rc = 124 ] && log "command timed out after ${cmd_timeout}s: $*"
exit $rc
