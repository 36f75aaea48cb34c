"""Ray, embedded by default or a cluster's (the MLflow store's address: `ablations.tracking.uri`).

Kept light (no Tune, no MLflow import) so that the sweep command can start Ray first and
import the rest of the driver while Ray comes up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray


def ray_address(address: str | None) -> str | None:
    """The cluster to join: `address`, else `RAY_ADDRESS`; None means a local Ray."""
    return address or os.environ.get("RAY_ADDRESS")


@contextmanager
def ray_session(address: str | None, log_file: Path | None = None) -> Iterator[None]:
    """Ray for the block: a cluster's is joined and left running, a local one is shut down.
    With `log_file`, the driver's Ray and Tune log records go there, not to the terminal.

    Enter it on the main thread: a local Ray's processes are tied to the thread that starts
    them (they get its death signal), so a worker thread's exit would take them down.
    """
    if log_file is not None:
        route_ray_logs(log_file)
    local = start_ray(address)
    try:
        yield
    finally:
        if local:
            ray.shutdown()


def route_ray_logs(log_file: Path) -> None:
    """Ray's and Tune's driver-side log records (token-auth notices, "… may be a performance
    bottleneck") into `log_file` instead of the terminal, which shows only our progress and
    the errors that need the user; a trial's own error still reaches it
    (`ablations.execute.run`)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    ray_logger = logging.getLogger("ray")  # Ray's own handler writes to stderr
    for old in list(ray_logger.handlers):
        ray_logger.removeHandler(old)
    ray_logger.addHandler(handler)
    ray_logger.propagate = False


# Ray 2.60 no longer hides a node's GPUs from a task or actor given none (it leaves
# CUDA_VISIBLE_DEVICES as the node has it): a stage planned on the CPU would see the node's
# GPUs, compute on one nobody gave it, and resolve `train.device: auto` to another runtime
# than its key says. Ray's own switch restores the hiding for every worker of the sweep.
HIDE_UNGIVEN_GPUS = "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO"


def start_ray(address: str | None) -> bool:
    """Connect to `address` / `RAY_ADDRESS`, else start a local Ray; True when local."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault(HIDE_UNGIVEN_GPUS, "1")  # a local Ray's workers inherit it
    address = ray_address(address)
    local = address is None
    hide = {"env_vars": {HIDE_UNGIVEN_GPUS: os.environ[HIDE_UNGIVEN_GPUS]}}
    ray.init(
        address=address,
        num_cpus=os.cpu_count() if local else None,
        include_dashboard=False if local else None,
        log_to_driver=False,
        logging_level=logging.WARNING,
        ignore_reinit_error=True,
        runtime_env=None if local else hide,  # a cluster's take theirs from the node
    )
    return local
