"""A deterministic synthetic world in which each of the study's axes has a way to matter.

- Images (`Scene`): 1–3 copies of one coloured shape in a 2×3 grid over a background that
  names a place, and on half of them a sign with a short word in a small font. The words come
  in look-alike pairs (stop/shop, cake/cafe, …), so at low input resolution they blur together:
  resolution can matter for OCR.
- Videos (`Clip`): T frames of a shape moving one way, standing still, or two shapes appearing
  one after the other. A clip and its time-reversal show the same frames with opposite answers,
  so direction and order questions cannot be answered from any single frame.
- Captions of two qualities: clean (fluent, everything in the image, nothing else) and noisy
  (web-like: another image's caption, truncated, or keyword soup with filler words).
- Plain world text (for the toy "LLaMA") and text-only instructions (for the toy "Vicuna").

Same seed and stream name, same world. Nothing here knows about prompts or tasks
(`lynx_core.data.tasks`) or files (`lynx_core.data.worldset`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RENDER_SIZE = 64
FRAMES = 4
COLORS = {
    "red": (220, 40, 40),
    "green": (30, 150, 50),
    "blue": (40, 80, 220),
    "yellow": (225, 190, 20),
}
SHAPES = ("circle", "square", "triangle")
NUMBERS = ("one", "two", "three")
COLUMNS = ("left", "middle", "right")
PLACES = ("beach", "forest", "street", "snow")
WORDS = ("stop", "shop", "cake", "cafe", "bank", "band", "milk", "mild")
DIRECTIONS = ("left", "right", "up", "down")
FILLER = ("photo", "image", "stock", "free", "download", "best", "hd", "picture", "new")

_SLOT_X, _SLOT_Y, _RADIUS = (11, 32, 53), (11, 30), 7  # 2 rows × 3 columns above the sign strip
_SIGN_Y = 42


@dataclass(frozen=True)
class Scene:
    """One image: what is drawn where. `slots` index the 2×3 grid (row * 3 + column)."""

    color: str
    shape: str
    slots: tuple[int, ...]
    place: str
    word: str | None = None
    sign_x: int = 0  # left edge of the sign, jittered so a word is not a fixed pixel pattern

    @property
    def count(self) -> int:
        return len(self.slots)

    @property
    def column(self) -> str:
        """Where a single shape stands (left/middle/right); meaningful when count == 1."""
        return COLUMNS[self.slots[0] % 3]

    def noun(self) -> str:
        return self.shape + ("s" if self.count > 1 else "")

    def caption(self) -> str:
        """Clean caption: fluent and complete, nothing that is not in the image."""
        text = f"{NUMBERS[self.count - 1]} {self.color} {self.noun()} at the {self.place}"
        return f"{text} . the sign says {self.word}" if self.word else text


@dataclass(frozen=True)
class Clip:
    """One video. `kind`: move (one shape, one direction), still, or order (a then b)."""

    kind: Literal["move", "still", "order"]
    shape: str
    colors: tuple[str, ...]  # one colour, or (first, second) for `order`
    direction: str | None = None  # move only
    start: tuple[int, int] = (32, 32)  # centre of the (first) shape

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
            end = _moved(self.start, self.direction, FRAMES - 1)
            return Clip("move", self.shape, self.colors, opposite[self.direction], end)
        if self.kind == "order":
            return Clip("order", self.shape, self.colors[::-1], None, self.start)
        return self


def sample_scene(rng: random.Random) -> Scene:
    word = rng.choice(WORDS) if rng.random() < 0.5 else None
    return Scene(
        color=rng.choice(list(COLORS)),
        shape=rng.choice(SHAPES),
        slots=tuple(sorted(rng.sample(range(6), rng.randint(1, 3)))),
        place=rng.choice(PLACES),
        word=word,
        sign_x=rng.randint(4, 30) if word else 0,
    )


_STEP = 12  # pixels a moving shape travels per frame


def _moved(start: tuple[int, int], direction: str | None, frames: int) -> tuple[int, int]:
    dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), None: (0, 0)}[
        direction
    ]
    return start[0] + dx * _STEP * frames, start[1] + dy * _STEP * frames


def sample_clip(rng: random.Random) -> Clip:
    kind = rng.choice(("move", "move", "still", "order"))
    shape = rng.choice(SHAPES)
    if kind == "order":
        return Clip("order", shape, tuple(rng.sample(list(COLORS), 2)), None, (32, 32))
    color = (rng.choice(list(COLORS)),)
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


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default(size=9)  # Pillow's bundled font: same pixels everywhere


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, x: int, y: int, r: int, fill) -> None:
    if shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    elif shape == "square":
        draw.rectangle((x - r, y - r, x + r, y + r), fill=fill)
    else:
        draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill)


def _background(place: str | None) -> Image.Image:
    size = RENDER_SIZE
    image = Image.new("RGB", (size, size), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    if place == "beach":
        draw.rectangle((0, 0, size, size // 2), fill=(200, 225, 245))
        draw.rectangle((0, size // 2, size, size), fill=(240, 228, 195))
    elif place == "forest":
        image.paste((205, 232, 205), (0, 0, size, size))
        for x in range(0, size, 8):
            draw.rectangle((x, 0, x + 2, size), fill=(165, 205, 165))
    elif place == "street":
        image.paste((195, 195, 195), (0, 0, size, size))
        for x in range(0, size, 12):
            draw.rectangle((x, size // 2 - 1, x + 6, size // 2 + 1), fill=(250, 250, 250))
    elif place == "snow":
        image.paste((250, 250, 250), (0, 0, size, size))
        for i in range(0, size, 6):
            draw.point([(i, (i * 7) % size), ((i * 5) % size, i)], fill=(215, 215, 230))
    return image


def render(scene: Scene) -> np.ndarray:
    """(RENDER_SIZE, RENDER_SIZE, 3) uint8."""
    image = _background(scene.place)
    draw = ImageDraw.Draw(image)
    for slot in scene.slots:
        row, col = divmod(slot, 3)
        _draw_shape(draw, scene.shape, _SLOT_X[col], _SLOT_Y[row], _RADIUS, COLORS[scene.color])
    if scene.word:
        x = scene.sign_x
        draw.rectangle((x, _SIGN_Y, x + 28, _SIGN_Y + 14), fill=(255, 255, 255), outline=(0, 0, 0))
        draw.text((x + 3, _SIGN_Y + 2), scene.word, fill=(0, 0, 0), font=_font())
    return np.asarray(image)


def render_clip(clip: Clip) -> np.ndarray:
    """(FRAMES, RENDER_SIZE, RENDER_SIZE, 3) uint8 on a plain background."""
    frames = []
    for t in range(FRAMES):
        image = _background(None)
        draw = ImageDraw.Draw(image)
        if clip.kind == "order":  # first colour in the first half, second in the second half
            color = clip.colors[0] if t < FRAMES // 2 else clip.colors[1]
            _draw_shape(draw, clip.shape, *clip.start, 9, COLORS[color])
        else:
            x, y = _moved(clip.start, clip.direction, t)
            _draw_shape(draw, clip.shape, x, y, 9, COLORS[clip.colors[0]])
        frames.append(np.asarray(image))
    return np.stack(frames)


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


def sample_scenes(seed: int, n: int, stream: str) -> list[Scene]:
    """`stream` names an independent sequence, so e.g. eval images never repeat train ones."""
    rng = random.Random(f"scenes-{stream}-{seed}")
    return [sample_scene(rng) for _ in range(n)]


def sample_clips(seed: int, n: int, stream: str) -> list[Clip]:
    rng = random.Random(f"clips-{stream}-{seed}")
    return [sample_clip(rng) for _ in range(n)]


def captions(scenes: Iterable[Scene], quality: Literal["clean", "noisy"], seed: int) -> list[str]:
    rng = random.Random(f"noise-{seed}")
    return [s.caption() if quality == "clean" else noisy_caption(s, rng) for s in scenes]


def world_text(seed: int, n: int) -> list[str]:
    """Plain sentences about the world, no dialogue: what the toy 'LLaMA' is pretrained on."""
    rng = random.Random(f"text-{seed}")
    lines = []
    for _ in range(n):
        scene = sample_scene(rng)
        extra = rng.choice(
            (
                f"the {scene.noun()} are {scene.color}" if scene.count > 1 else "",
                f"there are {NUMBERS[scene.count - 1]} {scene.noun()}",
                f"a {scene.place} is a place",
                f"{rng.choice(WORDS)} is a word",
            )
        )
        lines.append(f"{scene.caption()} . {extra}".strip(" ."))
    return lines


TOKEN = re.compile(r"\w+|[^\w\s]+")  # how the toy tokenizer splits text (HF `Whitespace`)


def words_of(texts: Iterable[str]) -> set[str]:
    return {token for text in texts for token in TOKEN.findall(text)}
