"""Whether a cluster can ever run a sweep's trials, decided before any MLflow run exists.

Ray Tune waits forever for resources no node has, printing only that the cluster may be
autoscaling. A local cluster's size is known before Ray starts (this machine's CPUs and
GPUs), so a trial larger than it is refused there; a remote cluster is asked once joined,
and given a while to grow (an autoscaler) before the sweep is refused.
A variant that must run on CUDA in a trial given no GPU is refused from the file alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ablations.errors import Problem
from ablations.spec import SweepSpec, Variant
from ablations.yaml_lines import line_of


@dataclass(frozen=True)
class Node:
    cpus: float
    gpus: float


def local_node(count_gpus: bool) -> Node:
    """What a local Ray gets (`ablations.backends.start_ray` gives it every CPU); GPUs are
    counted only when `count_gpus` (it imports torch)."""
    return Node(float(os.cpu_count() or 1), float(_local_gpus() if count_gpus else 0))


def cluster_nodes() -> list[Node]:
    """The joined cluster's live nodes (after `ray.init`)."""
    import ray

    return [
        Node(n["Resources"].get("CPU", 0.0), n["Resources"].get("GPU", 0.0))
        for n in ray.nodes()
        if n.get("Alive")
    ]


def wait_for_fit(
    spec: SweepSpec,
    nodes: Callable[[], list[Node]],
    cluster: str,
    timeout_s: float,
    say: Callable[[str], None],
    poll_s: float = 5.0,
) -> list[Problem]:
    """A remote cluster may grow (an autoscaler adds nodes): say what is missing, wait up to
    `timeout_s` for a node that fits, then refuse with what is still missing."""
    deadline = time.monotonic() + timeout_s
    now = nodes()  # one query of the cluster per poll
    problems = fit_problems(spec, now, cluster)
    if problems:
        say(f"{cluster}: {_missing(spec, now)}; waiting up to {timeout_s:g} s for a node")
    while problems and time.monotonic() < deadline:
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0)))
        problems = fit_problems(spec, nodes(), cluster)
    return problems


def fit_problems(spec: SweepSpec, nodes: list[Node], cluster: str) -> list[Problem]:
    """The trial's request against the largest node: a trial runs on one node."""
    want = spec.resources
    if any(want.cpus <= n.cpus and want.gpus <= n.gpus for n in nodes):
        return []
    return [
        Problem(
            "resources",
            f"no node of {cluster} can run a trial: {_missing(spec, nodes)}, so it would "
            "wait forever; ask for less, or run on a cluster that has it (--address)",
            line_of(spec._lines, ("resources",)),
        )
    ]


def _missing(spec: SweepSpec, nodes: list[Node]) -> str:
    want = spec.resources
    most_cpus = max((n.cpus for n in nodes), default=0.0)
    most_gpus = max((n.gpus for n in nodes), default=0.0)
    short = [
        f"{what} {asked:g} (the largest node has {has:g})"
        for what, asked, has in (("cpus", want.cpus, most_cpus), ("gpus", want.gpus, most_gpus))
        if asked > has
    ]
    return f"a trial asks for {', '.join(short)}"


def device_problems(spec: SweepSpec, variants: list[Variant]) -> list[Problem]:
    """`train.device: cuda` in a trial that is given no GPU sees none (Ray hides them)."""
    if spec.resources.gpus > 0:
        return []
    names = [v.name for v in variants if v.config.train.device == "cuda"]
    if not names:
        return []
    return [
        Problem(
            "train.device",
            f"is 'cuda' for {', '.join(names[:4])}{' …' if len(names) > 4 else ''} but the "
            "trials get no GPU (resources.gpus is 0); give them GPUs (`resources: {gpus: 1}`) "
            "or set train.device: auto",
            line_of(spec._lines, ("resources",)) or line_of(spec._lines, ("base",)),
        )
    ]


def _local_gpus() -> int:
    """GPUs this machine would give a local Ray, asked only where some trial wants one."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:  # "-1" or "" hide every GPU; a list names those shown
        shown = [d.strip() for d in visible.split(",")]
        return 0 if not all(shown) or "-1" in shown else len(shown)
    import torch  # seconds to import: only for a sweep that asks for GPUs

    return torch.cuda.device_count()
