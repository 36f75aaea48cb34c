"""This process's place among a stage's data-parallel ranks, and the collectives both training
and evaluation use: work `dealt` round-robin and `gathered` back in order, a number averaged.

A launcher (Ray Train's `TorchTrainer`, `torchrun`) starts the ranks and initialises
`torch.distributed`; this module only uses it. Training's own share of the story (loss
weights, gradient sync) is `lynx_core.train.distributed`; a rank's rows of a batch,
`lynx_core.data.batches.take_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """This process's place among the stage's data-parallel ranks, and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, batch_size: int) -> slice:
        """This rank's contiguous block of a global batch's rows: `batch_size / world` each,
        or as near as can be when a batch is smaller than configured (a small data pool)."""
        if batch_size < self.world:
            raise ValueError(
                f"a batch of {batch_size} rows cannot give each of {self.world} workers one: "
                "a data pool holds fewer examples than the stage has workers"
            )
        return slice(
            self.rank * batch_size // self.world, (self.rank + 1) * batch_size // self.world
        )


SINGLE = Ranks(0, 1, torch.device("cpu"))
T = TypeVar("T")


def mean_over_ranks(value: float, ranks: Ranks) -> float:
    """The mean of a number over the ranks (the global loss, for the logged curve)."""
    if ranks.world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=ranks.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / ranks.world


def dealt(items: Sequence[T], ranks: Ranks) -> Sequence[T]:
    """This rank's hand of work dealt round-robin: items rank, rank + world, …"""
    return items[ranks.rank :: ranks.world]


def gathered(mine: list[T], ranks: Ranks) -> list[T]:
    """Every rank's results of work `dealt` to it, on every rank, in the items' order."""
    if ranks.world == 1:
        return mine
    hands: list[list[T]] = [[] for _ in range(ranks.world)]
    dist.all_gather_object(hands, mine)
    total = sum(len(hand) for hand in hands)
    return [hands[i % ranks.world][i // ranks.world] for i in range(total)]
