#!/usr/bin/env python3
"""Golden mm_hash vectors computed with vLLM's own MultiModalHasher (not with JEPD code).

Usage: python make_mm_hash_goldens.py UNSORTED_HASHER_PY SORTED_HASHER_PY > goldens.json
  UNSORTED_HASHER_PY: vllm/multimodal/hasher.py of a vLLM tree whose hash_kwargs iterates kwargs in call order
  SORTED_HASHER_PY:   vllm/multimodal/hasher.py of a tree whose hash_kwargs iterates sorted(kwargs.items())
Needs numpy and pillow only: torch, blake3 and the rest of vllm are replaced by stubs, which the image path
(MediaWithBytes -> original_bytes) never touches. No vLLM code lives in this file.

For each image, as a data: URL and as a file:// URL, it mirrors what vLLM's chat path feeds the hasher: the bytes
are the base64-decoded payload or the file content, the media is Image.open(...).load() converted to RGB (the
mode conversion changes the pixels, not original_bytes), and the item is MediaWithBytes(media, original_bytes,
io_config): io_config is set, as vLLM's loader sets it from PR #49975 on, when PIL did not open the image as RGB. The
hashers these goldens were made with predate that PR and never read it; make_mm_hash_framed_goldens.py's and
make_mm_hash_sorted_ioconfig_goldens.py's do.
Per era the kwargs are model_id=<model>, image=<item or uuid> and, until 2026-02-17, truncation=False.
sha256/sha512 digests come from vLLM's code end to end; for blake3 (no Python package here) the exact byte chunks
vLLM hands to hasher.update are recorded (hex) so that the Java test hashes them with commons-codec's Blake3.
"""
import base64
import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import sys
import types

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"
IMAGES = ["img_100x61.png", "noise_29x17.png", "photo_64x48.jpg", "palette_40x30.png", "rgba_33x21.png"]


def make_missing_images():
    """Deterministic JPEG, palette and RGBA test images (the repo had only RGB PNGs)."""
    base = Image.open(os.path.join(HERE, "img_100x61.png")).convert("RGB")
    targets = {
        "photo_64x48.jpg": lambda: base.resize((64, 48)).save(p("photo_64x48.jpg"), quality=85),
        "palette_40x30.png": lambda: base.resize((40, 30)).quantize(16).save(p("palette_40x30.png")),
        "rgba_33x21.png": lambda: rgba().save(p("rgba_33x21.png")),
    }
    for name, make in targets.items():
        if not os.path.exists(p(name)):
            make()


def p(name):
    return os.path.join(HERE, name)


def rgba():
    im = Image.open(p("img_100x61.png")).convert("RGBA").resize((33, 21))
    alpha = Image.linear_gradient("L").resize((33, 21))
    im.putalpha(alpha)
    return im


def install_stubs():
    @dataclasses.dataclass
    class MediaWithBytes:
        media: object
        original_bytes: bytes
        io_config: dict | None = None  # vLLM PR #49975; hashers older than it never read it

    envs = types.SimpleNamespace(VLLM_MM_HASHER_ALGORITHM="sha256")
    torch = types.ModuleType("torch")
    torch.Tensor = type("Tensor", (), {})
    logger_mod = types.ModuleType("vllm.logger")
    logger_mod.init_logger = lambda name: types.SimpleNamespace(warning=print)
    media_mod = types.ModuleType("vllm.multimodal.media")
    media_mod.MediaWithBytes = MediaWithBytes
    config_mm = types.ModuleType("vllm.config.multimodal")
    config_mm.MMHasherAlgorithm = str  # a Literal of the algorithm names in vLLM
    vllm = types.ModuleType("vllm")
    vllm.envs = envs
    mm = types.ModuleType("vllm.multimodal")
    for name, mod in {
        "torch": torch,
        "vllm": vllm,
        "vllm.envs": envs,
        "vllm.config": types.ModuleType("vllm.config"),
        "vllm.config.multimodal": config_mm,
        "vllm.logger": logger_mod,
        "vllm.multimodal": mm,
        "vllm.multimodal.media": media_mod,
    }.items():
        sys.modules[name] = mod
    return envs, MediaWithBytes


def load_hasher(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Recorder:
    """Stands in for the digest object: keeps every chunk, and digests with hashlib where it can."""

    def __init__(self, algorithm):
        self.chunks = []
        self.inner = None if algorithm == "blake3" else hashlib.new(algorithm)

    def update(self, b):
        b = bytes(b)
        self.chunks.append(b)
        if self.inner is not None:
            self.inner.update(b)

    def hexdigest(self):
        return None if self.inner is None else self.inner.hexdigest()


def run(mod, algorithm, _algorithm_first=False, **kwargs):
    recorders = []

    def factory(_algorithm):
        def new():
            r = Recorder(algorithm)
            recorders.append(r)
            return r

        return new

    mod._get_hasher_factory = factory
    if _algorithm_first:
        digest = mod.MultiModalHasher.hash_kwargs(algorithm, **kwargs)
    else:
        digest = mod.MultiModalHasher.hash_kwargs(**kwargs)
    return digest, recorders[-1].chunks


def load_package_hasher(path, name):
    """A hasher.py of a later era as a module of the stubbed vllm.multimodal package, so that its relative imports
    ("from .media import MediaWithBytes") resolve."""
    spec = importlib.util.spec_from_file_location("vllm.multimodal." + name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["vllm.multimodal." + name] = mod
    spec.loader.exec_module(mod)
    return mod


def run_with_algorithm(mod, algorithm, **kwargs):
    """As run, for the later eras' hash_kwargs(algorithm, /, **kwargs)."""
    return run(mod, algorithm, _algorithm_first=True, **kwargs)


def entry(run_fn, mod, image, **kwargs):
    """One golden entry: sha256 and sha512 digests, and the byte chunks vLLM feeds a blake3 hasher."""
    out = {}
    for algorithm in ("sha256", "sha512", "blake3"):
        digest, chunks = run_fn(mod, algorithm, model_id=MODEL, image=image, **kwargs)
        if algorithm == "blake3":
            out["blake3_chunks_hex"] = [c.hex() if len(c) < 64 else "@image" for c in chunks]
            assert all(c == image.original_bytes for c in chunks if len(c) >= 64)
        else:
            out[algorithm] = digest
    return out


def load_like_vllm(url, MediaWithBytes):
    if url.startswith("data:"):
        data = base64.b64decode(url.split(",", 1)[1])
    elif url.startswith("file://"):
        with open(url[len("file://"):], "rb") as f:
            data = f.read()
    else:
        raise ValueError(url)
    image = Image.open(io.BytesIO(data))
    image.load()
    io_config = None
    if image.mode != "RGB":
        image = image.convert("RGB")  # vLLM's convert_image_mode (RGBA: alpha composite); pixels only
        # vLLM's ImageMediaIO since PR #49975: the decode settings go with the bytes when decoding altered the
        # image (here: the default image_mode and rgba_background_color), so that they take part in the hash.
        io_config = IO_CONFIG
    return MediaWithBytes(image, data, io_config)


IO_CONFIG = {"image_mode": "RGB", "rgba_background_color": (255, 255, 255)}


def main():
    make_missing_images()
    envs, MediaWithBytes = install_stubs()
    hashers = {"unsorted": load_hasher(sys.argv[1], "hasher_unsorted"), "sorted": load_hasher(sys.argv[2], "hasher_sorted")}
    # format name in JEPD -> (hasher variant, extra kwargs the chat path adds)
    formats = {
        "UNFRAMED_TRUNCATION": ("unsorted", {"truncation": False}),
        "SORTED_TRUNCATION": ("sorted", {"truncation": False}),
        "UNFRAMED": ("unsorted", {}),
        "UNFRAMED_SORTED": ("sorted", {}),
    }
    cases = []
    for name in IMAGES:
        with open(p(name), "rb") as f:
            raw = f.read()
        mime = "image/jpeg" if name.endswith(".jpg") else "image/png"
        urls = {"data": f"data:{mime};base64," + base64.b64encode(raw).decode(), "file": "file://" + p(name)}
        for kind, url in urls.items():
            item = load_like_vllm(url, MediaWithBytes)
            assert item.original_bytes == raw
            cases.append(case(hashers, formats, name, kind, image=item))
    for u in ["my-uuid-123", "a.b_c-D"]:
        cases.append(case(hashers, formats, None, "uuid", image=u, uuid=u))
    json.dump({"model": MODEL, "cases": cases}, sys.stdout, indent=1)
    print()


def case(hashers, formats, image_name, kind, image, uuid=None):
    out = {"image": image_name, "url_kind": kind, "uuid": uuid, "formats": {}}
    for fmt, (variant, extra) in formats.items():
        out["formats"][fmt] = entry(run, hashers[variant], image, **extra)
    return out


if __name__ == "__main__":
    main()
