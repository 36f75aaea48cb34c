"""The toy bases: each half (the LLM, the tower) is trained once per the fields it reads and
shared by the bases runs that need it, with the tensors a training of its own would give."""

from __future__ import annotations

import subprocess
import sys

import torch
from safetensors.torch import load_file

from lynx_core.train import bases
from lynx_core.train.bases import TOWER, prepare_bases
from tests.tiny import tiny_config

SMALL = {"train.bases.steps": 6, "train.instruct.steps": 4, "train.clip.steps": 4}


def _counting(monkeypatch) -> dict[str, int]:
    """How many times each half is trained, counted as `prepare_bases` calls them."""
    calls = {"llm": 0, "tower": 0, "order": []}
    train_llm, train_tower = bases.train_toy_llm, bases.train_toy_tower

    def llm(*args, **kwargs):
        calls["llm"] += 1
        calls["order"].append("llm")
        return train_llm(*args, **kwargs)

    def tower(*args, **kwargs):
        calls["tower"] += 1
        calls["order"].append("tower")
        return train_tower(*args, **kwargs)

    monkeypatch.setattr(bases, "train_toy_llm", llm)
    monkeypatch.setattr(bases, "train_toy_tower", tower)
    return calls


def _trained(calls: dict) -> dict[str, int]:
    return {"llm": calls["llm"], "tower": calls["tower"]}


def _curves(history: list[dict]) -> list[dict]:
    """A history without its timings (how fast a step ran is not what it learned)."""
    return [{k: v for k, v in record.items() if k != "samples_per_s"} for record in history]


def _llm_weights(folder) -> dict[str, torch.Tensor]:
    return load_file(folder / "llm" / "model.safetensors")


def test_each_half_is_trained_once_and_shared(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    calls = _counting(monkeypatch)
    world, shared = tmp_path / "world", tmp_path / "shared"
    vicuna = tiny_config(**SMALL)
    low_resolution = tiny_config(**SMALL, **{"model.vision.image_size": 16})
    llama = tiny_config(**SMALL, **{"model.llm.toy_base": "llama"})

    first = prepare_bases(vicuna, tmp_path / "vicuna", world, shared=shared)
    assert _trained(calls) == {"llm": 1, "tower": 1}
    resolution = prepare_bases(low_resolution, tmp_path / "low", world, shared=shared)
    assert _trained(calls) == {"llm": 1, "tower": 2}  # the same LLM: only the tower is trained
    prepare_bases(llama, tmp_path / "llama", world, shared=shared)
    assert _trained(calls) == {"llm": 2, "tower": 2}  # the same tower: only the LLM is trained

    # a copy carries the curves of the training it copies, phase by phase
    assert [r for r in resolution if r["stage"] != "clip"] == [
        r for r in first if r["stage"] != "clip"
    ]
    assert {r["stage"] for r in resolution} == {"bases", "instruct", "clip"}
    # and the tensors a training of its own gives
    alone = prepare_bases(low_resolution, tmp_path / "alone", world)
    assert _trained(calls) == {"llm": 3, "tower": 3}
    assert _curves(alone) == _curves(resolution)
    for name, tensor in _llm_weights(tmp_path / "alone").items():
        torch.testing.assert_close(tensor, _llm_weights(tmp_path / "low")[name], rtol=0, atol=0)
    ours, theirs = load_file(tmp_path / "alone" / TOWER), load_file(tmp_path / "low" / TOWER)
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0)


def test_halves_that_differ_are_not_shared(tmp_path, monkeypatch):
    """A field the half reads (the LLM's instruction steps) makes it a different half."""
    torch.set_num_threads(1)
    calls = _counting(monkeypatch)
    world, shared = tmp_path / "world", tmp_path / "shared"
    prepare_bases(tiny_config(**SMALL), tmp_path / "a", world, shared=shared)
    longer = tiny_config(**{**SMALL, "train.instruct.steps": 5})
    prepare_bases(longer, tmp_path / "b", world, shared=shared)
    assert _trained(calls) == {"llm": 2, "tower": 1}
    a, b = _llm_weights(tmp_path / "a"), _llm_weights(tmp_path / "b")
    assert any(not torch.equal(a[name], b[name]) for name in a)


def test_a_half_another_process_is_training_comes_last(tmp_path, monkeypatch):
    """While another process holds the LLM's lock, this bases run trains its tower first
    instead of waiting idle, then takes the LLM (here: trains it once the lock is free)."""
    torch.set_num_threads(1)
    calls = _counting(monkeypatch)
    cfg, shared = tiny_config(**SMALL), tmp_path / "shared"
    lock = bases._kept(shared, bases._llm_fields(cfg)).with_suffix(".lock")
    shared.mkdir()
    hold = (
        "import sys, time; from filelock import FileLock; held = FileLock(sys.argv[1]); "
        "held.acquire(); print('held', flush=True); time.sleep(4)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert bases._in_training(shared, bases._llm_fields(cfg))
        history = prepare_bases(cfg, tmp_path / "out", tmp_path / "world", shared=shared)
    finally:
        holder.kill()
    assert calls["order"] == ["tower", "llm"]
    assert [r["stage"] for r in history][0] == "bases"  # curves in the usual order
    assert (tmp_path / "out" / TOWER).exists() and (tmp_path / "out" / "llm").is_dir()
    assert not bases._in_training(shared, bases._llm_fields(cfg))
