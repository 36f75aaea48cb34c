"""Device and precision choice, and the best checkpoint kept beside the latest."""

from __future__ import annotations

import pytest
import torch

from lynx_core.compute.runtime import resolve_runtime
from lynx_core.config import StageConfig, TrainConfig
from lynx_core.train.checkpoint import load_checkpoint
from lynx_core.train.loop import best_path, train_stage
from lynx_core.train.optimization import TorchOptimization


def test_best_checkpoint_holds_the_lowest_logged_loss(tmp_path):
    weight = torch.nn.Parameter(torch.zeros(3))
    targets = [3.0, 2.0, 0.5, 1.0, 4.0, 5.0]  # lowest at the 3rd logged step

    def step_loss(number: int) -> torch.Tensor:
        return (weight.sum() * 0 + targets[number]) + (weight**2).sum()

    cfg = StageConfig(steps=6, batch_size=1, lr=0.1, warmup_steps=0)
    latest = tmp_path / "train.ckpt"
    train_stage(
        step_loss,
        TorchOptimization([weight], cfg),
        cfg,
        stage="s",
        log_every=1,
        checkpoint=latest,
        checkpoint_every=1,
    )
    best = load_checkpoint(best_path(latest))
    assert best["step"] == 3 and best["loss"] == pytest.approx(0.5)
    assert load_checkpoint(latest)["meta"]["step"] == 6


def test_cuda_requested_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="train.device"):
        resolve_runtime(TrainConfig(device="cuda"))
    runtime = resolve_runtime(TrainConfig())
    assert runtime.device.type == "cpu" and runtime.precision == "fp32"  # auto on a CPU


def test_bf16_autocast_runs_the_model_in_bf16():
    runtime = resolve_runtime(TrainConfig(device="cpu", precision="bf16"))
    layer = torch.nn.Linear(4, 4)
    with runtime.autocast():
        out = layer(torch.ones(2, 4))
    assert out.dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32  # master weights stay fp32


@pytest.mark.slow  # ~20 s: make test stays under 15 minutes from a fresh clone
def test_a_stage_trains_under_bf16_autocast(tmp_path):
    from lynx_core.pipeline import run_stage
    from lynx_core.stages import STAGES
    from tests.tiny import tiny_config

    cfg = tiny_config(
        **{
            "train.bases.steps": 5,
            "train.instruct.steps": 0,
            "train.clip.steps": 0,
            "train.stage1.steps": 10,
            "train.precision": "bf16",
        }
    )
    folders = {stage: tmp_path / stage for stage in STAGES}
    run_stage("bases", cfg, folders, tmp_path / "cache")
    output = run_stage("stage1", cfg, folders, tmp_path / "cache")
    losses = [r["loss"] for r in output.history]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    assert output.tags["lynx_stage1_runtime"] == "cpu bf16"
    assert (folders["stage1"] / "best.safetensors").is_file()  # kept beside the final weights
    assert output.metrics["stage1/best_step"] in (5.0, 10.0)
