"""How a variant trains: the stages' optimisation, seeds, DeepSpeed, the runtime."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lynx_core.config.base import SEED_LIMIT, StrictModel


class StageConfig(StrictModel):
    """One optimisation stage: steps, batch, cosine schedule with warmup."""

    steps: int = Field(40, ge=0)
    batch_size: int = Field(16, gt=0)
    lr: float = Field(3e-3, gt=0)
    warmup_steps: int = Field(4, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    grad_accumulation: int = Field(
        1, gt=0, description="micro-batches per optimizer step (batch_size is per micro-batch)"
    )
    validate_every: int = Field(
        0,
        ge=0,
        description="steps between losses on held-out validation examples (the generated "
        "world's validation split), a curve whose area says how fast the stage learns; 0: none",
    )


class DeepSpeedConfig(StrictModel):
    """Optional DeepSpeed ZeRO for the variant's training stages (stages 1 and 2).

    ZeRO shards optimizer state (1), also gradients (2), also parameters (3) across the data-
    parallel workers; the optimisation is the same AdamW, schedule and clipping as without it,
    so results do not depend on it (tested). The toy bases always train without it."""

    zero_stage: Literal[0, 1, 2, 3] = 2
    offload_optimizer: bool = Field(False, description="keep optimizer state in CPU memory")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="extra DeepSpeed config keys merged over the generated ones "
        "(e.g. {'zero_optimization': {'overlap_comm': true}})",
    )


class TrainConfig(StrictModel):
    """Bases (toy LLM, its instruction tuning, CLIP tower) → stage 1 (align on captions) →
    stage 2 (instruct on the task mixture)."""

    seed: int = Field(
        0,
        ge=0,
        lt=SEED_LIMIT,
        description="what the variant trains: its new modules' init and its batches (a sweep's "
        "`seeds:` set it)",
    )
    stage2_seed: int | None = Field(
        None,
        ge=0,
        lt=SEED_LIMIT,
        description="stage 2's own seed (its batches, its sample of the data, its dropout); "
        "None: `seed`. A sweep with `stage1_per_seed: false` sets it to each seed and `seed` "
        "to the first, so a variant's seeds share one stage 1",
    )
    bases_seed: int = Field(
        0,
        ge=0,
        lt=SEED_LIMIT,
        description="the toy bases' seed: the frozen LLM and tower are the study's fixed "
        "starting point, as Vicuna and EVA are the paper's, whatever the variant's seed",
    )
    bases: StageConfig = StageConfig(steps=500, batch_size=32, lr=3e-3, warmup_steps=20)
    instruct: StageConfig = StageConfig(steps=1500, batch_size=32, lr=1e-3, warmup_steps=20)
    clip: StageConfig = StageConfig(steps=300, batch_size=64, lr=1e-3, warmup_steps=20)
    # 600 stage-1 steps at toy scale: at 300, whether a seed's resampler came out of stage 1
    # reading colour was chance (Open-VQA Color 15-36% for some seeds, 73-78% for others);
    # at 600, lynx read it on every seed (76-78%, in trials and in the paper sweep)
    stage1: StageConfig = StageConfig(steps=600)
    stage2: StageConfig = StageConfig(steps=800)
    log_every: int = Field(5, gt=0)
    checkpoint_every: int = Field(50, gt=0, description="steps between resumable checkpoints")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where stages 1, 2 and eval run; auto = CUDA when there is one"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16 autocast or fp32; auto = bf16 on a CUDA GPU that supports it"
    )
    deepspeed: DeepSpeedConfig | None = Field(None, description="train stages 1–2 with ZeRO")
    gradient_checkpointing: bool = Field(
        False,
        description="recompute the LLM's layer activations in the backward pass instead of "
        "keeping them (stages 1–2): ~1/3 more compute for memory that no longer grows with "
        "depth; the same gradients",
    )
    feature_cache: bool = Field(
        True,
        description="run a frozen vision trunk once per generated-world image or clip and "
        "reuse its tokens (the same result up to float rounding; off where they do not fit "
        "in memory)",
    )
    data_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="DataLoader worker processes decoding the images of your caption files "
        "ahead of the training step (stages 1–2); 0: in the training process",
    )
    max_bad_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="the share of a caption file's samples that may be bad (an undecodable or "
        "missing image, an empty caption, an odd tar member name): each is skipped and "
        "counted; a stage stops, naming the source and examples, when a source passes it",
    )
    sample_log: bool = Field(
        False,
        description="write the key of every sample each rank trains on, batch by batch, to "
        "samples.rank<k>.jsonl in the stage's folder (stages 1–2; a data audit: which rows "
        "a model saw, in which order; a stage already recorded is reused without one)",
    )

    @model_validator(mode="after")
    def _checkpoints_on_log_steps(self) -> TrainConfig:
        if self.checkpoint_every % self.log_every:
            raise ValueError(
                f"checkpoint_every {self.checkpoint_every} must be a multiple of log_every "
                f"{self.log_every}, so a resumed run logs the same windows"
            )
        for name in ("stage1", "stage2"):
            every = getattr(self, name).validate_every
            if every % self.log_every:
                raise ValueError(
                    f"{name}.validate_every {every} must be a multiple of log_every "
                    f"{self.log_every}: a validation loss goes with a logged step"
                )
        return self

    def seed_of(self, stage: str) -> int:
        """The seed `stage` trains with: stage 2's own where it has one, else `seed`."""
        return self.stage2_seed if stage == "stage2" and self.stage2_seed is not None else self.seed
