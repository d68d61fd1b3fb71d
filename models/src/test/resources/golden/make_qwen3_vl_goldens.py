"""Reference outputs of Hugging Face transformers' own Qwen3-VL on the tiny Qwen3-VL checkpoint.

Run once in a throw-away venv (torch CPU, transformers 5.18, safetensors, numpy, pillow from the local
wheel index); the outputs are committed as data and the build never runs Python:

    bin/jepd tiny-model --model-family qwen3-vl --out /tmp/tiny-qwen3-vl
    python make_qwen3_vl_goldens.py /tmp/tiny-qwen3-vl images cases   # in models/src/test/resources/golden

Each case is cases/qwen3-vl_<image>.{json,safetensors}; the tensors are named as the Qwen2-VL cases', plus
vision_deepstack (each DeepStack merger's output, [levels, tokens, hidden], in deepstack_visual_indexes
order). lm_layer_out holds every decoder layer's output but the last, as transformers' hidden states record
them: before the DeepStack addition that follows the layer (the last layer's output is held only after the
final norm: lm_final_norm).
"""
import json
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file
from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

model_dir, images_dir, out_dir = sys.argv[1:4]
torch.manual_seed(0)
model = Qwen3VLForConditionalGeneration.from_pretrained(
    model_dir, dtype=torch.float32, attn_implementation="eager").eval()
# The PIL image processor and the tokenizer, as Qwen3VLProcessor combines them (its video processor would
# need torchvision, which images never use); transformers maps qwen3_vl's image processor to this class.
image_processor = Qwen2VLImageProcessorPil.from_pretrained(model_dir)
tokenizer = AutoTokenizer.from_pretrained(model_dir)
# the tiny checkpoint's head is untied (as Qwen3-VL-8B's): lm_head.weight is its own tensor
assert model.model.language_model.embed_tokens.weight.data_ptr() != model.lm_head.weight.data_ptr(), "untied head"

for case in ["img_112x84", "img_100x61"]:
    image = Image.open(f"{images_dir}/{case}.png").convert("RGB")
    # Qwen3-VL's chat template's output for [image, "Describe this image."] (no default system prompt; the
    # tiny checkpoint's tokenizer_config carries another model's template, so it is written out here).
    text = ("<|im_start|>user\n"
            "<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n")
    pixels = image_processor(images=[image], return_tensors="pt")
    grid = pixels["image_grid_thw"]
    pads = int(grid.prod()) // image_processor.merge_size ** 2
    text = text.replace("<|image_pad|>", "<|image_pad|>" * pads)
    inputs = dict(tokenizer([text], return_tensors="pt"))
    inputs.update(pixels)
    # what Qwen3VLProcessor adds: 1 at image tokens, 0 elsewhere
    inputs["mm_token_type_ids"] = (inputs["input_ids"] == model.config.image_token_id).int()
    taps = {}
    hooks = [blk.register_forward_hook(lambda m, i, o, k=k: taps.__setitem__(f"block{k}", o))
             for k, blk in enumerate(model.model.visual.blocks)]
    with torch.no_grad():
        vis = model.model.visual(inputs["pixel_values"], grid_thw=grid)
        embeds = vis.pooler_output
        deepstack = torch.stack(vis.deepstack_features)
        pos, delta = model.model.get_rope_index(
            inputs["input_ids"], inputs["mm_token_type_ids"], grid, None, attention_mask=inputs["attention_mask"])
        out = model(**inputs, output_hidden_states=True)
        gen = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    for h in hooks:
        h.remove()
    ids = inputs["input_ids"][0]
    new = gen[0, ids.shape[0]:]
    tensors = {
        "pixel_values": inputs["pixel_values"].numpy().astype(np.float32),
        "image_grid_thw": grid.numpy().astype(np.int64),
        "vision_block_out": torch.stack([taps[f"block{k}"] for k in range(len(model.model.visual.blocks))])
        .numpy().astype(np.float32),
        "vision_embeds": embeds.numpy().astype(np.float32),
        "vision_deepstack": deepstack.numpy().astype(np.float32),
        "input_ids": ids.numpy().astype(np.int64),
        "position_ids": pos[:, 0, :].numpy().astype(np.int64),
        "rope_delta": delta.reshape(-1).numpy().astype(np.int64),
        "lm_layer_out": torch.stack(out.hidden_states[1:-1])[:, 0].numpy().astype(np.float32),
        "lm_final_norm": out.hidden_states[-1][0].numpy().astype(np.float32),
        "logits_last": out.logits[0, -1].numpy().astype(np.float32),
        "generated_ids": new.numpy().astype(np.int64),
    }
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, f"{out_dir}/qwen3-vl_{case}.safetensors")
    meta = {
        "model": "tiny-qwen3-vl",
        "image": f"images/{case}.png",
        "image_grid_thw": grid[0].tolist(),
        "rope_delta": int(delta.reshape(-1)[0]),
        "generated_ids": new.tolist(),
        "generated_text": tokenizer.decode(new, skip_special_tokens=True),
        "made_by": "transformers " + __import__("transformers").__version__ + ", torch " + torch.__version__,
    }
    with open(f"{out_dir}/qwen3-vl_{case}.json", "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    print(case, grid.tolist(), "tokens", embeds.shape, "deepstack", tuple(deepstack.shape), "gen", new.tolist()[:4])

# Grids on 50 random image sizes (and a few edges), as the processor resizes them: the image-token cost the
# proxy and the nodes must agree on. transformers' own smart_resize with the processor's settings, as its
# get_number_of_image_patches runs it.
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize  # noqa: E402

rng = np.random.default_rng(3)
sizes = [(int(h), int(w)) for h, w in rng.integers(16, 6000, size=(50, 2)) if max(h, w) / min(h, w) < 200]
sizes += [(32, 32), (224, 224), (256, 256), (4096, 4096), (5000, 3000), (64, 4000), (1, 150), (6000, 6000)]
factor = image_processor.patch_size * image_processor.merge_size
grids = []
for h, w in sizes:
    rh, rw = smart_resize(h, w, factor, min_pixels=image_processor.size["shortest_edge"],
                          max_pixels=image_processor.size["longest_edge"])
    assert image_processor.get_number_of_image_patches(h, w) == (rh // 16) * (rw // 16)
    grids.append({"height": h, "width": w, "grid_thw": [1, rh // image_processor.patch_size,
                                                         rw // image_processor.patch_size]})
with open(f"{out_dir}/../qwen3-vl_grids.json", "w") as f:
    json.dump({"model": "tiny-qwen3-vl", "made_by": "transformers " + __import__("transformers").__version__,
               "grids": grids}, f, indent=1)
print(len(grids), "grids")
