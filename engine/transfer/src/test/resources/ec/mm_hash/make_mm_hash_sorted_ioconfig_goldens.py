#!/usr/bin/env python3
"""Golden mm_hash vectors of vLLM's sorted era after PR #49975 (io_config hashed) and before the framing of PR #54283,
computed with that era's own MultiModalHasher (not with JEPD code).

Usage: python make_mm_hash_sorted_ioconfig_goldens.py HASHER_PY [CROSS_CHECK_HASHER_PY ...] > goldens_sorted_ioconfig.json
  HASHER_PY: vllm/multimodal/hasher.py of a vLLM tree whose hash_kwargs(algorithm, /, **kwargs) iterates
             sorted(kwargs.items()), whose chunks are NOT framed (iter_item_to_bytes yields key.encode() and then the
             value's bytes), and whose MediaWithBytes image branch hashes {"io_config": ..., "data": original_bytes}
             when io_config is set. The goldens in the repository were made with dlesage-nvidia/vllm
             5f65eedb8edfd1aa2b5ddeeb0785bec755293736 (a fork of vLLM main of that window).
  CROSS_CHECK_HASHER_PY: further hasher.py files of the same era (e.g. Isotr0py/vllm
             00963e35bd3152fda356972a36f2eaaa1ce190e2); each must give the same digests and chunks, else the script
             fails.
Needs numpy and pillow only; the stubs, the images and the loading are make_mm_hash_goldens.py's (same folder), plus a
gray (L) PNG and a CMYK JPEG made here if missing. No vLLM code lives in this file.

What that era's chat path hashes: hash_kwargs(algorithm, model_id=<model>, image=<item>) (kwargs sorted: "image" <
"model_id"); a uuid without request kwargs is the key verbatim (nothing hashed). The item is
MediaWithBytes(image, original_bytes, io_config): vLLM's ImageMediaIO sets io_config = {"image_mode": "RGB",
"rgba_background_color": (255, 255, 255)} (its defaults) when converting changed the image, i.e. when PIL did not open
it as RGB (palette, RGBA, gray, CMYK here). The unframed flattening then feeds, in the bytes' place:
  "image" "image.io_config.image_mode" "RGB" "image.io_config.rgba_background_color.0" <int64 255> ...".1" ...".2"
  "image.data" <original bytes>
The uuid cases hash image=<uuid> (a str leaf) as the other goldens do.

sha256/sha512 digests come from vLLM's code end to end; for blake3 (no Python package here) the exact byte chunks
vLLM hands to hasher.update are recorded (hex; "@image" for the image bytes) so that the Java test hashes them with
commons-codec's Blake3.
"""
import base64
import io
import json
import os
import sys

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_mm_hash_goldens as base  # noqa: E402  (same folder: stubs, images, loading)

EXTRA_IMAGES = ["gray_27x19.png", "cmyk_24x16.jpg"]


def make_extra_images():
    """Deterministic gray and CMYK test images (PIL opens them as L and CMYK, so vLLM converts them)."""
    src = Image.open(base.p("img_100x61.png")).convert("RGB")
    if not os.path.exists(base.p("gray_27x19.png")):
        src.resize((27, 19)).convert("L").save(base.p("gray_27x19.png"))
    if not os.path.exists(base.p("cmyk_24x16.jpg")):
        src.resize((24, 16)).convert("CMYK").save(base.p("cmyk_24x16.jpg"), quality=90)


def entry(mod, image):
    return base.entry(base.run_with_algorithm, mod, image)


def main():
    base.make_missing_images()
    make_extra_images()
    _, media_with_bytes = base.install_stubs()

    class LazyMedia:  # imported by some hashers of the era; never instantiated here
        pass

    sys.modules["vllm.multimodal.media"].LazyMedia = LazyMedia
    mods = [base.load_package_hasher(path, f"hasher_{i}") for i, path in enumerate(sys.argv[1:])]
    for mod in mods:
        assert "_framed" not in vars(mod), "a framed-era hasher.py"
    cases = []
    inputs = []
    for name in base.IMAGES + EXTRA_IMAGES:
        with open(base.p(name), "rb") as f:
            raw = f.read()
        mime = "image/jpeg" if name.endswith(".jpg") else "image/png"
        urls = {"data": f"data:{mime};base64," + base64.b64encode(raw).decode(), "file": "file://" + base.p(name)}
        for kind, url in urls.items():
            item = base.load_like_vllm(url, media_with_bytes)
            assert item.original_bytes == raw
            inputs.append((name, kind, None, item, Image.open(io.BytesIO(raw)).mode))
    for u in ["my-uuid-123", "a.b_c-D"]:
        inputs.append((None, "uuid", u, u, None))
    for name, kind, uuid, image, mode in inputs:
        io_config = None if uuid is not None else image.io_config
        e = entry(mods[0], image)
        for other in mods[1:]:
            assert entry(other, image) == e, f"hashers disagree on {name} {kind}"
        cases.append({
            "image": name,
            "url_kind": kind,
            "uuid": uuid,
            "pil_mode": mode,
            "io_config": None if io_config is None else {k: list(v) if isinstance(v, tuple) else v
                                                        for k, v in io_config.items()},
            "formats": {"SORTED_IO_CONFIG": e},
        })
    json.dump({"model": base.MODEL, "hasher": "sorted, unframed, io_config (vLLM PR #49975 .. PR #54283)",
               "cases": cases}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
