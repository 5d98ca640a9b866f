#!/usr/bin/env bash
# setup.sh — install what is missing (Debian packages only) and build.
# Idempotent: installs nothing when everything is there, and reuses the
# build directories. Run as root on Debian 12 (or with the packages present).
set -euo pipefail
cd "$(dirname "$0")/.."

# Quiet when all is well; the tool's own output when something fails.
quiet() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "setup: failed: $*" >&2
    exit 1
  fi
  rm -f "$log"
}

packages=(build-essential libopenblas-dev libhdf5-dev libcunit1-dev zlib1g-dev meson
          ninja-build pkg-config gnuplot-nox hdf5-tools dataset-fashion-mnist
          python3-h5py python3-numpy python3-pandas valgrind libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install packages (run with sudo)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  quiet apt-get update -qq
  quiet apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

configure() {
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    quiet meson configure "$dir" "$@"
  else
    quiet meson setup "$dir" "$@"
  fi
}
# build: optimised, warnings are errors (what users run)
configure build -Dwarning_level=3 -Dwerror=true -Dbuildtype=release
quiet ninja -C build
# build-san: the same under AddressSanitizer + UndefinedBehaviorSanitizer
# (without MPI, whose runtime the leak checker would flag)
if [ "${GF_SANITIZE:-0}" = 1 ]; then
  configure build-san -Dwarning_level=3 -Dwerror=true -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false -Dmpi=disabled
  quiet ninja -C build-san
fi
echo "setup: built ./build/gradflow"
