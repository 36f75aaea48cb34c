"""Sampling training batches from several datasets by ratio, deterministically per seed.

Each step draws one source by its ratio and takes the source's next batch, so every batch has
one kind of media (images, videos or none) and a source's examples are walked in epoch-wise
shuffles. Which source and which rows a step gets is a pure function of (seed, step), so a
resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lynx_core.data.batches import batch_indices
from lynx_core.data.examples import Example


def normalised(ratios: Mapping[str, float], available: Sequence[str]) -> dict[str, float]:
    """Ratios of the available (non-empty, not held-out) sources, summing to 1."""
    kept = {name: float(ratios.get(name, 0.0)) for name in available}
    if any(r < 0 for r in kept.values()):
        raise ValueError(f"mixture ratios must be ≥ 0, got {kept}")
    total = sum(kept.values())
    if total <= 0:
        raise ValueError(
            f"no source left to sample: ratios {dict(ratios)} over available {list(available)}"
        )
    return {name: r / total for name, r in kept.items() if r > 0}


@dataclass
class Mixture:
    """Per-step batches drawn from named pools of examples by ratio."""

    pools: dict[str, Sequence[Example]]
    weights: dict[str, float]
    batch_size: int
    seed: int
    _plan: list[tuple[str, int]] = field(default_factory=list, repr=False)  # (source, draw no.)
    _drawn: dict[str, int] = field(default_factory=dict, repr=False)  # draws per source so far

    def _source(self, step: int) -> str:
        rng = random.Random(f"mixture-{self.seed}-{step}")
        names = list(self.weights)
        return rng.choices(names, [self.weights[n] for n in names])[0]

    def _extend(self, steps: int) -> None:
        for step in range(len(self._plan), steps):
            name = self._source(step)
            self._plan.append((name, self._drawn.get(name, 0)))
            self._drawn[name] = self._drawn.get(name, 0) + 1

    def rows(self, step: int) -> tuple[str, list[int]]:
        """The source of training step `step` and the indices of its examples in the pool
        (a sample's identity: what a sample log records)."""
        if step >= len(self._plan):
            self._extend(step + 1)
        name, k = self._plan[step]
        return name, batch_indices(len(self.pools[name]), self.batch_size, k, self.seed)

    def batch(self, step: int) -> tuple[str, list[Example]]:
        """The source and examples of training step `step`."""
        name, rows = self.rows(step)
        return name, [self.pools[name][i] for i in rows]
