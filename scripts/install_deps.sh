#!/usr/bin/env bash
# Installs everything the project needs on Debian 12 (bookworm): the compiler and CMake, the
# libraries it builds against, the test data (libonnx-testdata), Node.js, and ONNX Runtime's
# Node binding (the reference for the parity tests and the benchmark) into
# tests/tools/node_modules at the version pinned in tests/tools/package-lock.json.
# Idempotent (only what is missing is installed), quiet and non-interactive. Run as root, or
# as a user with password-less sudo.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PACKAGES=(
  build-essential cmake g++ pkg-config
  libonnx-dev libdnnl-dev libprotobuf-dev protobuf-compiler
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libstb-dev libjpeg-dev libpng-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-testdata
  libopenmpi-dev openmpi-bin  # --mpirun/--slurm and their tests (docs/distributed.md)
  chromium  # the profiling report test renders report.html headless
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js may come from another source (e.g. NodeSource, whose nodejs package ships npm):
# only install Debian's when the commands are absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "install_deps.sh: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  echo "install_deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
fi

# Slurm and munge for the --slurm test, which starts a private one-node Slurm
# (tests/dist/slurm_single_node.sh). Best effort: where they cannot be installed the test
# says so and is skipped; nothing else needs them.
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    SUDO=(false)
  fi
  echo "install_deps.sh: installing slurm-wlm munge (for the Slurm test)"
  "${SUDO[@]}" apt-get update -qq >/dev/null 2>&1 || true
  if ! DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold slurm-wlm munge >/dev/null 2>&1; then
    echo "install_deps.sh: slurm-wlm/munge could not be installed: the Slurm test will be skipped" >&2
  fi
fi

# ONNX Runtime for Node, exactly the locked version. --ignore-scripts: the package's install
# script only fetches optional GPU binaries; the CPU library is inside the package.
TOOLS="$ROOT/tests/tools"
want="$(node -p "require('$TOOLS/package.json').dependencies['onnxruntime-node']")"
have="$(cd "$TOOLS" && node -p "try { require('./node_modules/onnxruntime-node/package.json').version } catch (e) { '' }")"
if [ "$want" != "$have" ] || ! (cd "$TOOLS" && node -e "require('./node_modules/onnxruntime-node')" >/dev/null 2>&1); then
  echo "install_deps.sh: installing onnxruntime-node $want into tests/tools/node_modules"
  (cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  (cd "$TOOLS" && node -e "require('./node_modules/onnxruntime-node')") ||
    { echo "install_deps.sh: onnxruntime-node does not load" >&2; exit 1; }
fi
echo "install_deps.sh: dependencies are in place"
