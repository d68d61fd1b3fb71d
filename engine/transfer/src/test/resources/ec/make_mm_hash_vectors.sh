#!/usr/bin/env bash
# Regenerates the reference digests pinned in MmHasherTest with tools independent of JEPD: python3 builds the
# digest input of each vLLM hasher format byte by byte, and b3sum (the BLAKE3 team's Rust implementation, the same
# crate the Python `blake3` package wraps), sha256sum and sha512sum hash it.
#   apt-get install b3sum   # Debian package
# Usage: ./make_mm_hash_vectors.sh > mm_hash_vectors.txt
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" <<'PY'
import struct, sys
out = sys.argv[1]
model = "Qwen/Qwen2.5-VL-3B-Instruct".encode()
img = bytes(((i * 31 + 7) & 0xFF) for i in range(1000))
u64 = lambda n: struct.pack("<Q", n)
fr = lambda b: u64(len(b)) + b
leaf = b"\x03"
streams = {
    "UNFRAMED": b"model_id" + model + b"image" + b"image" + img,
    "UNFRAMED_SORTED": b"image" + b"image" + img + b"model_id" + model,
    "FRAMED": fr(b"image") + leaf + fr(b"image") + leaf + fr(img) + fr(b"model_id") + leaf + fr(model),
}
for name, data in streams.items():
    open(f"{out}/{name}", "wb").write(data)
PY
for f in UNFRAMED UNFRAMED_SORTED FRAMED; do
    echo "$f blake3 $(b3sum --no-names "$dir/$f")"
    echo "$f sha256 $(sha256sum "$dir/$f" | cut -d' ' -f1)"
    echo "$f sha512 $(sha512sum "$dir/$f" | cut -d' ' -f1)"
done
