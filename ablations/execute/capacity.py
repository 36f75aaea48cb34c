"""Whether a cluster can ever run a sweep's trials, decided before any MLflow run exists.

Ray Tune waits forever for resources no node has, printing only that the cluster may be
autoscaling. A local cluster's size is known before Ray starts (this machine's CPUs and
GPUs), so a trial larger than it is refused there; a remote cluster is asked once joined,
and given a while to grow (an autoscaler) before the sweep is refused.
A variant that must run on CUDA in a trial given no GPU is refused from the file alone.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ablations.sweep.errors import Problem, at, first_names
from ablations.sweep.resources import TRIAL_TOKEN_CPUS, Ask
from ablations.sweep.spec import SweepSpec
from ablations.sweep.variant import Variant
from lynx_core.stages import ON_DEVICE, STAGES, Stage


@dataclass(frozen=True)
class Node:
    cpus: float
    gpus: float
    custom: tuple[tuple[str, float], ...] = ()  # Ray custom resources the node offers

    def has(self, name: str) -> float:
        return {"CPU": self.cpus, "GPU": self.gpus, **dict(self.custom)}.get(name, 0.0)

    def fits(self, want: dict[str, float], reserved_cpus: float = 0.0) -> int:
        """How many bundles of `want` (positive amounts) this node holds at once, beside
        `reserved_cpus` (a multi-worker trial's own token CPU)."""
        have = {k: self.has(k) - (reserved_cpus if k == "CPU" else 0.0) for k in want}
        return int(min((math.floor(have[k] / v + 1e-9) for k, v in want.items()), default=0))


def local_node(count_gpus: bool) -> Node:
    """What a local Ray gets (`ablations.execute.backends.start_ray` gives it every CPU); GPUs are
    counted only when `count_gpus` (it imports torch)."""
    return Node(float(os.cpu_count() or 1), float(_local_gpus() if count_gpus else 0))


def cluster_nodes() -> list[Node]:
    """The joined cluster's live nodes (after `ray.init`)."""
    import ray

    return [_node(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


def _node(resources: dict[str, float]) -> Node:
    custom = tuple(
        (k, v) for k, v in sorted(resources.items())
        if k not in ("CPU", "GPU", "memory", "object_store_memory") and not k.startswith("node:")
    )  # fmt: skip
    return Node(resources.get("CPU", 0.0), resources.get("GPU", 0.0), custom)


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
        short = _shortfalls(spec, now)
        lacking = "; ".join(f"{stage}: {text}" for stage, _, text in short)
        if len(short) == 1 and short[0][1] == "resources":  # one request for every stage
            lacking = short[0][2]
        say(f"{cluster}: {lacking}; waiting up to {timeout_s:g} s for a node")
    while problems and time.monotonic() < deadline:
        time.sleep(min(poll_s, max(deadline - time.monotonic(), 0)))
        problems = fit_problems(spec, nodes(), cluster)
    return problems


def fit_problems(spec: SweepSpec, nodes: list[Node], cluster: str) -> list[Problem]:
    """Each stage's request against the cluster: one worker must fit on one node, and a
    stage's workers together within the cluster (Ray places them across nodes)."""
    problems = [
        Problem(
            field,
            f"no node of {cluster} can run {stage if field != 'resources' else 'a trial'}: "
            f"{short}, so it would wait forever; "
            "ask for less, or run on a cluster that has it (--address)",
            at=(*at(tuple(field.split("."))), *at(("resources",))),
        )
        for stage, field, short in _shortfalls(spec, nodes)
    ]
    return spec.locate(problems)


def _shortfalls(spec: SweepSpec, nodes: list[Node]) -> list[tuple[Stage, str, str]]:
    """(stage, the field that sets its request, what it lacks) per request these nodes
    cannot run."""
    return [
        (stage, field, short)
        for stage, field, ask in _asks(spec)
        if (short := _missing(ask, nodes))
    ]


def _asks(spec: SweepSpec):
    """(stage, the field that sets its request, the request), one per distinct request."""
    seen = set()
    for stage in STAGES:
        ask = spec.resources.of(stage)
        key = (ask.cpus, ask.gpus, tuple(sorted(ask.custom.items())), ask.workers)
        if key in seen:
            continue
        seen.add(key)
        own = stage in spec.resources.model_fields_set  # the file gives this stage its own
        yield stage, f"resources.{stage}" if own else "resources", ask


FIELD_NAMES = {"CPU": "cpus", "GPU": "gpus"}  # Ray's names → the sweep's


def _missing(ask: Ask, nodes: list[Node]) -> str:
    """What a stage's request lacks on these nodes ('' if they can run it). A multi-worker
    stage's trial holds a token CPU on some node beside its workers (`ablations.execute.trial`)."""
    want = ask.bundle()
    token = TRIAL_TOKEN_CPUS if ask.workers > 1 else 0.0
    counts = [n.fits(want) for n in nodes]
    places = max(
        (sum(counts) - c + n.fits(want, token) for n, c in zip(nodes, counts, strict=True)),
        default=0,
    )
    if places >= ask.workers:
        return ""
    if places:  # a worker fits somewhere, but not all of them at once
        return (
            f"{ask.workers} workers of {_text(want)} each (and the trial's {token:g} cpu), "
            f"and the nodes hold {places}"
        )
    short = [
        f"{FIELD_NAMES.get(name, name)} {asked:g} "
        f"(the largest node has {max((n.has(name) for n in nodes), default=0):g})"
        for name, asked in want.items()
        if all(asked > n.has(name) for n in nodes)
    ]
    what = ", ".join(short) or f"{_text(want)}, which no single node has together"
    return f"a {'worker' if ask.workers > 1 else 'trial'} asks for {what}"


def _text(want: dict[str, float]) -> str:
    return ", ".join(f"{FIELD_NAMES.get(name, name)} {amount:g}" for name, amount in want.items())


def device_problems(spec: SweepSpec, variants: list[Variant]) -> list[Problem]:
    """`train.device: cuda` in a stage given no GPU sees none (the sweep's Ray hides the
    node's GPUs from it: `ablations.execute.backends.HIDE_UNGIVEN_GPUS`)."""
    problems = []
    names = [v.name for v in variants if v.config.train.device == "cuda"]
    for stage in ON_DEVICE:
        ask = spec.resources.of(stage)
        if ask.gpus == 0 and names:
            problems.append(
                Problem(
                    "train.device",
                    f"is 'cuda' for {first_names(names)} but the {stage} trials get no GPU "
                    f"(resources.gpus is 0 for {stage}); give them GPUs (`resources: "
                    "{gpus: 1}`) or set train.device: auto",
                    at=(*at(("resources",)), *at(("base",))),
                )
            )
            break
    return spec.locate(problems)


def _local_gpus() -> int:
    """GPUs this machine would give a local Ray, asked only where some trial wants one."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:  # "-1" or "" hide every GPU; a list names those shown
        shown = [d.strip() for d in visible.split(",")]
        return 0 if not all(shown) or "-1" in shown else len(shown)
    import torch  # seconds to import: only for a sweep that asks for GPUs

    return torch.cuda.device_count()
