"""Hugging Face transformers' side of `jepd bench model`, for the A/B runs of docs/PERF.md (issue 9).

It times the same work as `jepd bench model` on the same checkpoint (the shaped Qwen2.5-VL one that
`bench model` writes under target/bench-models/): the vision tower on one image's patches, a prefill
forward, and decode steps at a given context for each batch size. It runs in a throw-away venv made from the
local wheel index by `bin/hf-bench`; nothing in JEPD's build or tests depends on it.

Method, chosen to time what JEPD's figures time:
- vision: `model.model.visual(pixels, grid_thw)` on a 448x448 image's patches (1024 patches -> 256 tokens);
- prefill: one forward of N tokens with `logits_to_keep=1` (JEPD's prefill makes the last row's logits only);
- decode batch B: a prefill of B x context tokens fills a DynamicCache, then steps of one token per sequence
  (greedy argmax), each step one forward; the rate is B x steps / time. This is what HF's `generate` does per
  step without its logits processors and stopping checks, so it is HF's floor, not its typical speed.
Medians (and best) of the timed runs after warm-up. Writes JSON with the same keys as JEPD's where they
mean the same.
"""

import argparse
import json
import os
import statistics
import time

import torch


def timed(fn, warmup, iterations):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--image-size", type=int, default=448)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--decode-batch", default="1,8")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--untie-lm-head", action="store_true", help="give the LM head its own contiguous copy")
    a = ap.parse_args()

    import transformers
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    t0 = time.perf_counter()
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(a.model, dtype=dtype, attn_implementation="sdpa")
    model.eval()
    if a.untie_lm_head:
        # The first HF figures gave the head its own contiguous copy. Measured here (transformers 5.18,
        # torch 2.13) that makes a logits_to_keep=1 prefill 6x slower (a bmm that copies the head), so the
        # default is the model as loaded, as a user runs it.
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().contiguous().clone(), requires_grad=False)
    load_s = time.perf_counter() - t0
    cfg = model.config
    vis = cfg.vision_config
    gen = torch.Generator().manual_seed(0)
    result = {
        "peer": "huggingface-transformers",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "dtype": a.dtype,
        "attn_implementation": "sdpa",
        "untied_lm_head": a.untie_lm_head,
        "load_s": load_s,
        "load_average_start": os.getloadavg()[0],
    }

    with torch.inference_mode():
        # vision tower
        side = a.image_size // (vis.patch_size * vis.spatial_merge_size) * vis.spatial_merge_size
        grid = torch.tensor([[1, side, side]])
        patches = side * side
        dim = vis.in_channels * vis.temporal_patch_size * vis.patch_size * vis.patch_size
        pixels = torch.randn(patches, dim, generator=gen).to(dtype)
        s = timed(lambda: model.model.visual(pixels, grid_thw=grid), a.warmup, a.iterations)
        result["vision"] = {
            "patches": patches,
            "images_per_s": 1 / statistics.median(s),
            "images_per_s_best": 1 / min(s),
        }

        # prefill
        vocab = cfg.text_config.vocab_size if hasattr(cfg, "text_config") else cfg.vocab_size
        ids = torch.randint(0, min(vocab, 150000), (1, a.prompt_tokens), generator=gen)
        s = timed(lambda: model(input_ids=ids, use_cache=True, logits_to_keep=1), a.warmup, a.iterations)
        result["prefill"] = {
            "tokens": a.prompt_tokens,
            "tokens_per_s": a.prompt_tokens / statistics.median(s),
            "tokens_per_s_best": a.prompt_tokens / min(s),
        }

        # decode at context prompt_tokens
        result["decode"] = []
        for b in [int(x) for x in a.decode_batch.split(",")]:
            ctx = torch.randint(0, min(vocab, 150000), (b, a.prompt_tokens), generator=gen)

            def run_decode():
                out = model(input_ids=ctx, use_cache=True, logits_to_keep=1)
                cache = out.past_key_values
                nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
                t = time.perf_counter()
                for _ in range(a.decode_tokens):
                    out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
                    cache = out.past_key_values
                    nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
                return time.perf_counter() - t

            for _ in range(a.warmup):
                run_decode()
            steps = [run_decode() / a.decode_tokens for _ in range(a.iterations)]
            result["decode"].append({
                "batch": b,
                "context": a.prompt_tokens,
                "step_s": statistics.median(steps),
                "tokens_per_s": b / statistics.median(steps),
                "tokens_per_s_best": b / min(steps),
            })
    result["load_average_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
