"""Which split each scene, clip and description of the generated world belongs to, and what
each named stream draws (`STREAMS`): the world's splits by value.

A split is a hash of a key (`split_of`), fixed for all seeds. A scene has two keys: its
picture (everything drawn) and its description (what it shows and where, the words a
text-only model reads); a clip has one, its picture. A training stream holds out by picture,
a text-only one by description, a held-out one by both (`Population.by`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class Tail:
    """How often a scene's colour, shape and sign word come from the rare values (uniformly
    among them) instead of the common ones."""

    color: float
    shape: float
    word: float


NATURAL = Tail(
    color=0.01, shape=0.006, word=0.016
)  # each rare value ~0.2% of scenes (words of signs)


OPEN = Tail(color=0.25, shape=0.25, word=0.25)  # the open world: rare values are everywhere
Split = Literal["train", "validation", "test"]
SPLIT_SHARES: tuple[tuple[Split, float], ...] = (("test", 0.2), ("validation", 0.1), ("train", 0.7))


Key = Literal["picture", "description"]


@dataclass(frozen=True)
class Population:
    """What a stream draws: scenes and clips of one split, with its long tail's rates. `by`:
    the keys (`Scene.key`) that must fall in the split. Training shows pictures, so holds
    out by picture; text-only training reads descriptions, so holds out by description;
    a held-out population holds out by both, so neither its pictures nor their
    descriptions are ever trained on. The two keys hash independently, so the test's
    descriptions are a random fifth of all, each shown in training by other pictures."""

    split: Split
    tail: Tail
    by: tuple[Key, ...]


PICTURES: tuple[Key, ...] = ("picture",)
HELD_OUT: tuple[Key, ...] = ("picture", "description")
TRAINING = Population("train", NATURAL, PICTURES)  # stage-1 captions, stage-2 tasks
FOUNDATION = Population("train", OPEN, PICTURES)  # what the frozen bases were pretrained on
TEXT = Population("train", OPEN, ("description",))  # the frozen LLMs' text, in words only
VALIDATION = Population("validation", OPEN, HELD_OUT)  # apart from training and the test
EVALUATION = Population("test", OPEN, HELD_OUT)  # the held-out benchmarks


# every named stream of the world and its population: a stream outside this list is an error
STREAMS: dict[str, Population] = {
    "captions": TRAINING,
    "tasks": TRAINING,
    "clip": FOUNDATION,
    "text": TEXT,
    "instruct": TEXT,
    "validation": VALIDATION,
    "eval": EVALUATION,
    "mme": EVALUATION,
}


def split_of(key: tuple) -> Split:
    """The split a picture or description (`Scene.key`) belongs to, by a hash: fixed for all
    seeds, so the same picture is never in two splits."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    for split, upper in _split_bounds():
        if share < upper:
            return split
    return "train"


def _split_bounds() -> list[tuple[Split, float]]:
    bounds, total = [], 0.0
    for split, share in SPLIT_SHARES:
        total += share
        bounds.append((split, total))
    return bounds


class Keyed(Protocol):
    def key(self, by: Key) -> tuple: ...


def belongs(item: Keyed, population: Population) -> bool:
    """Whether a scene or clip is one `population` draws: each of its keys in the split."""
    return all(split_of(item.key(by)) == population.split for by in population.by)


def population(stream: str) -> Population:
    if stream not in STREAMS:
        raise ValueError(f"unknown world stream {stream!r}; streams: {', '.join(STREAMS)}")
    return STREAMS[stream]
