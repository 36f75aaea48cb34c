"""What the user sees while a sweep runs: one progress bar per variant, then a results table.

A bar shows the variant's training steps done of its chain's total, the stage it is in, the
last logged loss, the time elapsed and an estimate of the time left.

A variant's bar covers its chain's training steps (bases, stage 1, stage 2); a stage run shared
by several variants moves all their bars, and one found in the store fills its part at once.
Driven by the executor's callbacks on the driver; in a non-interactive terminal (CI, logs)
rich falls back to plain lines, so every start, finish and failure is still printed.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ablations.sweep.variant import Variant
from lynx_core.stages import STAGES, bases_phases


def curves(variant: Variant) -> list[tuple[str, str, int]]:
    """(stage, curve, steps) of every training curve of the chain, in order: the bases'
    phases (LLM pretraining, instruction tuning, CLIP tower), then stage 1 and stage 2."""
    cfg = variant.config
    rows = [("bases", phase, getattr(cfg.train, phase).steps) for phase in bases_phases(cfg)]
    return rows + [(s, s, getattr(cfg.train, s).steps) for s in ("stage1", "stage2")]


def steps_through(variant: Variant, stage: str) -> int:
    """Steps of every curve of `stage` and of the stages before it."""
    last = STAGES.index(stage)
    return sum(steps for owner, _, steps in curves(variant) if STAGES.index(owner) <= last)


def steps_before(variant: Variant, curve: str) -> int:
    """Steps of the curves before `curve` in the chain (all of them for 'eval')."""
    total = 0
    for _, name, steps in curves(variant):
        if name == curve:
            break
        total += steps
    return total


class SweepProgress:
    def __init__(self, variants: list[Variant], console: Console | None = None):
        self.console = console or Console()
        self.variants = {v.name: v for v in variants}
        self.progress = Progress(
            TextColumn("{task.fields[status]:>8}"),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),  # training steps of the whole chain, done / total
            TextColumn("{task.fields[stage]:<7} loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            refresh_per_second=2,  # the driver shares the machine with the trials
        )
        self.tasks: dict[str, TaskID] = {
            v.name: self.progress.add_task(
                v.name, total=steps_before(v, "eval") + 1, status="queued", stage="", loss="-"
            )
            for v in variants
        }

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def _complete(self, name: str, stage: str, loss: str = "") -> None:
        task = self.tasks[name]
        self.progress.update(
            task, status="done", completed=self.progress.tasks[task].total, stage=stage, loss=loss
        )

    def skipped(self, name: str) -> None:
        self._complete(name, "(recorded earlier)")

    def run_started(self, run_id: str, names: list[str]) -> None:
        for name in names:
            self.progress.update(self.tasks[name], status="running")
        if not self.console.is_terminal:
            users = ", ".join(names) or "variants still to come (computed ahead)"
            self.console.print(f"running  {run_id} for {users}")

    def stage_reused(self, names: list[str], stage: str) -> None:
        for name in names:
            variant = self.variants[name]
            done = steps_through(variant, stage)
            self.progress.update(self.tasks[name], completed=done, stage=f"{stage} (stored)")

    def step(self, name: str, stage: str, step: int, loss: float) -> None:
        offset = steps_before(self.variants[name], stage)
        self.progress.update(
            self.tasks[name], completed=offset + step, stage=stage, loss=f"{loss:.3f}"
        )

    def finished(self, name: str, overall: float) -> None:
        self._complete(name, "eval", f"· overall {overall:.1f}%")
        if not self.console.is_terminal:
            self.console.print(f"done     {name}: Open-VQA overall {overall:.1f}%")

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning[/yellow]  {escape(text)}", highlight=False)

    def failed(self, name: str, where: str) -> None:
        self.progress.update(self.tasks[name], status="[red]failed", stage="", loss=where)
        self.console.print(f"[red]failed[/red]   {name}: {where}")


def print_table(console: Console, frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column == "variant" else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
