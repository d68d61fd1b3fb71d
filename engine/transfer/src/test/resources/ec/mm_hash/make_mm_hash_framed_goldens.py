#!/usr/bin/env python3
"""Golden mm_hash vectors of the framed era, computed with vLLM's own framed MultiModalHasher (not with JEPD code).

Usage: python make_mm_hash_framed_goldens.py FRAMED_HASHER_PY > goldens_framed.json
  FRAMED_HASHER_PY: vllm/multimodal/hasher.py of a vLLM tree with the framing of PR #54283 (its MultiModalHasher
                    says "Every method here yields *framed* chunks"; hash_kwargs(algorithm, /, **kwargs) sorts them)
Needs numpy and pillow only; the stubs and the image loading are make_mm_hash_goldens.py's (same folder), and the
inputs are its images and uuids. No vLLM code lives in this file.

What the chat path of that era hashes (vllm/multimodal/processing/inputs.py, ProcessorInputs.get_mm_item_hash):
hash_kwargs(algorithm, model_id=<model>, image=<item>) plus media_io_kwargs / mm_processor_kwargs only when the
request sets them (none here), and a uuid without such kwargs is the key verbatim (nothing hashed). The item is
MediaWithBytes(image, original_bytes, io_config): io_config is set (PR #49975) when decoding changed the image's
mode, i.e. when PIL did not open it as RGB (the palette and RGBA images here), and then the hasher hashes the
mapping {"io_config": ..., "data": original_bytes} in the bytes' place.

The uuid cases hash image=<uuid> (a str leaf) as the truncation eras' goldens do; the framed chat path itself
hashes a uuid only alongside request kwargs.

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


def case(mod, image_name, kind, image, uuid=None):
    io_config = None if uuid is not None else image.io_config
    out = {
        "image": image_name,
        "url_kind": kind,
        "uuid": uuid,
        "pil_mode": None if uuid is not None else image.media_mode,
        "io_config": None if io_config is None else {k: list(v) if isinstance(v, tuple) else v
                                                    for k, v in io_config.items()},
        "formats": {"FRAMED": base.entry(base.run_with_algorithm, mod, image)},
    }
    return out


def main():
    base.make_missing_images()
    _, media_with_bytes = base.install_stubs()
    mod = base.load_package_hasher(sys.argv[1], "hasher")
    assert "framed" in (mod.MultiModalHasher.__doc__ or ""), "not a framed-era hasher.py"
    cases = []
    for name in base.IMAGES:
        with open(base.p(name), "rb") as f:
            raw = f.read()
        mime = "image/jpeg" if name.endswith(".jpg") else "image/png"
        urls = {"data": f"data:{mime};base64," + base64.b64encode(raw).decode(), "file": "file://" + base.p(name)}
        for kind, url in urls.items():
            item = base.load_like_vllm(url, media_with_bytes)
            assert item.original_bytes == raw
            item.media_mode = Image.open(io.BytesIO(raw)).mode  # recorded only; the hasher never reads it
            cases.append(case(mod, name, kind, item))
    for u in ["my-uuid-123", "a.b_c-D"]:
        cases.append(case(mod, None, "uuid", u, uuid=u))
    json.dump({"model": base.MODEL, "hasher": "framed (PR #54283)", "cases": cases}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
