"""The sweep's Ray session: what its workers see of the machine."""

from __future__ import annotations

import functools
import os

import ray

from ablations.execute.backends import start_ray


def test_a_task_given_no_gpu_sees_none_on_a_gpu_machine(monkeypatch):
    """Ray 2.60 leaves a zero-GPU task the node's CUDA_VISIBLE_DEVICES; the sweep's session
    hides them (a CPU stage would otherwise resolve `train.device: auto` to CUDA). The GPU is
    Ray's fake one, the visible device the variable a GPU node's processes have."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    for name in ("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "RAY_USAGE_STATS_ENABLED"):
        monkeypatch.setenv(name, "")  # restored (unset) after the test, as start_ray sets it
        monkeypatch.delenv(name)
    monkeypatch.setattr(ray, "init", functools.partial(ray.init, num_gpus=1))

    @ray.remote
    def visible() -> str | None:
        return os.environ.get("CUDA_VISIBLE_DEVICES")

    assert start_ray(None)
    try:
        given_none = ray.get(visible.options(num_gpus=0).remote())
        given_one = ray.get(visible.options(num_gpus=1).remote())
    finally:
        ray.shutdown()
    assert (given_none, given_one) == ("", "0")
