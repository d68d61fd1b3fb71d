"""Hugging Face transformers' greedy tokens and top-5 logprobs in bfloat16, per family and case.

The reference for the bf16 golden check (Bf16LogprobsTest): vLLM's check_logprobs_close rule compares
JEPD's 16 greedy tokens in bf16 with these. Run once in a throw-away venv (torch CPU, transformers 5.18,
safetensors, numpy, pillow from the local wheel index); the output is committed as data and the build never
runs Python:

    for f in qwen2.5-vl qwen2-vl qwen3-vl; do bin/jepd tiny-model --model-family $f --out /tmp/tiny-$f; done
    python make_bf16_logprobs.py /tmp images cases/bf16_logprobs.json   # in models/src/test/resources/golden

The model runs with dtype=torch.bfloat16 (weights and activations bf16, eager attention) on the same
prompts as the f32 goldens (make_qwen2_vl_goldens.py, make_qwen3_vl_goldens.py; Qwen2.5-VL and Qwen2-VL
with the default system prompt, Qwen3-VL without), and on img_448x448 (1,024 patches, 256 image tokens: enough rows
for JEPD's AMX GEMM and its fused MLP in the vision tower and in prefill), whose float32 vision rows this script
writes too (cases/<prefix>img_448x448.{json,safetensors}: vision_embeds, and Qwen3-VL's vision_deepstack, from the
same checkpoint in float32), as the float32 golden scripts do for the other two. At each of the 16 greedy steps the logits the model
returns are widened to float32 and log-softmaxed; the 5 largest are written, best first (plus the
chosen token where a tie left it out, as vLLM always lists the sampled token).
"""
import json
import sys

import numpy as np
import torch
from PIL import Image
from transformers import (AutoTokenizer, Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration,
                          Qwen3VLForConditionalGeneration)
from safetensors.numpy import save_file
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

models_root, images_dir, out_file = sys.argv[1:4]
TOP = 5
STEPS = 16
SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
USER = ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n"
        "<|im_start|>assistant\n")
FAMILIES = {
    "qwen2.5-vl": (Qwen2_5_VLForConditionalGeneration, SYSTEM + USER),
    "qwen2-vl": (Qwen2VLForConditionalGeneration, SYSTEM + USER),
    "qwen3-vl": (Qwen3VLForConditionalGeneration, USER),
}
PREFIX = {"qwen2.5-vl": "", "qwen2-vl": "qwen2-vl_", "qwen3-vl": "qwen3-vl_"}
LARGE = "img_448x448"

result = {"made_by": "transformers " + __import__("transformers").__version__ + ", torch " + torch.__version__,
          "dtype": "bfloat16", "top": TOP, "steps": STEPS, "cases": []}
for family, (cls, template) in FAMILIES.items():
    model_dir = f"{models_root}/tiny-{family}"
    torch.manual_seed(0)
    model = cls.from_pretrained(model_dir, dtype=torch.bfloat16, attn_implementation="eager").eval()
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for case in ["img_112x84", "img_100x61", LARGE]:
        image = Image.open(f"{images_dir}/{case}.png").convert("RGB")
        pixels = image_processor(images=[image], return_tensors="pt")
        grid = pixels["image_grid_thw"]
        if case == LARGE:  # the float32 vision rows, as the float32 golden scripts write them for the others
            f32 = cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
            with torch.no_grad():
                vis = f32.model.visual(pixels["pixel_values"], grid_thw=grid)
            tensors = {"vision_embeds": vis.pooler_output.numpy().astype(np.float32)}
            if family == "qwen3-vl":
                tensors["vision_deepstack"] = torch.stack(vis.deepstack_features).numpy().astype(np.float32)
            out_dir = out_file.rsplit("/", 1)[0] if "/" in out_file else "."
            save_file(tensors, f"{out_dir}/{PREFIX[family]}{case}.safetensors")
            with open(f"{out_dir}/{PREFIX[family]}{case}.json", "w") as f:
                json.dump({"image": f"images/{case}.png", "image_grid_thw": grid[0].tolist(),
                           "made_by": result["made_by"], "dtype": "float32"}, f, indent=1)
        pads = int(grid.prod()) // image_processor.merge_size ** 2
        text = template.replace("<|image_pad|>", "<|image_pad|>" * pads)
        inputs = dict(tokenizer([text], return_tensors="pt"))
        inputs.update(pixels)
        inputs["pixel_values"] = inputs["pixel_values"].to(torch.bfloat16)
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == model.config.image_token_id).int()
        with torch.no_grad():
            gen = model.generate(**inputs, max_new_tokens=STEPS, do_sample=False, output_logits=True,
                                 return_dict_in_generate=True)
        prompt_len = inputs["input_ids"].shape[1]
        ids = gen.sequences[0, prompt_len:].tolist()
        steps = []
        for step, logits in enumerate(gen.logits):
            lp = torch.log_softmax(logits[0].float(), dim=-1)
            top = torch.topk(lp, TOP)
            top_ids, top_lps = top.indices.tolist(), top.values.tolist()
            # greedy picks the first index of the largest value; bf16 logits tie often, and topk may order
            # equal values otherwise: the chosen token is always listed (as vLLM lists the sampled token).
            assert lp[ids[step]].item() == top_lps[0], (family, case, step)
            if ids[step] not in top_ids:
                top_ids, top_lps = [ids[step]] + top_ids, [lp[ids[step]].item()] + top_lps
            steps.append({"ids": top_ids, "logprobs": [round(x, 6) for x in top_lps]})
        result["cases"].append({"family": family, "case": case, "prompt_tokens": prompt_len,
                                "image_grid_thw": grid[0].tolist(), "generated_ids": ids, "top_logprobs": steps})
        margins = [sorted(s["logprobs"])[-1] - sorted(s["logprobs"])[-2] for s in steps]
        print(family, case, ids[:6], "smallest top-1/top-2 margin %.4f" % min(margins))
with open(out_file, "w") as f:
    json.dump(result, f, indent=1)
