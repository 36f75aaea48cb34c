"""A Ray Tune searcher that hands out a plan's stage runs as their parents finish.

One Tune experiment then runs the whole plan as a dependency graph: a variant's stage 2 starts
as soon as its own stage 1 is done, not when the slowest stage 1 of the sweep is, and trial
actors (with torch already imported) are reused from one stage run to the next. Tune keeps
asking while `suggest` returns None, so a run waits for its parent without holding resources.
A run whose parent failed is never suggested; it fails with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ray.tune.search import Searcher

from ablations.planning.plan import StageRun


class StageGraphSearcher(Searcher):
    def __init__(self, runs: Iterable[StageRun], already_done: Iterable[str] = ()):
        super().__init__()
        self.runs = {run.id: run for run in runs}  # the runs to execute, in plan order
        self.done: set[str] = set(already_done)  # parents finished before this experiment
        self.failed: set[str] = set()
        self.trials: dict[str, str] = {}  # Tune trial id → run id
        self.started: set[str] = set()

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # no metric to optimise: every run is wanted

    def _blocked(self, run: StageRun) -> bool:
        return run.parent_id is not None and run.parent_id in self.failed

    def suggest(self, trial_id: str) -> dict | str | None:
        for run_id, run in self.runs.items():
            if run_id in self.started or run_id in self.failed:
                continue
            if self._blocked(run):
                self.failed.add(run_id)
                continue
            if run.parent_id is None or run.parent_id in self.done:
                self.started.add(run_id)
                self.trials[trial_id] = run_id
                return {"run": run_id}
        if self.started | self.failed >= set(self.runs):
            return Searcher.FINISHED
        return None  # the rest wait for parents still running

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        run_id = self.trials[trial_id]
        (self.failed if error else self.done).add(run_id)

    def save(self, checkpoint_path: str) -> None:
        state = {k: sorted(getattr(self, k)) for k in ("done", "failed", "started")}
        with open(checkpoint_path, "w") as f:
            json.dump({**state, "trials": self.trials}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            state = json.load(f)
        self.done, self.failed = set(state["done"]), set(state["failed"])
        self.started = set(state["started"])
        self.trials = state["trials"]
