#!/usr/bin/env bash
# Set up everything gr-semcom needs on Debian 12; idempotent and quick when already done.
#   1. Debian packages (GNU Radio, UHD, FFmpeg, CMake, ...), installed only when missing.
#   2. .venv from Debian's /usr/bin/python3 with --system-site-packages (GNU Radio's bindings
#      import only there), with pip constrained by constraints.txt (numpy<2, torch==2.13.0).
#   3. The project installed editable, with its test, large-model and cluster (Ray) extras.
#   4. The native kernels (scripts/build_kernels.sh), rebuilt only when their C sources change.
#   5. numba's cache warmed (python -m semcom_blocks.phy.warm): every phy kernel compiled once, so
#      that a fresh process decodes its first burst in ~0.1 s, not ~20 s; ~1 s when already warm.
# A stamp file records the inputs of step 3 so that a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-numba, python3-msgpack, python3-av: what the installed blocks need beyond GNU Radio and
# numpy when GNU Radio Companion runs a flowgraph with Debian's own interpreter (outside .venv;
# PyAV writes the sink's .mp4); gir1.2-gtk-3.0: GTK introspection, without which GRC cannot start.
APT_PKGS=(gnuradio python3-uhd uhd-host ffmpeg cmake make python3-venv python3-dev g++ python3-numba
          python3-msgpack python3-av gir1.2-gtk-3.0)

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv from /usr/bin/python3 (with system site packages)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi

stamp=.venv/.gr-semcom-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing gr-semcom (editable) and its pinned dependencies"
  export PIP_CONSTRAINT="$PWD/constraints.txt"
  .venv/bin/python -m pip install -q --upgrade "pip>=23" "setuptools>=64" wheel
  # cluster: Ray, for `semcom sweep --ray` and its tests (an optional extra for users).
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[test,large,cluster]"
  echo "$want" > "$stamp"
fi
.venv/bin/python -c "import gnuradio.gr, numba, numpy; assert numpy.__version__ < '2'" \
  || { echo "setup: the environment is broken (GNU Radio, numba or numpy<2 missing); delete .venv and retry" >&2; exit 1; }
# 4. Native kernels: compiled with this machine's C compiler, nothing downloaded; a no-op when
#    the library is newer than its sources (without a compiler, Python falls back to numba).
bash scripts/build_kernels.sh
# 5. Warm start: compile the numba kernels into their cache now rather than on the first burst.
.venv/bin/python -m semcom_blocks.phy.warm --quiet \
  || echo "setup: warming numba's cache failed; the first burst of each process will compile it" >&2
