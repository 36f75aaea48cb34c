"""Training FLOPs of a variant's stages, estimated before anything runs (`make plan`).

Per sample, every weight matrix w (a linear layer, a convolution, an attention projection)
that multiplies rows(w) token rows costs

    2·|w|·rows(w)    forward
  + 2·|w|·rows(w)    if the gradient must cross it to reach something trainable before it
  + 2·|w|·rows(w)    if w itself trains

so a trainable path costs the familiar 6·N·tokens, the frozen LLM that gradients cross on
their way to the resampler 4·N·tokens, and the frozen vision trunk before anything trainable
2·N·tokens (forward only). rows(w) and which weights gradients cross are read off one
forward pass of the variant's own model built on the meta device (shapes only: no weights,
no memory, seconds for the 8B model), so every architecture and option is counted as it is
built. Left out: attention's score and value products (∝ sequence², a few % at these
lengths) and elementwise work; `tests/lynx_core/test_flops.py` bounds the difference
against a count of a tiny model's real FLOPs (torch's FlopCounterMode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lynx_core.config import ModelConfig, VariantConfig, VisionConfig
from lynx_core.data.world.tasks import TASKS

# text tokens per sample where no data has been read yet (planning): a caption pair is
# the prompt and a caption of a web pair (~15 words); an instruction sample a question
# and a short or a detailed answer (VQA answers are words, descriptions ~100 tokens)
TEXT_TOKENS = {"stage1": 32, "stage2": 64}
Kind = str  # "image" | "video" | "text"


@dataclass(frozen=True)
class SampleFlops:
    """One training sample's FLOPs, split as the formula above adds them."""

    forward: float
    input_grads: float
    weight_grads: float

    @property
    def total(self) -> float:
        return self.forward + self.input_grads + self.weight_grads

    def __add__(self, other: SampleFlops) -> SampleFlops:
        """Two parts of one sample (e.g. the trunk and the rest of the model)."""
        return SampleFlops(
            self.forward + other.forward,
            self.input_grads + other.input_grads,
            self.weight_grads + other.weight_grads,
        )


MATRIX_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MultiheadAttention)
Weight = tuple[int, int, bool, bool]  # (|w|, rows, gradient crosses it, w trains)


def _weights_applied(module: nn.Module, inputs: tuple, output) -> list[Weight]:
    """Each weight matrix `module` applied in one call, with the rows it multiplied."""
    if isinstance(module, nn.Linear):
        x = inputs[0]
        rows = x.numel() // module.in_features
        return [(module.weight.numel(), rows, x.requires_grad, module.weight.requires_grad)]
    if isinstance(module, nn.MultiheadAttention):  # its projections are not module calls
        query, key = inputs[0], inputs[1]
        q_rows, kv_rows = query.numel() // module.embed_dim, key.numel() // module.kdim
        crosses = query.requires_grad or key.requires_grad
        projections = [module.in_proj_weight, module.q_proj_weight, module.k_proj_weight]
        trains = any(w is not None and w.requires_grad for w in projections)
        out = module.out_proj.weight
        return [
            (module.embed_dim**2, q_rows, crosses, trains),
            (2 * module.embed_dim * module.kdim, kv_rows, crosses, trains),
            (out.numel(), q_rows, crosses or trains, out.requires_grad),
        ]
    rows = output.numel() // module.out_channels  # a convolution: its output positions
    return [(module.weight.numel(), rows, inputs[0].requires_grad, module.weight.requires_grad)]


def count_flops(root: nn.Module, run: Callable[[], Any]) -> tuple[SampleFlops, Any]:
    """FLOPs, by the formula, of the weight matrices under `root` that `run()` applies (one
    training sample: forward, loss, backward), and what `run` returned."""
    seen: list[Weight] = []
    modules = [m for m in root.modules() if isinstance(m, MATRIX_MODULES)]
    inside_attention = {
        id(m.out_proj) for m in modules if isinstance(m, nn.MultiheadAttention)
    }  # counted by their attention module (which never calls them as modules anyway)
    hooks = [
        m.register_forward_hook(
            lambda mod, args, out: seen.extend(_weights_applied(mod, args, out))
        )
        for m in modules
        if id(m) not in inside_attention
    ]
    try:
        result = run()
    finally:
        for hook in hooks:
            hook.remove()
    forward = sum(2.0 * size * rows for size, rows, _, _ in seen)
    crossing = sum(2.0 * size * rows for size, rows, crosses, _ in seen if crosses)
    training = sum(2.0 * size * rows for size, rows, _, trains in seen if trains)
    return SampleFlops(forward, crossing, training), result


def sample_flops(model: nn.Module, inputs: dict[str, Any]) -> SampleFlops:
    """FLOPs of one training step of `model` on `inputs`, by the formula."""
    return count_flops(model, lambda: model(**inputs))[0]


def sample_inputs(
    cfg: ModelConfig, kind: Kind, text_tokens: int, device: torch.device | str = "meta"
) -> dict[str, torch.Tensor]:
    """A one-sample batch of `kind` with `text_tokens` prompt-and-answer tokens."""
    ids = torch.ones(1, text_tokens, dtype=torch.long, device=device)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
    if kind != "text":
        batch["pixels"] = sample_pixels(cfg.vision, kind, device)
    return batch


def sample_pixels(
    vision: VisionConfig, kind: Kind, device: torch.device | str = "meta"
) -> torch.Tensor:
    """One image (1, 3, S, S) or one clip (1, frames, 3, S, S) at the tower's resolution."""
    size = vision.image_size
    shape = (1, 3, size, size) if kind == "image" else (1, vision.max_frames, 3, size, size)
    return torch.zeros(shape, device=device)


def media_shares(cfg: VariantConfig) -> dict[Kind, float]:
    """Stage 2's share of image, video and text samples, from the mixture's ratios (a user's
    training file counts as images: its kinds are known only once it is read)."""
    trained = {t: r for t, r in cfg.data.mixture.items() if t != cfg.data.prompts.held_out_task}
    shares: dict[Kind, float] = {}
    for task, ratio in trained.items():
        kind = TASKS[task].media if task in TASKS else "image"
        shares[kind] = shares.get(kind, 0.0) + ratio
    total = sum(shares.values()) or 1.0
    return {kind: value / total for kind, value in shares.items() if value > 0}


def stage_flops(
    cfg: VariantConfig, stage: str, per_sample: Callable[[Kind, int], SampleFlops]
) -> float:
    """FLOPs of a training stage: its samples (steps × batch × accumulation) times each
    kind's per-sample cost (`per_sample(kind, text_tokens)`, e.g. `ModelFlops.sample`)."""
    stage_cfg = getattr(cfg.train, stage)
    samples = stage_cfg.steps * stage_cfg.batch_size * stage_cfg.grad_accumulation
    if samples == 0:
        return 0.0
    shares = {"image": 1.0} if stage == "stage1" else media_shares(cfg)
    tokens = TEXT_TOKENS[stage]
    return samples * sum(share * per_sample(kind, tokens).total for kind, share in shares.items())


def planning_copy(cfg: VariantConfig, vocab_size: int) -> ModelConfig:
    """The variant's model config with no weights to read: the LLM and tower take the
    config's sizes (the paper preset sets Vicuna-7B's and EVA ViT-g's), and eager attention
    (the sdpa mask path asks a meta tensor for its values)."""
    llm = cfg.model.llm.model_copy(
        update={
            "path": None,
            "vocab_size": cfg.model.llm.vocab_size or vocab_size,
            "attn_implementation": "eager",
        }
    )
    vision = cfg.model.vision.model_copy(update={"checkpoint": None})
    return cfg.model.model_copy(update={"llm": llm, "vision": vision})


class TrunkFlops:
    """The vision trunk's share of an image or video sample, and the shape of its tokens,
    for one vision config: shared by every variant with that tower (the trunk's meta
    forward is the slow part of an estimate)."""

    def __init__(self, vision: VisionConfig):
        from lynx_core.model.vision import build_vision_tower

        with torch.device("meta"):
            self.tower = build_vision_tower(vision, weights=False)
        self.cfg = vision
        self._seen: dict[Kind, tuple[SampleFlops, torch.Tensor]] = {}

    def sample(self, kind: Kind) -> tuple[SampleFlops, torch.Tensor]:
        if kind not in self._seen:
            pixels = sample_pixels(self.cfg, kind)
            self._seen[kind] = count_flops(self.tower, lambda: self.tower.trunk_tokens(pixels))
        return self._seen[kind]


class ModelFlops:
    """Per-sample FLOPs of one variant's model, built on the meta device around a shared
    tower (`TrunkFlops`): no weights are read and no memory is used."""

    def __init__(self, cfg: VariantConfig, vocab_size: int, trunk: TrunkFlops | None = None):
        from lynx_core.model.llm import build_llm  # model code only where FLOPs are asked
        from lynx_core.model.lynx import LynxModel

        model_cfg = planning_copy(cfg, vocab_size)
        self.trunk = trunk or TrunkFlops(model_cfg.vision)
        with torch.device("meta"):
            llm = build_llm(model_cfg.llm, None)
            self.model = LynxModel(model_cfg, self.trunk.tower, llm).train()
        self._seen: dict[tuple[Kind, int], SampleFlops] = {}

    def sample(self, kind: Kind, text_tokens: int) -> SampleFlops:
        if (kind, text_tokens) not in self._seen:
            self._seen[kind, text_tokens] = self._sample(kind, text_tokens)
        return self._seen[kind, text_tokens]

    def _sample(self, kind: Kind, text_tokens: int) -> SampleFlops:
        text = sample_inputs(self.model.cfg, "text", text_tokens)
        if kind == "text":
            return sample_flops(self.model, text)
        trunk, tokens = self.trunk.sample(kind)
        rest = sample_flops(self.model, {**text, "patches": tokens})  # the trunk not run again
        return trunk + rest
