#!/usr/bin/env bash
# Builds libjepd_kernels.so (jepd_kernels.c) into the module's classes, so that it travels in the jar; called by
# Maven (exec-maven-plugin, generate-resources). Needs a C compiler (gcc 12 here; cc, or $CC) on x86-64 Linux.
# Elsewhere, or with JEPD_KERNELS=skip, it builds nothing and JEPD uses libtorch for those products (the backend
# says so at start-up).
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/jepd_kernels.c"
OUT="$1/libjepd_kernels.so"
if [ "${JEPD_KERNELS:-}" = skip ]; then
  echo "jepd kernels: skipped (JEPD_KERNELS=skip)"; exit 0
fi
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  echo "jepd kernels: not built on $(uname -s)-$(uname -m) (x86-64 Linux only)"; exit 0
fi
CC="${CC:-cc}"
if ! command -v "$CC" >/dev/null; then
  echo "jepd kernels: no C compiler ($CC): install gcc, or build with JEPD_KERNELS=skip to run on libtorch alone" >&2
  exit 1
fi
if [ -f "$OUT" ] && [ "$OUT" -nt "$SRC" ] && [ "$OUT" -nt "${BASH_SOURCE[0]}" ]; then exit 0; fi
mkdir -p "$1"
# -O3: at -O2 gcc kept the AVX-512 products' 24 accumulators on the stack, stored back on every step of k (8 rows:
# 30 against 40 GB/s of weights on the AMD machine of docs/PERF.md). Neither level changes a rounding (no fast-math).
"$CC" -O3 -std=gnu11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=default -o "$OUT.tmp" "$SRC"
mv "$OUT.tmp" "$OUT"
