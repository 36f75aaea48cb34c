"""A stage killed part-way resumes from its checkpoint and ends exactly as an unbroken run."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from lynx_core.config import VariantConfig
from lynx_core.pipeline import run_variant
from lynx_core.train.checkpoint import (
    generation,
    generations,
    load_checkpoint,
    save_checkpoint,
    saved_steps,
)
from tests.tiny import tiny_config

CONFIG = tiny_config(
    **{"train.bases.steps": 10, "train.instruct.steps": 5, "train.clip.steps": 5}
)  # log and checkpoint every 5 steps; stage 2 runs 20


class Crash(RuntimeError):
    pass


def crash_at(stage: str, step: int):
    def on_log(result: dict) -> None:
        if result["stage"] == stage and result["step"] == step:
            raise Crash(f"simulated crash at {stage} step {step}")

    return on_log


def test_resumed_variant_equals_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    unbroken = run_variant(CONFIG, tmp_path / "unbroken")
    with pytest.raises(Crash):
        run_variant(CONFIG, tmp_path / "resumed", on_log=crash_at("stage2", 15))
    logs: list[dict] = []
    resumed = run_variant(CONFIG, tmp_path / "resumed", on_log=logs.append)

    assert {log["stage"] for log in logs} == {"stage2"}  # bases, stage 1 had finished: not redone
    assert min(log["step"] for log in logs) == 20  # continued after the step-15 checkpoint

    def results(metrics: dict) -> dict:
        return {k: v for k, v in metrics.items() if not k.endswith("wall_time_s")}

    assert results(resumed) == results(unbroken)
    weights = [
        load_file(tmp_path / run / "stage2" / "trainable.safetensors")
        for run in ("unbroken", "resumed")
    ]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name


def test_a_stage_whose_newest_checkpoint_is_damaged_resumes_from_the_one_before(tmp_path):
    """Killed at step 15 (checkpoints 10 and 15 on disk), the newest then cut short: the
    stage goes on from step 10 and still ends exactly as an unbroken run."""
    from lynx_core.pipeline import run_stage
    from lynx_core.stages import STAGES

    torch.set_num_threads(1)
    folders = {run: {s: tmp_path / run / s for s in STAGES} for run in ("unbroken", "resumed")}
    cache = tmp_path / "cache"
    for stage in ("bases", "stage1"):
        run_stage(stage, CONFIG, folders["unbroken"], cache)
    for stage in ("bases", "stage1"):  # the same outputs: let both runs share them
        folders["resumed"][stage] = folders["unbroken"][stage]
    with pytest.raises(Crash):
        run_stage("stage2", CONFIG, folders["resumed"], cache, on_log=crash_at("stage2", 15))
    newest = generation(folders["resumed"]["stage2"] / "train.ckpt", 15)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    logs: list[dict] = []
    resumed = run_stage("stage2", CONFIG, folders["resumed"], cache, on_log=logs.append)
    assert [log["step"] for log in logs] == [15, 20]  # from step 10's checkpoint
    unbroken = run_stage("stage2", CONFIG, folders["unbroken"], cache)
    assert resumed.metrics["stage2/final_loss"] == unbroken.metrics["stage2/final_loss"]
    weights = [load_file(f["stage2"] / "trainable.safetensors") for f in folders.values()]
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name


def test_corrupt_checkpoint_is_ignored(tmp_path):
    path = tmp_path / "stage.ckpt"
    save_checkpoint(path, {"step": 3}, 3)
    assert load_checkpoint(path) == {"step": 3}
    (newest,) = tmp_path.glob("stage.*.ckpt")
    newest.write_bytes(newest.read_bytes()[:-1] + b"x")
    assert load_checkpoint(path) is None


@pytest.mark.parametrize("damage", ["flipped", "truncated", "no checksum yet", "emptied"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, damage):
    """A kill while the newest generation is written (its checksum not yet there), or a file
    damaged later: the stage resumes from the last good checkpoint, not from scratch."""
    path = tmp_path / "train.ckpt"
    for step in (5, 10):
        save_checkpoint(path, {"step": step}, step)
    newest = generation(path, 10)
    data = newest.read_bytes()
    if damage == "flipped":
        newest.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "truncated":
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "emptied":
        newest.write_bytes(b"")
    else:
        newest.with_name(newest.name + ".sha256").unlink()
    assert load_checkpoint(path) == {"step": 5}
    assert saved_steps(tmp_path) == {"train": 5 if damage == "no checksum yet" else 10}


def test_two_generations_are_kept(tmp_path):
    path = tmp_path / "train.ckpt"
    for step in (5, 10, 15):
        save_checkpoint(path, {"step": step}, step)
    assert [s for s, _ in generations(path)] == [15, 10]
    assert len(list(tmp_path.glob("*.sha256"))) == 2


def test_checkpoint_cadence_must_match_logging():
    with pytest.raises(ValueError, match="multiple of log_every"):
        VariantConfig.model_validate({"train": {"log_every": 5, "checkpoint_every": 12}})


def test_resumed_stage_returns_its_whole_curve(tmp_path):
    from lynx_core.pipeline import run_stage
    from lynx_core.stages import STAGES

    torch.set_num_threads(1)
    folders = {stage: tmp_path / stage for stage in STAGES}
    with pytest.raises(Crash):
        run_stage("bases", CONFIG, folders, tmp_path / "cache", on_log=crash_at("bases", 5))
    output = run_stage("bases", CONFIG, folders, tmp_path / "cache")  # resumes from step 5
    curves = {(r["stage"], r["step"]) for r in output.history}
    assert curves == {("bases", 5), ("bases", 10), ("instruct", 5), ("clip", 5)}


def test_a_stage_of_zero_steps_keeps_its_initial_weights_and_reports_no_loss(tmp_path):
    """One-stage training: stage 1 with no steps hands stage 2 the freshly built modules."""
    from lynx_core.pipeline import run_stage
    from lynx_core.stages import STAGES

    torch.set_num_threads(1)
    cfg = CONFIG.model_copy(
        update={
            "train": CONFIG.train.model_copy(
                update={"stage1": CONFIG.train.stage1.model_copy(update={"steps": 0})}
            )
        }
    )
    folders = {stage: tmp_path / stage for stage in STAGES}
    run_stage("bases", cfg, folders, tmp_path / "cache")
    output = run_stage("stage1", cfg, folders, tmp_path / "cache")
    assert output.history == [] and "stage1/final_loss" not in output.metrics
    assert (folders["stage1"] / "trainable.safetensors").is_file()
    assert run_stage("stage2", cfg, folders, tmp_path / "cache").history[-1]["step"] == 20
