"""A deterministic synthetic world in which each of the study's axes has a way to matter.

- Images (`Scene`): 1–3 copies of one coloured shape in a 2×3 grid over a background that
  names a place, and on half of them a sign with a short word in a small font. The words come
  in look-alike pairs (stop/shop, cake/cafe, …), so at low input resolution they blur together:
  resolution can matter for OCR.
- A long tail: besides the common colours, shapes and words, rare ones (purple, diamond,
  fish, …). Training data draws them at their natural rate (each about one scene in 500: a
  few of 512 clean captions, ten times more of 5,120 noisy ones); the open world that the
  frozen bases were pretrained on and that evaluation asks about holds them often. So a
  larger caption set *can* teach what a small one never shows: data quantity can matter.
- Videos (`Clip`): T frames of a shape moving one way, standing still, or two shapes appearing
  one after the other. A clip and its time-reversal show the same frames with opposite answers,
  so direction and order questions cannot be answered from any single frame.
- Captions of two qualities: clean (fluent, everything in the image, nothing else) and noisy
  (web-like: another image's caption, truncated, or keyword soup with filler words).
- Plain world text (for the toy "LLaMA") and text-only instructions (for the toy "Vicuna").
- Splits by value: every scene and clip belongs to one of train, validation or test by a hash
  of its picture (`split_of`; everything drawn, the shapes' small offset and the sign's
  jitter included), and an image's description (`Scene.description`: what it shows and
  where) by a hash of its own. Training streams draw training pictures, text-only ones
  training descriptions, and held-out streams pictures *and* descriptions of their split
  (`STREAMS`), so no evaluation image or clip is ever shown to any training stage, nor an
  evaluation image's description written in any training text. What a caption names (two
  red squares at the beach, a red square moving left) occurs in every split, in other
  pictures: held out by caption instead, the test showed only combinations training never
  showed, and whatever a model memorised of training's combinations was wrong on it by
  construction.

Same seed and stream name, same world. Drawn as pixels by `lynx_core.data.world.render`.
Nothing here knows about prompts or tasks (`lynx_core.data.world.tasks`) or files
(`lynx_core.data.world.worldset`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from lynx_core.data.world.splits import (
    STREAMS,
    TRAINING,
    Key,
    Population,
    Tail,
    belongs,
    population,
)

RENDER_SIZE = 64
FRAMES = 4
HEAD_COLORS = {
    "red": (220, 40, 40),
    "green": (30, 150, 50),
    "blue": (40, 80, 220),
    "yellow": (225, 190, 20),
}


TAIL_COLORS = {
    "purple": (140, 60, 190),
    "orange": (245, 140, 20),
    "pink": (240, 120, 190),
    "brown": (125, 80, 40),
    "cyan": (20, 190, 210),
}


COLORS = {**HEAD_COLORS, **TAIL_COLORS}
HEAD_SHAPES = ("circle", "square", "triangle")
TAIL_SHAPES = ("diamond", "cross", "ring")
SHAPES = (*HEAD_SHAPES, *TAIL_SHAPES)
NUMBERS = ("one", "two", "three")
COLUMNS = ("left", "middle", "right")
PLACES = ("beach", "forest", "street", "snow")
HEAD_WORDS = ("stop", "shop", "cake", "cafe", "bank", "band", "milk", "mild")
TAIL_WORDS = ("fish", "dish", "rain", "ruin", "park", "pork", "lamp", "lamb")
WORDS = (*HEAD_WORDS, *TAIL_WORDS)  # look-alike pairs side by side: word i and i ^ 1
DIRECTIONS = ("left", "right", "up", "down")
FILLER = ("photo", "image", "stock", "free", "download", "best", "hd", "picture", "new")


def plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


SLOT_X, SLOT_Y, RADIUS = (11, 32, 53), (11, 30), 7  # 2 rows × 3 columns above the sign strip
ROWS = ("top", "bottom")


@dataclass(frozen=True)
class Scene:
    """One image: what is drawn where. `slots` index the 2×3 grid (row * 3 + column)."""

    color: str
    shape: str
    slots: tuple[int, ...]
    place: str
    word: str | None = None
    sign_x: int = 0  # left edge of the sign, jittered so a word is not a fixed pixel pattern
    offset: tuple[int, int] = (0, 0)  # pixels the shapes stand off their slots' centres

    @property
    def count(self) -> int:
        return len(self.slots)

    @property
    def column(self) -> str:
        """Where a single shape stands (left/middle/right); meaningful when count == 1."""
        return COLUMNS[self.slots[0] % 3]

    @property
    def content(self) -> tuple:
        """What the image shows as its caption names it: how many shapes of which colour and
        kind, where. Every split holds every such combination, in other pictures."""
        return ("scene", self.color, self.shape, self.count, self.place)

    @property
    def picture(self) -> tuple:
        """Everything that is drawn: two scenes with the same picture have the same pixels.
        The offset and the sign's jitter make each description one of 49 to 1,323 pictures,
        so which of them training shows is random, whatever they show: no colour, shape or
        place is rarer in training for being common in the test."""
        return (*self.content, self.slots, self.word, self.sign_x, self.offset)

    def key(self, by: Key) -> tuple:
        """What a split holds out by: the picture, or what its description says."""
        if by == "picture":
            return self.picture
        return ("description", *self.content, self.slots, self.word)

    def where(self) -> str:
        """The slots in words: 'top left and bottom middle'."""
        return " and ".join(f"{ROWS[s // 3]} {COLUMNS[s % 3]}" for s in self.slots)

    def noun(self) -> str:
        return plural(self.shape) if self.count > 1 else self.shape

    def mentions(self) -> tuple[str, ...]:
        """The words that name what the image shows (CHAIR's objects and attributes): its
        count, colour, shape, place and, on a sign, the word."""
        shown = (NUMBERS[self.count - 1], self.color, self.shape, plural(self.shape), self.place)
        return (*shown, "sign", self.word) if self.word else shown

    def caption(self) -> str:
        """Clean caption: fluent and complete, nothing that is not in the image."""
        text = f"{NUMBERS[self.count - 1]} {self.color} {self.noun()} at the {self.place}"
        return f"{text} . the sign says {self.word}" if self.word else text

    def description(self) -> str:
        """The image in words for a text-only model: its caption and where its shapes stand
        (last, so that no description is the start of another's)."""
        return f"{self.caption()} , {self.where()}"


@dataclass(frozen=True)
class Clip:
    """One video. `kind`: move (one shape, one direction), still, or order (a then b)."""

    kind: Literal["move", "still", "order"]
    shape: str
    colors: tuple[str, ...]  # one colour, or (first, second) for `order`
    direction: str | None = None  # move only
    start: tuple[int, int] = (32, 32)  # centre of the (first) shape

    @property
    def content(self) -> tuple:
        """What the clip shows as its caption says it (where it starts aside). Every split
        holds every such combination, in other pictures."""
        return ("clip", self.kind, self.shape, self.colors, self.direction)

    @property
    def picture(self) -> tuple:
        """Everything that is drawn, the same for the clip and its time-reversal (the same
        frames), so no test clip's frame sequence is a training clip's, played either way
        (single frames recur: a still clip's are half an order clip's)."""
        played = ((*clip.content, clip.start) for clip in (self, self.reversed()))
        return min(played, key=repr)

    def key(self, by: Key) -> tuple:
        """A clip holds out by its picture either way: it is described by its caption, which
        no evaluation gives a text-only model."""
        return self.picture

    def description(self) -> str:
        return self.caption()

    def caption(self) -> str:
        if self.kind == "order":
            return f"a {self.colors[0]} {self.shape} , then a {self.colors[1]} {self.shape}"
        if self.kind == "still":
            return f"a {self.colors[0]} {self.shape} stands still"
        return f"a {self.colors[0]} {self.shape} moves {self.direction}"

    def reversed(self) -> Clip:
        """The same frames played backwards: opposite direction, or swapped order."""
        if self.kind == "move":
            opposite = {"left": "right", "right": "left", "up": "down", "down": "up"}
            end = moved_position(self.start, self.direction, FRAMES - 1)
            return Clip("move", self.shape, self.colors, opposite[self.direction], end)
        if self.kind == "order":
            return Clip("order", self.shape, self.colors[::-1], None, self.start)
        return self


def _draw_scene(rng: random.Random, tail: Tail) -> Scene:
    signed = rng.random() < 0.5
    word = _pick(rng, HEAD_WORDS, TAIL_WORDS, tail.word) if signed else None
    return Scene(
        color=_pick(rng, tuple(HEAD_COLORS), tuple(TAIL_COLORS), tail.color),
        shape=_pick(rng, HEAD_SHAPES, TAIL_SHAPES, tail.shape),
        slots=tuple(sorted(rng.sample(range(6), rng.randint(1, 3)))),
        place=rng.choice(PLACES),
        word=word,
        sign_x=rng.randint(4, 30) if word else 0,
        offset=(rng.randint(-3, 3), rng.randint(-3, 3)),
    )


def _pick(rng: random.Random, head: tuple[str, ...], tail: tuple[str, ...], rate: float) -> str:
    return rng.choice(tail if rng.random() < rate else head)


def sample_scene(rng: random.Random, population: Population = TRAINING) -> Scene:
    """A scene of `population`: its long tail's rates, and only pictures of its split."""
    while True:
        scene = _draw_scene(rng, population.tail)
        if belongs(scene, population):
            return scene


_STEP = 12  # pixels a moving shape travels per frame


def moved_position(start: tuple[int, int], direction: str | None, frames: int) -> tuple[int, int]:
    dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), None: (0, 0)}[
        direction
    ]
    return start[0] + dx * _STEP * frames, start[1] + dy * _STEP * frames


def sample_clip(rng: random.Random, population: Population = TRAINING) -> Clip:
    """A clip of `population`'s split (clips show common shapes and colours only)."""
    while True:
        clip = _draw_clip(rng)
        if belongs(clip, population):
            return clip


def _draw_clip(rng: random.Random) -> Clip:
    kind = rng.choice(("move", "move", "still", "order"))
    shape = rng.choice(HEAD_SHAPES)
    if kind == "order":
        colors = tuple(rng.sample(list(HEAD_COLORS), 2))
        return Clip("order", shape, colors, None, (rng.randint(14, 50), rng.randint(14, 50)))
    color = (rng.choice(list(HEAD_COLORS)),)
    if kind == "still":
        return Clip("still", shape, color, None, (rng.randint(14, 50), rng.randint(14, 50)))
    direction = rng.choice(DIRECTIONS)
    travel = _STEP * (FRAMES - 1)
    lo, hi = 10, RENDER_SIZE - 10
    x = rng.randint(lo, hi) if direction in ("up", "down") else None
    y = rng.randint(lo, hi) if direction in ("left", "right") else None
    if direction == "right":
        x = rng.randint(lo, hi - travel)
    elif direction == "left":
        x = rng.randint(lo + travel, hi)
    elif direction == "down":
        y = rng.randint(lo, hi - travel)
    else:
        y = rng.randint(lo + travel, hi)
    return Clip("move", shape, color, direction, (x, y))


def noisy_caption(scene: Scene, rng: random.Random) -> str:
    """A web-like caption: another image's, truncated, or keyword soup with filler words."""
    kind = rng.random()
    if kind < 0.2:
        return sample_scene(rng).caption()  # unrelated to this image
    words = scene.caption().split()
    if kind < 0.5:
        return " ".join(words[: rng.randint(2, 4)])
    soup = rng.sample(words, k=max(1, 2 * len(words) // 3)) + rng.sample(FILLER, k=3)
    rng.shuffle(soup)
    return " ".join(soup)


def sample_scenes(seed: int | str, n: int, stream: str) -> list[Scene]:
    """`n` scenes of a named stream (`STREAMS`: e.g. 'captions', 'eval'): its own sequence,
    of its population's split, so e.g. eval images never repeat training ones."""
    rng = random.Random(f"scenes-{stream}-{seed}")
    return [sample_scene(rng, population(stream)) for _ in range(n)]


def sample_clips(seed: int | str, n: int, stream: str) -> list[Clip]:
    rng = random.Random(f"clips-{stream}-{seed}")
    return [sample_clip(rng, population(stream)) for _ in range(n)]


def captions(
    scenes: Iterable[Scene], quality: Literal["clean", "noisy"], seed: int | str
) -> list[str]:
    rng = random.Random(f"noise-{seed}")
    return [s.caption() if quality == "clean" else noisy_caption(s, rng) for s in scenes]


def world_text(seed: int, n: int) -> list[str]:
    """Plain sentences about the world, no dialogue: what the toy 'LLaMA' is pretrained on
    (descriptions of the open world's training split: every rare word, never a test
    image's description)."""
    rng = random.Random(f"text-{seed}")
    lines = []
    for _ in range(n):
        scene = sample_scene(rng, STREAMS["text"])
        extra = rng.choice(
            (
                f"the {scene.noun()} are {scene.color}" if scene.count > 1 else "",
                f"there are {NUMBERS[scene.count - 1]} {scene.noun()}",
                f"a {scene.place} is a place",
                f"{rng.choice(WORDS)} is a word",
            )
        )
        lines.append(f"{scene.description()} . {extra}".strip(" ."))
    return lines


TOKEN = re.compile(r"\w+|[^\w\s]+")  # how the toy tokenizer splits text (HF `Whitespace`)


def words_of(texts: Iterable[str]) -> set[str]:
    return {token for text in texts for token in TOKEN.findall(text)}
