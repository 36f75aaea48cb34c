"""Training batches prepared ahead in DataLoader worker processes (`train.data_workers`).

A stage's batches are a pure function of their number, so workers can compute batch n+1,
n+2, … while the step on batch n runs, and the step sees exactly the batch it would have
computed itself. The DataLoader hands them back in order; a jump in the numbers (a resumed
stage) starts the workers again at the new number.

Workers are forked: they inherit the stage's data sources (tar indexes, memory-mapped
datasets) instead of pickling them. What runs there must not touch the model or a GPU (the
frozen trunk's feature cache stays in the training process), so a batch may come back as
None: the training process then makes it itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import torch
from torch.utils.data import DataLoader, Dataset

T = TypeVar("T")


class _Numbered(Dataset, Generic[T]):
    def __init__(self, make: Callable[[int], T | None]):
        self.make = make

    def __getitem__(self, number: int) -> T | None:
        return self.make(number)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)  # a worker decodes images; the step's threads are the trainer's


class Prefetched(Generic[T]):
    """`make(number)` for increasing numbers, computed `workers` processes ahead."""

    def __init__(self, make: Callable[[int], T | None], workers: int, ahead: int = 2):
        self.make, self.workers, self.ahead = make, workers, ahead
        self._next: int | None = None
        self._batches: Iterator[T | None] | None = None

    def __call__(self, number: int) -> T | None:
        if number != self._next or self._batches is None:
            self._batches = iter(
                DataLoader(
                    _Numbered(self.make),
                    batch_size=None,  # `make` builds whole batches
                    sampler=itertools.count(number),
                    num_workers=self.workers,
                    prefetch_factor=self.ahead,
                    multiprocessing_context="fork",
                    worker_init_fn=_one_thread,
                    collate_fn=_as_is,
                    # its own seed source: the global RNG the training draws from stays as it
                    # would be without workers (the batches themselves use no RNG)
                    generator=torch.Generator(),
                )
            )
        self._next = number + 1
        return next(self._batches)


def _as_is(batch: T) -> T:
    return batch  # a None (made by the trainer) must pass the default collate untouched
