"""Named scale presets, selected by a sweep's `scale:` field (or `--scale`).

A preset is dotted overrides of the `VariantConfig` defaults. `toy` is the defaults themselves
(trains on a CPU in minutes); `tiny` is toy with every set and stage cut to a few steps
(tests, a first check of a machine). `paper` is the released Lynx configuration
(../shared/paper/lynx_reference.md, bytedance/lynx-llm's configs/LYNX.yaml): EVA ViT-g/14 at
420 px, resampler depth 3 with 32 tokens, a 7B LLaMA-family LLM, adapters after every 2nd
layer, 5 video frames, 5-beam decoding of up to 64 tokens. Its weights are local paths by
convention (`weights/vicuna-7b`, `weights/eva01-g-14.pt`): a sweep changes them in its base,
and the sweep validator reports any that do not exist before anything runs.
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
    "train.instruct.steps": 20,
    "train.clip.steps": 20,
    "train.stage1.steps": 10,
    "train.stage2.steps": 20,
    "train.checkpoint_every": 5,
}

PRESETS: dict[str, Preset] = {
    "toy": Preset(),
    "tiny": Preset(overrides=TINY, parent="toy"),  # toy, smaller: toy's sweep sections apply
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
        },
    ),
}
