"""Which samples a rank trained on, batch by batch: `samples.rank<k>.jsonl` in the stage's
folder (`train.sample_log`), one line `{"batch": n, "keys": [...]}` per batch this rank
trained on (written once the optimizer step took it), its keys `<pool>:<sample>`: a
webdataset sample's `<shard>/<key>`, a training file's `@<byte offset of its row>#<turn>`,
another source's row (the generated world's are a function of `data.seed`).

A data audit a research user can rely on: which rows a model saw and in which order, on
which rank. A stage resumed from its checkpoint redoes the batches after it, so the log
drops what it holds from the first batch asked again onwards: a resumed stage's log equals
an uninterrupted one's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from lynx_core.atomic import write_with


def log_path(folder: Path, rank: int) -> Path:
    return folder / f"samples.rank{rank}.jsonl"


class SampleLog:
    """Appends each batch's keys; a batch other than the one expected next (the first this
    process writes, after a resume) first truncates the log to the batches before it."""

    def __init__(self, path: Path):
        self.path = path
        self._next: int | None = None  # the batch expected next, once writing has started
        self._pending: list[tuple[int, list[str]]] = []  # made, not yet trained

    def pending(self, batch: int, keys: Sequence[str]) -> None:
        """A batch made for training: recorded once the optimizer step took it (`trained`),
        never before its images were read; a stage resumed from an earlier checkpoint drops
        the lines of the batches it redoes (`record`)."""
        self._pending.append((batch, list(keys)))

    def trained(self, upto: int) -> None:
        """Record the pending batches numbered below `upto`: the optimizer step took them."""
        done = [entry for entry in self._pending if entry[0] < upto]
        self._pending = [entry for entry in self._pending if entry[0] >= upto]
        for batch, keys in done:
            self.record(batch, keys)

    def record(self, batch: int, keys: Sequence[str]) -> None:
        if batch != self._next:  # the stage's first batch here, or one asked again
            self._keep_before(batch)
        with self.path.open("a") as out:
            out.write(json.dumps({"batch": batch, "keys": list(keys)}) + "\n")
        self._next = batch + 1

    def _keep_before(self, batch: int) -> None:
        if self.path.exists():  # streamed: a stage-1 log at 120M samples is gigabytes
            write_with(self.path, partial(_copy_before, self.path, batch))


def _copy_before(log: Path, batch: int, copy: Path) -> None:
    """The lines of batches before `batch`; a line cut short by a kill is dropped."""
    with log.open() as lines, copy.open("w") as out:
        out.writelines(line for line in lines if _batch_of(line) < batch)


def read_log(path: Path) -> list[tuple[int, list[str]]]:
    """(batch, keys) of each line."""
    with path.open() as lines:
        return [(row["batch"], row["keys"]) for row in map(json.loads, lines)]


def _batch_of(line: str) -> float:
    try:
        return json.loads(line)["batch"] if line.endswith("\n") else float("inf")
    except (ValueError, KeyError, TypeError):
        return float("inf")
