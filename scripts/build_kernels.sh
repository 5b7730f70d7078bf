#!/usr/bin/env bash
# Build the native kernels with this machine's C compiler (no download):
#   semcom_blocks/phy/kernels/libldpc_minsum.so  (layered min-sum LDPC, SIMD across codewords)
# One library for any x86-64 CPU: the kernels pick AVX-512 / AVX2 / SSE at run time, so no
# -march flag is given. Rebuilds only when the C sources are newer than the library.
#   scripts/build_kernels.sh [OUTPUT.so]     (default: the path above)
#   CC=clang scripts/build_kernels.sh        (default compiler: $CC, else cc)
# Exits 0 without building (a warning on stderr) when there is no C compiler: Python then
# falls back to the numba decoder.
set -euo pipefail
cd "$(dirname "$0")/.."

src_dir=semcom_blocks/phy/kernels
out=${1:-$src_dir/libldpc_minsum.so}
cc=${CC:-cc}
sources=("$src_dir/ldpc_minsum.c" "$src_dir/ldpc_minsum.h" "$src_dir/ldpc_minsum_body.h")

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build_kernels: no C compiler ($cc): skipping the native LDPC decoder (numba is used instead)" >&2
  exit 0
fi
stale=0
[ -f "$out" ] || stale=1
for s in "${sources[@]}"; do
  [ "$s" -nt "$out" ] && stale=1
done
if [ "$stale" -eq 0 ]; then
  exit 0
fi
echo "build_kernels: $cc -> $out"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$cc" -std=c11 -O3 -fPIC -shared -ffp-contract=off -fno-strict-aliasing -Wall -Wextra \
  -o "$tmp" "$src_dir/ldpc_minsum.c" -lm
mv -f "$tmp" "$out"   # atomic: a running process keeps the library it loaded
