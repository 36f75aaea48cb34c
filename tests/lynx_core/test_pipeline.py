"""What a stage reports of its own learning (`lynx_core.pipeline.learning_speed`)."""

from __future__ import annotations

import itertools
import math

import pytest

from lynx_core.pipeline import learning_speed


def _curve(val_losses: list[float], every: int = 10, train_loss: float = 0.1) -> list[dict]:
    """A stage's history: a training-loss record per step logged, held-out losses every
    `every` steps (the training loss deliberately low: it must not be what is read)."""
    history = []
    for i, value in enumerate(val_losses, start=1):
        history.append({"step": i * every - 5, "loss": train_loss})
        history.append({"step": i * every, "loss": train_loss, "val_loss": value})
    return history


def test_learning_speed_is_the_mean_held_out_loss_over_the_run():
    """Trapezoids over the held-out curve per step: a run that gets there sooner has the
    smaller area though both end at the same loss, and training loss plays no part."""
    fast = learning_speed("stage2", _curve([3.0, 1.0, 1.0, 1.0, 1.0]))
    slow = learning_speed("stage2", _curve([3.0, 3.0, 3.0, 2.0, 1.0], train_loss=0.0))
    assert fast["stage2/final_val_loss"] == slow["stage2/final_val_loss"] == 1.0
    assert fast["stage2/val_loss_area"] == pytest.approx((2.0 + 1.0 + 1.0 + 1.0) / 4)
    assert slow["stage2/val_loss_area"] == pytest.approx((3.0 + 3.0 + 2.5 + 1.5) / 4)
    assert fast["stage2/val_loss_area"] < slow["stage2/val_loss_area"]


def test_a_stage_without_held_out_losses_reports_no_speed():
    assert learning_speed("stage1", [{"step": 10, "loss": 2.0}]) == {}
    one = learning_speed("stage1", _curve([2.5]))
    assert one == {"stage1/val_loss_area": 2.5, "stage1/final_val_loss": 2.5}


def test_the_tiny_stage_2_learns_its_held_out_examples(tmp_path):  # 10-20 s
    """The tests that train the tiny preset's stage 2 (resume, data parallel, ZeRO, the
    evaluation suites) read what it trained. On stage-2 examples it never trains on, its
    held-out loss falls at every validation: by little, its bases and stage 1 being a few
    steps, but by far more than the loss moves at fixed weights (a learning rate too small
    to move one), so the fall is what it learned, not noise of the validation itself."""
    from lynx_core.pipeline import run_stage
    from tests.tiny import through_stage1, tiny_config

    every = {"train.stage2.validate_every": 5}
    folders, cache = through_stage1(tmp_path, **every)

    def held_out_losses(lr: float) -> list[float]:
        into = {**folders, "stage2": tmp_path / f"stage2-{lr}"}
        cfg = tiny_config(**every, **{"train.stage2.lr": lr})
        output = run_stage("stage2", cfg, into, cache)
        return [record["val_loss"] for record in output.history if "val_loss" in record]

    trained, still = held_out_losses(3e-3), held_out_losses(1e-12)
    assert len(trained) == len(still) == 4 and all(math.isfinite(v) for v in trained)
    assert max(still) - min(still) < 1e-4, still  # the validation has no noise of its own
    assert all(b < a for a, b in itertools.pairwise(trained)), trained
    assert trained[0] - trained[-1] > 3e-3, trained  # 30 times the bound on the still spread
