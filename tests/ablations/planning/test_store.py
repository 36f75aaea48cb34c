"""The store: a manifest marks a finished stage run; damaged outputs are never reused."""

from __future__ import annotations

import json

import pytest

from ablations.planning.plan import make_plan
from ablations.planning.store import Store, StoreError
from ablations.sweep.variant import Variant
from lynx_core.config import VariantConfig


@pytest.fixture
def run():
    plan = make_plan([Variant("a", VariantConfig(), {}, 0)])
    return plan.run_of("a", "stage1")


def finish(store: Store, run) -> None:
    folder = store.folder(run.stage, run.key)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainable.safetensors").write_bytes(b"weights")
    (folder / "train.ckpt").write_bytes(b"optimizer state")
    (folder / "train.ckpt.sha256").write_text("abc")
    (folder / "best.train.ckpt").write_bytes(b"best state")
    (folder / "best.safetensors").write_bytes(b"best weights")
    (folder / "train.ckpt.ds" / "step5").mkdir(
        parents=True, exist_ok=True
    )  # DeepSpeed's checkpoint
    (folder / "train.ckpt.ds" / "step5" / "zero_pp_rank_0.pt").write_bytes(b"shard")
    store.begin(run)
    store.complete(run, {"stage1/final_loss": 0.5}, [{"stage": "stage1", "step": 5, "loss": 1}])


def test_a_completed_run_has_a_manifest_of_its_outputs(tmp_path, run):
    store = Store(tmp_path)
    assert store.manifest(run.stage, run.key) is None
    finish(store, run)
    manifest = store.manifest(run.stage, run.key)
    assert manifest is not None and manifest.metrics == {"stage1/final_loss": 0.5}
    # bookkeeping and scratch (checkpoints, DeepSpeed's folder) excluded
    assert sorted(manifest.files) == ["best.safetensors", "trainable.safetensors"]
    assert manifest.chain == run.chain and manifest.history[0]["step"] == 5
    folder = store.folder(run.stage, run.key)
    assert not (folder / "train.ckpt").exists(), "the checkpoint is dropped once outputs exist"
    assert not (folder / "train.ckpt.ds").exists() and not (folder / "best.train.ckpt").exists()
    assert len(store.attempts(run.stage, run.key)) == 1
    store.verify(run.stage, run.key)


def test_a_changed_output_fails_verification_with_the_fix(tmp_path, run):
    store = Store(tmp_path)
    finish(store, run)
    folder = store.folder(run.stage, run.key)
    (folder / "trainable.safetensors").write_bytes(b"WEIGHTS")  # same size, other content
    with pytest.raises(StoreError, match=f"delete {folder}"):
        store.verify(run.stage, run.key)


def test_missing_or_resized_outputs_or_a_broken_manifest_mean_not_done(tmp_path, run):
    store = Store(tmp_path)
    finish(store, run)
    folder = store.folder(run.stage, run.key)
    (folder / "trainable.safetensors").write_bytes(b"w")
    assert store.manifest(run.stage, run.key) is None
    (folder / "trainable.safetensors").unlink()
    assert store.manifest(run.stage, run.key) is None
    (folder / "manifest.json").write_text(json.dumps({"stage": "stage1"}))
    assert store.manifest(run.stage, run.key) is None


def test_a_run_verifies_the_outputs_it_loads_and_no_others(tmp_path):
    plan = make_plan([Variant("a", VariantConfig(), {}, 0)])
    store = Store(tmp_path)
    for stage in ("bases", "stage1", "stage2"):
        finish(store, plan.run_of("a", stage))
    evaluation = plan.run_of("a", "eval")
    stage1, stage2 = (store.folder(s, evaluation.chain[s]) for s in ("stage1", "stage2"))
    (stage1 / "trainable.safetensors").write_bytes(b"WEIGHTS")  # eval does not load stage 1's
    store.verify_inputs(evaluation)
    with pytest.raises(StoreError, match="stage1"):
        store.verify_inputs(plan.run_of("a", "stage2"))
    (stage2 / "best.safetensors").write_bytes(b"BEST WEIGHTS")
    with pytest.raises(StoreError, match=f"delete {stage2}"):
        store.verify_inputs(evaluation)


def test_a_run_with_a_nan_secondary_metric_is_still_finished(tmp_path, run):
    store = Store(tmp_path)
    folder = store.folder(run.stage, run.key)
    folder.mkdir(parents=True)
    (folder / "trainable.safetensors").write_bytes(b"weights")
    store.begin(run)
    store.complete(run, {"openvqa/Color/acc": float("nan")}, [])
    manifest = store.manifest(run.stage, run.key)
    assert manifest is not None and manifest.metrics["openvqa/Color/acc"] != 0  # NaN, not null


def test_a_run_recorded_with_a_nan_headline_is_evaluated_again(tmp_path, run):
    """A manifest written before evaluation refused NaN headlines: not finished, so the
    stage runs again rather than a variant finishing without its score."""
    store = Store(tmp_path)
    folder = store.folder(run.stage, run.key)
    folder.mkdir(parents=True)
    store.begin(run)
    store.complete(run, {"openvqa/overall": float("nan"), "mme/perception": 120.0}, [])
    assert store.manifest(run.stage, run.key) is None


def test_a_damaged_run_is_rejected_and_computed_again(tmp_path, run):
    store = Store(tmp_path)
    finish(store, run)
    folder = store.folder(run.stage, run.key)
    assert store.damaged(run.stage, run.key) is None
    (folder / "trainable.safetensors").write_bytes(b"WEIGHTS")
    problem = store.damaged(run.stage, run.key)
    assert problem == (
        f"{folder / 'trainable.safetensors'} does not match its checksum in "
        f"{folder / 'manifest.json'}"
    )
    store.reject(run.stage, run.key, problem)
    assert store.manifest(run.stage, run.key) is None  # unfinished: it will run again
    assert not (folder / "trainable.safetensors").exists()  # never loaded by a child
    rejected = json.loads((folder / ".rejected-manifest.json").read_text())
    assert rejected["reason"] == problem and "trainable.safetensors" in rejected["files"]
    assert len(store.attempts(run.stage, run.key)) == 1  # the audit trail stays


def test_the_driver_checks_what_pending_runs_load_and_rejects_the_damaged(tmp_path):
    from ablations.execute.run import stored_runs

    plan = make_plan([Variant("a", VariantConfig(), {}, 0)])
    store = Store(tmp_path)
    for stage in ("bases", "stage1"):
        finish(store, plan.run_of("a", stage))
    stage1 = plan.run_of("a", "stage1")
    warnings: list[str] = []
    assert stored_runs(plan, store, warnings.append) == {plan.run_of("a", "bases").id, stage1.id}
    assert warnings == []
    (store.folder("stage1", stage1.key) / "best.safetensors").write_bytes(b"BEST WEIGHTS")
    assert stored_runs(plan, store, warnings.append) == {plan.run_of("a", "bases").id}
    assert len(warnings) == 1 and f"computing {stage1.id} again" in warnings[0]
    # ...and once stage 2 is finished, a damaged stage 1 no longer matters to anything
    finish(store, stage1)
    finish(store, plan.run_of("a", "stage2"))
    (store.folder("stage1", stage1.key) / "best.safetensors").write_bytes(b"BEST WEIGHTS")
    assert stage1.id in stored_runs(plan, store, warnings.append)


def test_a_run_is_computed_under_a_lock_that_a_second_claimant_waits_for(tmp_path, run, caplog):
    import threading
    import time

    store = Store(tmp_path)
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with store.claim(run):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(10)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with store.claim(run):
        waited = time.monotonic() - started
    thread.join()
    assert waited >= 0.4
    assert "is being computed by pid" in caplog.text


def test_a_killed_holder_leaves_no_stale_lock(tmp_path, run):
    import subprocess
    import sys
    import time

    store = Store(tmp_path)
    folder = store.folder(run.stage, run.key)
    folder.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(folder / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    started = time.monotonic()
    with store.claim(run):
        assert time.monotonic() - started < 5
