"""One policy for the bad samples of web-scale caption data, the same at validation and in
training: a sample whose image does not decode (or is missing), whose caption is empty or
not text, or whose tar member name is not a plain relative path is skipped and counted per
source and reason, the first few named (shard and member, file and line, row); a stage fails
only when a source's share of skipped samples passes `train.max_bad_share`, and its message
then names the source, the reasons and examples.

At 120M pairs a few corrupt images are certain: one must not stop a week of training, and a
source that is mostly broken must not train quietly on what is left.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from lynx_core.compute.ranks import Ranks, gathered

NAMED = 3  # examples named per source and reason
MIN_SEEN = 200  # samples of a source read before its share of bad ones can stop a stage
UNDECODABLE, MISSING, EMPTY, NOT_TEXT, ODD_NAME = (
    "undecodable image",
    "missing image",
    "empty caption",
    "caption not text",
    "member name not a plain relative path",
)


class BadSample(ValueError):
    """A sample that cannot train: its `reason` (one of this module's) and `where` it is."""

    def __init__(self, reason: str, where: str, detail: str = ""):
        self.reason, self.where, self.detail = reason, where, detail
        super().__init__(f"{where}: {reason}" + (f" ({detail})" if detail else ""))


class TooManyBadSamples(ValueError):
    """A source whose share of bad samples passed the sweep's threshold."""


def plain_relative(name: str) -> bool:
    """Whether a tar member's name is a plain relative path: not absolute, no `..`, no
    backslash or drive (what an extracting tool would write outside its folder)."""
    path = PurePosixPath(name)
    drive = re.match(r"^[A-Za-z]:", name) is not None
    return (
        bool(name)
        and not path.is_absolute()
        and ".." not in path.parts
        and "\\" not in name
        and not drive
    )


def slug(reason: str) -> str:
    """A reason as an MLflow metric name's part: 'empty caption' → 'empty_caption'."""
    return reason.replace(" ", "_")


@dataclass
class BadSamples:
    """Skipped samples counted per (source, reason) with the first few named, against the
    samples read per source; `check` stops a stage whose source passes `max_share`."""

    max_share: float = 1.0
    seen: Counter = field(default_factory=Counter)  # source → samples read
    counts: Counter = field(default_factory=Counter)  # (source, reason) → samples skipped
    named: dict = field(default_factory=dict)  # (source, reason) → first few places
    details: dict = field(default_factory=dict)  # (source, reason) → the first one's detail

    def read(self, source: str, count: int = 1) -> None:
        self.seen[source] += count

    def skip(self, source: str, reason: str, where: str, detail: str = "") -> None:
        self.counts[source, reason] += 1
        if detail:
            self.details.setdefault((source, reason), detail)
        places = self.named.setdefault((source, reason), [])
        if len(places) < NAMED:
            places.append(where)

    def add(self, skipped: list[tuple[str, str, str, str]]) -> None:
        """(source, reason, where, detail) of each skipped sample."""
        for source, reason, where, detail in skipped:
            self.skip(source, reason, where, detail)

    def share(self, source: str) -> float:
        bad = sum(n for (s, _), n in self.counts.items() if s == source)
        return bad / max(self.seen[source], 1)

    def check(self, final: bool = False) -> None:
        """Raise `TooManyBadSamples` for a source past the threshold (once it has read
        `MIN_SEEN` samples, or at the `final` check of a stage or a validation sample)."""
        for source, seen in self.seen.items():
            if (final or seen >= MIN_SEEN) and self.share(source) > self.max_share:
                raise TooManyBadSamples(self.describe(source))

    def describe(self, source: str) -> str:
        reasons = "; ".join(
            f"{n} {reason} (e.g. {', '.join(self.named[s, reason])}"
            + (f": {self.details[s, reason]}" if (s, reason) in self.details else "")
            + ")"
            for (s, reason), n in sorted(self.counts.items())
            if s == source
        )
        return (
            f"{source}: {self.share(source):.1%} of the {self.seen[source]} samples read are bad, "
            f"more than train.max_bad_share = {self.max_share:g}: {reasons}; fix the data, or "
            "raise train.max_bad_share to train on what is good"
        )

    def metrics(self, stage: str) -> dict[str, float]:
        """`<stage>/skipped/<source>/<reason>` per source and reason, and each source's
        `<stage>/skipped_share/<source>`: what MLflow and the stage's manifest show."""
        out = {f"{stage}/skipped/{s}/{slug(r)}": float(n) for (s, r), n in self.counts.items()}
        for source in {s for s, _ in self.counts}:
            out[f"{stage}/skipped_share/{source}"] = self.share(source)
        return out

    def examples(self) -> str:
        """The first few skipped samples per source and reason, as one line (a run's tag)."""
        return "; ".join(
            f"{s}: {r}: {', '.join(places)}" for (s, r), places in sorted(self.named.items())
        )


def over_ranks(bad: BadSamples, ranks: Ranks) -> BadSamples:
    """Every rank's counts summed, on every rank (each rank decodes its own rows' images; the
    samples a draw passed over, alike on every rank, are counted on rank 0 alone)."""
    if ranks.world == 1:
        return bad
    merged = BadSamples(bad.max_share)
    every = gathered([(bad.seen, bad.counts, bad.named, bad.details)], ranks)
    for seen, counts, named, details in every:
        merged.seen.update(seen)
        merged.counts.update(counts)
        merged.details = {**details, **merged.details}
        for key, places in named.items():
            kept = merged.named.setdefault(key, [])
            kept.extend(places[: NAMED - len(kept)])
    return merged
