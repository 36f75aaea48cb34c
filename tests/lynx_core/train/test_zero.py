"""DeepSpeed ZeRO (1/2/3) on DeepSpeed's CPU accelerator, world size 1: the same optimisation
as the plain loop, resumable from its own checkpoints."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from lynx_core.pipeline import WEIGHTS, run_stage
from tests.tiny import through_stage1, tiny_config

BASE = {
    "train.bases.steps": 5,
    "train.instruct.steps": 0,
    "train.clip.steps": 5,
    "train.stage1.steps": 5,
    "train.stage2.steps": 10,
    "train.stage2.grad_accumulation": 2,
    # text-only batches reach no trainable weight of a prefix model without adapters
    "model.arch": "prefix",
    "model.adapters.enabled": False,
    "data.mixture": {"text": 1.0, "color": 1.0, "moving": 1.0},
}


class Crash(RuntimeError):
    pass


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """Bases and stage 1, trained once without DeepSpeed; each test trains stage 2 on them."""
    return through_stage1(tmp_path_factory.mktemp("shared"), **BASE)


@pytest.fixture(autouse=True)
def single_process_group(monkeypatch):
    """Rank 0 of 1, restored after the test (DeepSpeed reads these from the environment)."""
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    for name, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29533")


IMAGES_AND_TEXT = {"data.mixture": {"text": 1.0, "color": 1.0}}


def stage2(
    stage1, out, zero: int | None, on_log=None, offload=False, video=False, **extra
) -> dict[str, torch.Tensor]:
    folders, cache = stage1
    changes = dict(BASE) | ({} if video else IMAGES_AND_TEXT) | extra
    if zero is not None:
        changes["train.deepspeed.zero_stage"] = zero
        changes["train.deepspeed.offload_optimizer"] = offload
    folders = {**folders, "stage2": out}
    output = run_stage("stage2", tiny_config(**changes), folders, cache, on_log)
    assert output.history[-1]["step"] == 10
    return load_file(out / WEIGHTS)


@pytest.mark.parametrize(("zero", "offload"), [(1, False), (2, False), (3, False), (3, True)])
def test_zero_trains_the_same_weights_as_the_plain_loop(stage1, tmp_path, zero, offload):
    plain = stage2(stage1, tmp_path / "plain", None)
    sharded = stage2(stage1, tmp_path / f"zero{zero}", zero, offload=offload)
    assert plain.keys() == sharded.keys()
    start = load_file(stage1[0]["stage1"] / WEIGHTS)
    trained = {name for name, weight in plain.items() if not torch.equal(weight, start[name])}
    assert {n for n in plain if n.startswith(("resampler.", "injector."))} <= trained
    for name, weight in plain.items():
        torch.testing.assert_close(sharded[name], weight, rtol=1e-4, atol=1e-5, msg=name)


TRAINED_TOWER = {"model.vision.frozen": False, "model.vision.lr_scale": 0.1}


@pytest.fixture(scope="module")
def stage1_trained_tower(stage1, tmp_path_factory):
    """Stage 1 with the tower trained at a tenth of the rate, on the shared bases."""
    folders, cache = stage1
    folders = {**folders, "stage1": tmp_path_factory.mktemp("tower") / "stage1"}
    run_stage("stage1", tiny_config(**BASE, **TRAINED_TOWER), folders, cache)
    return folders, cache


@pytest.fixture(scope="module")
def plain_trained_tower(stage1_trained_tower, tmp_path_factory):
    out = tmp_path_factory.mktemp("tower") / "plain"
    return stage2(stage1_trained_tower, out, None, **TRAINED_TOWER)


@pytest.mark.slow
@pytest.mark.parametrize("zero", [2, 3])
def test_zero_trains_a_tower_at_its_own_learning_rate_as_the_plain_loop(
    stage1_trained_tower, plain_trained_tower, tmp_path, zero
):
    """Two AdamW groups (the tower's at a tenth of the stage's rate) reach DeepSpeed as its
    client optimizer's groups: the sharded run moves every weight, the trunk's included, as
    the plain loop does."""
    plain = plain_trained_tower
    sharded = stage2(stage1_trained_tower, tmp_path / f"zero{zero}", zero, **TRAINED_TOWER)
    start = load_file(stage1_trained_tower[0]["stage1"] / WEIGHTS)
    trunk = {n for n in plain if n.startswith("vision.visual.")}
    moved = {n for n in trunk if not torch.equal(plain[n], start[n])}
    # the tokens are read before the trunk's final norm and projection, which stay put
    assert moved == trunk - {
        f"vision.visual.{n}" for n in ("ln_post.weight", "ln_post.bias", "proj")
    }
    for name, weight in plain.items():
        torch.testing.assert_close(sharded[name], weight, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize(
    "zero",
    [
        2,
        pytest.param(
            3,
            marks=pytest.mark.xfail(
                strict=True,
                reason="known bug: under ZeRO-3 the video frame embedding moves further than in "
                "the plain loop (max 4e-3 after 10 steps, measured when it started at std "
                "0.02), with or without the feature cache; the other weights only follow it",
            ),
        ),
    ],
)
def test_zero_on_video_batches_trains_the_same_frame_embedding(stage1, tmp_path, zero):
    plain = stage2(stage1, tmp_path / "plain", None, video=True)
    sharded = stage2(stage1, tmp_path / f"zero{zero}", zero, video=True)
    for name, weight in plain.items():
        torch.testing.assert_close(sharded[name], weight, rtol=1e-4, atol=1e-5, msg=name)


def test_zero3_resumes_from_its_checkpoint(stage1, tmp_path):
    def crash_at_step_5(record: dict) -> None:
        if record["step"] == 5:
            raise Crash("simulated crash")

    unbroken = stage2(stage1, tmp_path / "unbroken", 3)
    with pytest.raises(Crash):
        stage2(stage1, tmp_path / "resumed", 3, on_log=crash_at_step_5)
    assert (tmp_path / "resumed" / "train.ckpt.ds" / "latest").read_text().strip() == "step5"
    logs: list[dict] = []
    resumed = stage2(stage1, tmp_path / "resumed", 3, on_log=logs.append)
    assert [r["step"] for r in logs] == [10]  # continued from step 5
    for name, weight in unbroken.items():
        torch.testing.assert_close(resumed[name], weight, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("zero", [None, 3])
def test_a_tower_at_its_own_learning_rate_resumes(
    stage1_trained_tower, plain_trained_tower, tmp_path, zero
):
    """The two groups' moments and rates come back from the checkpoint: killed at step 5, a
    plain stage ends exactly as the unbroken plain run, and a ZeRO-3 stage (from its own
    checkpoint) as the plain run within the ZeRO comparison's tolerance."""

    def crash_at_step_5(record: dict) -> None:
        if record["step"] == 5:
            raise Crash("simulated crash")

    out = tmp_path / "resumed"
    with pytest.raises(Crash):
        stage2(stage1_trained_tower, out, zero, on_log=crash_at_step_5, **TRAINED_TOWER)
    if zero is not None:
        assert (out / "train.ckpt.ds" / "latest").read_text().strip() == "step5"
    logs: list[dict] = []
    resumed = stage2(stage1_trained_tower, out, zero, on_log=logs.append, **TRAINED_TOWER)
    assert [r["step"] for r in logs] == [10]  # continued from step 5
    if zero is None:  # the unbroken run made here: after the ZeRO tests in one process, the
        # plain loop's last bits differ from the fixture's run made before them (seen, not
        # explained: DeepSpeed's set-up changes some process-wide state)
        unbroken = stage2(stage1_trained_tower, tmp_path / "unbroken", None, **TRAINED_TOWER)
        for name, weight in unbroken.items():
            assert torch.equal(resumed[name], weight), name
        return
    for name, weight in plain_trained_tower.items():
        torch.testing.assert_close(resumed[name], weight, rtol=1e-4, atol=1e-5, msg=name)
