"""What the user sees while a sweep runs: one progress bar per variant, then a results table.

Driven by the executor's callbacks on the driver; in a non-interactive terminal (CI, logs)
rich falls back to plain lines, so every start, finish and failure is still printed.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ablations.spec import Variant

STAGES = ("stage1", "stage2")  # per-variant bars; shared bases are prepared beforehand


def total_steps(variant: Variant) -> int:
    return sum(getattr(variant.config.train, stage).steps for stage in STAGES)


class SweepProgress:
    def __init__(self, variants: list[Variant], console: Console | None = None):
        self.console = console or Console()
        self.variants = {v.name: v for v in variants}
        self.progress = Progress(
            TextColumn("{task.fields[status]:>8}"),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[stage]:<7} loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.tasks: dict[str, TaskID] = {
            v.name: self.progress.add_task(
                v.name, total=total_steps(v), status="queued", stage="", loss="-", start=False
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

    def started(self, name: str) -> None:
        self.progress.start_task(self.tasks[name])
        self.progress.update(self.tasks[name], status="running")
        if not self.console.is_terminal:
            self.console.print(f"running  {name}")

    def step(self, name: str, stage: str, step: int, loss: float) -> None:
        if stage not in STAGES:  # e.g. bases trained inside a trial after a lost cache
            self.progress.update(self.tasks[name], stage=stage, loss=f"{loss:.3f}")
            return
        cfg = self.variants[name].config.train
        offset = sum(getattr(cfg, s).steps for s in STAGES[: STAGES.index(stage)])
        self.progress.update(
            self.tasks[name], completed=offset + step, stage=stage, loss=f"{loss:.3f}"
        )

    def finished(self, name: str, overall: float) -> None:
        self._complete(name, "eval", f"· overall {overall:.1f}%")
        if not self.console.is_terminal:
            self.console.print(f"done     {name}: Open-VQA overall {overall:.1f}%")

    def failed(self, name: str, where: str) -> None:
        self.progress.update(self.tasks[name], status="[red]failed", stage="", loss=where)
        self.console.print(f"[red]failed[/red]   {name}: see {where}")


def print_table(console: Console, frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column == "variant" else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
