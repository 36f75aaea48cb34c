"""Typed configuration of one Lynx variant: model, data, training stages and evaluation.

A variant *is* a `VariantConfig`; a sweep is a list of them. Every model forbids unknown keys,
so a typo in a sweep file is an error, not a silently ignored setting. This package only
describes; builders elsewhere turn configs into modules, datasets and loops. Each section has
its module (`base`: what all share, `model`, `data`, `train`, `evaluation`); everything is
imported from here.
"""

from __future__ import annotations

from lynx_core.config.base import (
    SEED_LIMIT,
    LocalPath,
    MustExist,
    StrictModel,
    config_hash,
    flatten,
    nest,
)
from lynx_core.config.data import (
    TASK_NAMES,
    CaptionConfig,
    CaptionFileConfig,
    ClipFilterConfig,
    DataConfig,
    PromptConfig,
    TaskRole,
    TextFilterConfig,
    TrainFileConfig,
)
from lynx_core.config.evaluation import RELEASED, BenchmarkConfig, EvalConfig, GptJudgeConfig
from lynx_core.config.model import (
    AdapterConfig,
    AvgPoolConfig,
    CrossAttentionConfig,
    LLMConfig,
    LoraConfig,
    MlpProjectorConfig,
    ModelConfig,
    ResamplerConfig,
    VisionConfig,
)
from lynx_core.config.train import DeepSpeedConfig, StageConfig, TrainConfig


class VariantConfig(StrictModel):
    """Everything one variant of the study can change."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()


__all__ = [  # the configuration's one import path: `from lynx_core.config import …`
    "AdapterConfig",
    "AvgPoolConfig",
    "BenchmarkConfig",
    "CaptionConfig",
    "CaptionFileConfig",
    "ClipFilterConfig",
    "config_hash",
    "CrossAttentionConfig",
    "DataConfig",
    "DeepSpeedConfig",
    "EvalConfig",
    "flatten",
    "GptJudgeConfig",
    "LLMConfig",
    "LocalPath",
    "LoraConfig",
    "MlpProjectorConfig",
    "ModelConfig",
    "MustExist",
    "nest",
    "PromptConfig",
    "RELEASED",
    "ResamplerConfig",
    "SEED_LIMIT",
    "StageConfig",
    "StrictModel",
    "TASK_NAMES",
    "TaskRole",
    "TextFilterConfig",
    "TrainConfig",
    "TrainFileConfig",
    "VariantConfig",
    "VisionConfig",
]
