#!/usr/bin/env python3
"""Makes the reference files that the dev.jepd.engine.media tests compare against.

Run from the repository root with a Python that has transformers, pillow and numpy:

    python3 -m venv /tmp/hfvenv && /tmp/hfvenv/bin/pip install transformers pillow numpy safetensors
    /tmp/hfvenv/bin/python engine/src/test/resources/media/make_media_refs.py

Made with transformers 5.18.0, Pillow 12.3.0 (libjpeg-turbo 3.1.4), numpy 2.4.6, safetensors 0.8.0.
The build never runs this script; its outputs are committed next to it. Every expected value comes from
Hugging Face's or Pillow's own code, never from the Java implementation under test.

Outputs (all under engine/src/test/resources/media/):
  smart_resize_cases.csv   transformers' smart_resize on (h, w, factor, min_pixels, max_pixels)
  src/*.png                the golden images and a synthetic one, sources for the resize references
  bicubic/index.csv        PIL Image.resize(BICUBIC) of those sources; bicubic/*.rgb raw HWC uint8
  decode/index.csv         encoded files in decode/ and the RGB that vLLM hands the HF processor
                           (vLLM's convert_image_mode: RGBA is pasted over white, every other mode
                           goes through PIL's convert("RGB")); decode/*.rgb raw HWC uint8
  processor/*.safetensors  Qwen2VLImageProcessorPil outputs (pixel_values, image_grid_thw) for cases
                           the golden fixture does not cover (upscale to min_pixels, max_pixels override,
                           patch 16 with mean/std 0.5)
"""

import csv
import io
import os
import struct
import sys
import zlib

import numpy as np
import PIL
import transformers
from PIL import Image, ImageCms, features
from safetensors.numpy import save_file
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize  # a copy of the torch one

ROOT = os.path.join("engine", "src", "test", "resources", "media")
GOLDEN_IMAGES = os.path.join("models", "src", "test", "resources", "golden", "images")


def out(*parts):
    path = os.path.join(ROOT, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------
# smart_resize
# ---------------------------------------------------------------------------------------------
def smart_resize_cases():
    default = (28, 56 * 56, 28 * 28 * 1280)
    cases = []
    # Golden sizes and common photo sizes.
    for h, w in [(84, 112), (61, 100), (480, 640), (1080, 1920), (3024, 4032), (720, 1280), (1, 1), (27, 27),
                 (28, 28), (13, 400), (600, 3), (2000, 10), (10, 2000), (15, 3000), (56, 56), (100, 100)]:
        cases.append((h, w) + default)
    # Exact .5 ties of h/28 (round half to even: 14/28 = 0.5 -> 0, 42/28 = 1.5 -> 2, 70/28 = 2.5 -> 2).
    for h in [14, 42, 70, 98, 126, 154, 182, 210, 1414, 1442]:
        cases.append((h, 294) + default)
        cases.append((518, h) + default)
    # Ties with factor 32 (Qwen3-VL: patch 16, merge 2).
    for h in [16, 48, 80, 112, 144, 176]:
        cases.append((h, 400, 32, 64 * 64, 16384 * 32 * 32))
    # Tiny images upscaled to min_pixels.
    for h, w in [(5, 7), (20, 30), (33, 47), (50, 50), (1, 150), (150, 1), (3, 500)]:
        cases.append((h, w) + default)
        cases.append((h, w, 28, 128 * 28 * 28, 28 * 28 * 1280))
    # Huge images downscaled to max_pixels, and max_pixels overrides (vLLM mm_processor_kwargs).
    for h, w in [(8000, 6000), (10000, 10000), (4096, 4096), (12000, 800), (799, 11999), (5000, 31)]:
        cases.append((h, w) + default)
        cases.append((h, w, 28, 3136, 256 * 28 * 28))
    for h, w in [(84, 112), (61, 100), (640, 480), (1000, 1000)]:
        cases.append((h, w, 28, 3136, 3136))
        cases.append((h, w, 28, 3136, 1003520))
        cases.append((h, w, 28, 200704, 1003520))
    # Aspect ratio: exactly 200 is accepted, above is rejected.
    for h, w in [(1, 200), (200, 1), (2, 400), (1, 201), (2, 401), (402, 2), (5, 1001), (10, 2001)]:
        cases.append((h, w) + default)
    # A sweep of odd sizes.
    rng = np.random.default_rng(7)
    for _ in range(40):
        h = int(rng.integers(1, 3000))
        w = int(rng.integers(max(1, h // 150), min(20000, h * 150)))
        cases.append((h, w) + default)
    with open(out("smart_resize_cases.csv"), "w", newline="") as f:
        f.write("# transformers %s smart_resize(height, width, factor, min_pixels, max_pixels);"
                " error = the ValueError it raised (empty when none)\n" % transformers.__version__)
        wr = csv.writer(f)
        wr.writerow(["height", "width", "factor", "min_pixels", "max_pixels", "resized_height", "resized_width",
                     "error"])
        for h, w, factor, mn, mx in cases:
            try:
                rh, rw = smart_resize(h, w, factor=factor, min_pixels=mn, max_pixels=mx)
                wr.writerow([h, w, factor, mn, mx, rh, rw, ""])
            except ValueError as e:
                wr.writerow([h, w, factor, mn, mx, -1, -1, str(e)])
    print("smart_resize:", len(cases), "cases")


# ---------------------------------------------------------------------------------------------
# bicubic resize
# ---------------------------------------------------------------------------------------------
def synthetic(w, h, seed):
    """Noise with hard edges: bicubic overshoot gets clipped at 0 and 255."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    a[:, : w // 3, 0] = 255
    a[: h // 2, :, 1] = 0
    return a


def bicubic_refs():
    sources = {}
    for name in ["img_112x84", "img_100x61"]:
        im = Image.open(os.path.join(GOLDEN_IMAGES, name + ".png")).convert("RGB")
        im.save(out("src", name + ".png"))
        sources[name] = im
    noise = Image.fromarray(synthetic(29, 17, 3), "RGB")
    noise.save(out("src", "noise_29x17.png"))
    sources["noise_29x17"] = noise
    targets = {
        "img_100x61": [(112, 56), (200, 122), (37, 23), (100, 28), (56, 61), (1, 1)],
        "img_112x84": [(56, 28), (113, 84), (112, 300), (28, 84), (224, 168), (61, 100)],
        "noise_29x17": [(84, 56), (280, 28), (7, 5), (29, 3), (3, 17)],
    }
    with open(out("bicubic", "index.csv"), "w", newline="") as f:
        f.write("# Pillow %s Image.resize((width, height), Image.BICUBIC) on 8-bit RGB\n" % PIL.__version__)
        wr = csv.writer(f)
        wr.writerow(["source", "width", "height", "file"])
        for name, sizes in targets.items():
            for w, h in sizes:
                r = np.asarray(sources[name].resize((w, h), resample=Image.BICUBIC), dtype=np.uint8)
                fname = "%s_to_%dx%d.rgb" % (name, w, h)
                r.tofile(out("bicubic", fname))
                wr.writerow([name + ".png", w, h, fname])
    print("bicubic: done")


# ---------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------
def vllm_rgb(image, background=(255, 255, 255)):
    """vLLM's ImageMediaIO._convert_image_mode to "RGB" (vllm/multimodal/image.py): RGBA is pasted onto
    a solid background with its alpha as the mask; everything else is PIL's plain convert("RGB")."""
    if image.mode == "RGB":
        return image
    if image.mode == "RGBA":
        converted = Image.new("RGB", image.size, background)
        converted.paste(image, mask=image.split()[3])
        return converted
    return image.convert("RGB")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(samples, color_type, bit_depth, palette=None, trns=None):
    """A minimal PNG writer for colour types and bit depths that PIL cannot save (16-bit RGB, 2-bit
    gray, ...). samples: [h, w, channels] integer array of raw sample values."""
    h, w = samples.shape[:2]
    samples = samples.reshape(h, w, -1)
    rows = []
    for y in range(h):
        row = samples[y].reshape(-1).astype(np.int64)
        if bit_depth == 16:
            raw = row.astype(">u2").tobytes()
        elif bit_depth == 8:
            raw = row.astype(np.uint8).tobytes()
        else:
            per = 8 // bit_depth
            padded = np.zeros(((len(row) + per - 1) // per) * per, dtype=np.int64)
            padded[: len(row)] = row
            packed = np.zeros(len(padded) // per, dtype=np.int64)
            for i in range(per):
                packed |= padded[i::per] << (8 - bit_depth * (i + 1))
            raw = packed.astype(np.uint8).tobytes()
        rows.append(b"\x00" + raw)
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
    if palette is not None:
        png += png_chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        png += png_chunk(b"tRNS", trns)
    png += png_chunk(b"IDAT", zlib.compress(b"".join(rows)))
    png += png_chunk(b"IEND", b"")
    return png


def pil_bytes(image, fmt, **kw):
    b = io.BytesIO()
    image.save(b, fmt, **kw)
    return b.getvalue()


def decode_refs():
    w, h = 23, 17
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 255 // (w + h - 2)], -1)
    rgb8 = np.clip(smooth + rng.integers(-20, 21, size=(h, w, 3)), 0, 255).astype(np.uint8)
    gray8 = rgb8[..., 0]
    alpha8 = ((xx * 11 + yy * 7) % 256).astype(np.uint8)
    alpha8[0, 0], alpha8[0, 1] = 0, 255
    rgb16 = rgb8.astype(np.int64) * 257 + rng.integers(0, 257, size=(h, w, 3))
    gray16 = gray8.astype(np.int64) * 3 + rng.integers(0, 3, size=(h, w))  # spans both sides of 255
    alpha16 = alpha8.astype(np.int64) * 257
    palette = rng.integers(0, 256, size=(16, 3))
    index = rng.integers(0, 16, size=(h, w))

    files = {}
    # PNG: every colour type / bit depth combination that PIL opens.
    files["png_gray1.png"] = write_png(gray8 >> 7, 0, 1)
    files["png_gray2.png"] = write_png(gray8 >> 6, 0, 2)
    files["png_gray4.png"] = write_png(gray8 >> 4, 0, 4)
    files["png_gray8.png"] = write_png(gray8, 0, 8)
    files["png_gray8_trns.png"] = write_png(gray8, 0, 8, trns=struct.pack(">H", int(gray8[0, 0])))
    files["png_gray16.png"] = write_png(gray16, 0, 16)
    files["png_rgb8.png"] = write_png(rgb8, 2, 8)
    files["png_rgb8_trns.png"] = write_png(rgb8, 2, 8, trns=struct.pack(">HHH", *map(int, rgb8[0, 0])))
    files["png_rgb16.png"] = write_png(rgb16, 2, 16)
    files["png_pal1.png"] = write_png(index & 1, 3, 1, palette=palette[:2])
    files["png_pal4_trns.png"] = write_png(index, 3, 4, palette=palette, trns=bytes([0, 128, 255, 7]))
    files["png_pal8.png"] = write_png(index, 3, 8, palette=palette)
    files["png_la8.png"] = write_png(np.stack([gray8, alpha8], -1), 4, 8)
    files["png_la16.png"] = write_png(np.stack([gray16 * 80, alpha16], -1), 4, 16)
    files["png_rgba8.png"] = write_png(np.concatenate([rgb8, alpha8[..., None]], -1), 6, 8)
    files["png_rgba16.png"] = write_png(np.concatenate([rgb16, alpha16[..., None]], -1), 6, 16)
    # PIL cannot write interlaced PNG; an interlaced file is made by hand.
    files["png_rgb8_adam7.png"] = write_adam7(rgb8)
    # JPEG: the usual chroma subsamplings, gray, CMYK (Adobe polarity), progressive, an ICC profile.
    big = Image.fromarray(rgb8, "RGB").resize((w * 3, h * 3), Image.BICUBIC)
    files["jpeg_420.jpg"] = pil_bytes(big, "JPEG", quality=90, subsampling="4:2:0")
    files["jpeg_422.jpg"] = pil_bytes(big, "JPEG", quality=90, subsampling="4:2:2")
    files["jpeg_444.jpg"] = pil_bytes(big, "JPEG", quality=95, subsampling="4:4:4")
    files["jpeg_progressive.jpg"] = pil_bytes(big, "JPEG", quality=85, progressive=True)
    files["jpeg_gray.jpg"] = pil_bytes(big.convert("L"), "JPEG", quality=90)
    files["jpeg_cmyk.jpg"] = pil_bytes(big.convert("CMYK"), "JPEG", quality=90)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    files["jpeg_icc.jpg"] = pil_bytes(big, "JPEG", quality=90, icc_profile=srgb)
    # GIF and BMP.
    pimg = Image.fromarray(index.astype(np.uint8), "P")
    pimg.putpalette(palette.astype(np.uint8).reshape(-1).tolist())
    files["gif_pal.gif"] = pil_bytes(pimg, "GIF")
    files["gif_pal_trns.gif"] = pil_bytes(pimg, "GIF", transparency=3)
    files["bmp_rgb24.bmp"] = pil_bytes(Image.fromarray(rgb8, "RGB"), "BMP")
    files["bmp_pal8.bmp"] = pil_bytes(pimg, "BMP")

    with open(out("decode", "index.csv"), "w", newline="") as f:
        f.write("# Pillow %s (libjpeg-turbo %s) Image.open + vLLM convert_image_mode(\"RGB\")\n"
                % (PIL.__version__, features.version("libjpeg_turbo")))
        wr = csv.writer(f)
        wr.writerow(["file", "pil_mode", "width", "height", "rgb"])
        for name, data in files.items():
            with open(out("decode", name), "wb") as g:
                g.write(data)
            im = Image.open(io.BytesIO(data))
            mode = im.mode
            rgb = np.asarray(vllm_rgb(im), dtype=np.uint8)
            rgb_name = name.rsplit(".", 1)[0] + ".rgb"
            rgb.tofile(out("decode", rgb_name))
            wr.writerow([name, mode, rgb.shape[1], rgb.shape[0], rgb_name])
    print("decode:", len(files), "files")


def write_adam7(rgb8):
    """An Adam7-interlaced 8-bit RGB PNG."""
    h, w = rgb8.shape[:2]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = rgb8[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.astype(np.uint8).tobytes()
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1))
    png += png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    return png


# ---------------------------------------------------------------------------------------------
# processor
# ---------------------------------------------------------------------------------------------
def processor_refs():
    small = Image.open(out("decode", "png_rgb8.png")).convert("RGB")  # 23x17: upscaled to min_pixels
    golden = Image.open(os.path.join(GOLDEN_IMAGES, "img_112x84.png")).convert("RGB")
    clip = dict(image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])
    cases = {
        "small_23x17_min_pixels": (small, Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=12845056, **clip)),
        "img_112x84_max_pixels_3136": (golden, Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=3136, **clip)),
        "img_112x84_patch16": (golden, Qwen2VLImageProcessorPil(
            min_pixels=4096, max_pixels=16777216, patch_size=16, image_mean=[0.5] * 3, image_std=[0.5] * 3)),
    }
    for name, (image, proc) in cases.items():
        res = proc(images=[image], return_tensors="np")
        pv = np.ascontiguousarray(res["pixel_values"], dtype=np.float32)
        thw = np.ascontiguousarray(res["image_grid_thw"], dtype=np.int64)
        save_file({"pixel_values": pv, "image_grid_thw": thw}, out("processor", name + ".safetensors"))
        print("processor:", name, pv.shape, thw.tolist())


if __name__ == "__main__":
    if not os.path.isdir(GOLDEN_IMAGES):
        sys.exit("run from the repository root")
    smart_resize_cases()
    bicubic_refs()
    decode_refs()
    processor_refs()
