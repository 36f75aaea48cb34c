"""What each stage run asks of Ray: a trial's CPUs, GPUs and custom resources, and a data-parallel
stage's workers, per stage or for all (`resources:` in a sweep)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from lynx_core.config import StrictModel
from lynx_core.stages import STAGES, Stage

Amount = Annotated[float, Field(gt=0)]
TRIAL_TOKEN_CPUS = 0.01  # what a multi-worker stage's trial holds while its workers compute


class TrialResources(StrictModel):
    """One stage's own request, where it differs from the sweep's default (unset: inherited)."""

    cpus: float | None = Field(None, gt=0)
    gpus: float | None = Field(None, ge=0)
    custom: dict[str, Amount] = Field({}, description="Ray custom resources, e.g. {TPU: 1}")


class WorkerResources(TrialResources):
    """A training or eval stage's request: per worker, and how many workers (data-parallel
    ranks of one Ray Train run; eval deals its batches of questions out among them);
    `workers: 1` is a plain trial."""

    workers: int = Field(1, ge=1, le=4096)


@dataclass(frozen=True)
class Ask:
    """What one stage run asks Ray for, resolved: `workers` × (cpus, gpus, custom)."""

    cpus: float
    gpus: float
    custom: dict[str, float]
    workers: int = 1

    def __str__(self) -> str:
        each = " / ".join(
            [f"{self.cpus:g} cpu", f"{self.gpus:g} gpu"]
            + [f"{amount:g} {name}" for name, amount in sorted(self.custom.items())]
        )
        return f"{self.workers} workers x {each}" if self.workers > 1 else each

    @property
    def threads(self) -> int:
        """Torch threads for one worker: its whole CPUs, at least one."""
        return max(int(self.cpus), 1)

    def bundle(self) -> dict[str, float]:
        """One worker's resources in Ray's names, the amounts it asks for (none of 0)."""
        every = {"CPU": self.cpus, "GPU": self.gpus, **self.custom}
        return {name: amount for name, amount in every.items() if amount > 0}


class Resources(StrictModel):
    """What each stage run asks Ray for. The top level is every stage's default (so the
    single block of older sweeps still means what it did); `bases`, `stage1`, `stage2` and
    `eval` override it per stage, e.g. no GPU for the bases and 8 GPU workers for stage 1.
    Fractional GPUs share a device (no memory isolation)."""

    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    custom: dict[str, Amount] = Field({}, description="Ray custom resources, e.g. {TPU: 1}")
    bases: TrialResources = TrialResources()
    stage1: WorkerResources = WorkerResources()
    stage2: WorkerResources = WorkerResources()
    eval: WorkerResources = WorkerResources()

    def of(self, stage: Stage) -> Ask:
        own: TrialResources = getattr(self, stage)
        return Ask(
            cpus=self.cpus if own.cpus is None else own.cpus,
            gpus=self.gpus if own.gpus is None else own.gpus,
            custom={**self.custom, **own.custom},
            workers=getattr(own, "workers", 1),
        )

    def describe(self) -> str:
        """E.g. '8 cpu / 1 gpu per stage run; bases 8 cpu / 0 gpu; stage1 8 workers x 8 cpu
        / 1 gpu' (the stages that differ from the default)."""
        default = Ask(self.cpus, self.gpus, dict(self.custom))
        parts = [f"{default} per stage run"]
        parts += [f"{stage} {self.of(stage)}" for stage in STAGES if self.of(stage) != default]
        return "; ".join(parts)

    def gpus_by_stage(self) -> dict[Stage, float]:
        return {stage: self.of(stage).gpus for stage in STAGES}

    @property
    def any_gpus(self) -> bool:
        return any(gpus > 0 for gpus in self.gpus_by_stage().values())
