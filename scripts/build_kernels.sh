#!/usr/bin/env bash
# Build the native kernels with this machine's C compiler (no download):
#   semcom_blocks/phy/kernels/libldpc_minsum.so  (layered min-sum LDPC, SIMD across codewords)
#   semcom_blocks/phy/kernels/libturbo_maxlog.so (max-log-MAP LTE turbo, SIMD across codewords)
# One library each for any x86-64 CPU: the kernels pick AVX-512 / AVX2 / SSE at run time, so no
# -march flag is given. Rebuilds a library only when its C sources are newer than it.
#   scripts/build_kernels.sh                     both, to the paths above
#   scripts/build_kernels.sh OUTPUT.so           the LDPC library only, to OUTPUT.so
#   scripts/build_kernels.sh --turbo OUTPUT.so   the turbo library only, to OUTPUT.so
#   CC=clang scripts/build_kernels.sh            (default compiler: $CC, else cc)
# Exits 0 without building (a warning on stderr) when there is no C compiler: Python then
# falls back to the numba decoders.
set -euo pipefail
cd "$(dirname "$0")/.."

src_dir=semcom_blocks/phy/kernels
cc=${CC:-cc}

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build_kernels: no C compiler ($cc): skipping the native decoders (numba is used instead)" >&2
  exit 0
fi

# build OUTPUT MAIN.c OTHER-SOURCES...: compile MAIN.c into OUTPUT when a source is newer
build() {
  local out=$1 main=$2 stale=0 s
  shift
  [ -f "$out" ] || stale=1
  for s in "$@"; do
    [ "$s" -nt "$out" ] && stale=1
  done
  if [ "$stale" -eq 0 ]; then
    return 0
  fi
  echo "build_kernels: $cc -> $out"
  tmp="$out.tmp.$$"   # global: the EXIT trap removes it if the compiler fails
  trap 'rm -f "$tmp"' EXIT
  # -ffp-contract=off: no fused multiply-adds, so float32 rounds exactly as the numba references
  "$cc" -std=c11 -O3 -fPIC -shared -ffp-contract=off -fno-strict-aliasing -Wall -Wextra \
    -o "$tmp" "$main" -lm
  mv -f "$tmp" "$out"   # atomic: a running process keeps the library it loaded
  trap - EXIT
}

ldpc=("$src_dir/ldpc_minsum.c" "$src_dir/ldpc_minsum.h" "$src_dir/ldpc_minsum_body.h")
turbo=("$src_dir/turbo_maxlog.c" "$src_dir/turbo_maxlog.h" "$src_dir/turbo_maxlog_body.h")

case "${1:-}" in
  "")
    build "$src_dir/libldpc_minsum.so" "${ldpc[@]}"
    build "$src_dir/libturbo_maxlog.so" "${turbo[@]}" ;;
  --turbo)
    build "${2:?--turbo needs an output path}" "${turbo[@]}" ;;
  *)
    build "$1" "${ldpc[@]}" ;;
esac
