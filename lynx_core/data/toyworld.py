"""A deterministic synthetic image world: coloured shapes with captions and questions.

Every image shows 1–3 copies of one shape in one colour. From a scene come a caption
(stage 1), questions with Open-VQA classes (Color, Counting, Others) for stage 2 and held-out
evaluation, and text-only lines to pretrain the toy LLM. Same seed, same world. This is the
foundation's simple world; it is not the full world with OCR, video and caption quality.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
}
SHAPES = ("circle", "square", "triangle")
NUMBERS = ("one", "two", "three")
RENDER_SIZE = 64

CAPTION_PROMPT = "describe the image ."
QUESTIONS = {
    "Color": "what color are the shapes ?",
    "Counting": "how many shapes are there ?",
    "Others": "what shape are they ?",
}


@dataclass(frozen=True)
class Scene:
    color: str
    shape: str
    count: int
    boxes: tuple[tuple[int, int, int], ...]  # (x, y, radius) per shape

    def caption(self) -> str:
        plural = "s" if self.count > 1 else ""
        return f"{NUMBERS[self.count - 1]} {self.color} {self.shape}{plural}"

    def answers(self) -> dict[str, str]:
        return {"Color": self.color, "Counting": NUMBERS[self.count - 1], "Others": self.shape}


@dataclass(frozen=True)
class Example:
    """One training or evaluation item: an image index, a prompt and its answer.

    `context` is text placed before the user turn, where a Lynx prefix puts the visual tokens.
    """

    image: int
    prompt: str
    answer: str
    category: str
    context: str = ""


def sample_scene(rng: random.Random, size: int = RENDER_SIZE) -> Scene:
    count = rng.randint(1, 3)
    radius = size // 8
    slots = [(x, y) for x in (1, 3, 5) for y in (1, 3, 5)]  # 3×3 grid, no overlaps
    chosen = rng.sample(slots, count)
    boxes = tuple((x * size // 6, y * size // 6, radius) for x, y in chosen)
    return Scene(rng.choice(list(COLORS)), rng.choice(SHAPES), count, boxes)


def render(scene: Scene, size: int = RENDER_SIZE) -> np.ndarray:
    """(size, size, 3) uint8 image of the scene on a light background."""
    image = Image.new("RGB", (size, size), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    fill = COLORS[scene.color]
    for x, y, r in scene.boxes:
        if scene.shape == "circle":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        elif scene.shape == "square":
            draw.rectangle((x - r, y - r, x + r, y + r), fill=fill)
        else:
            draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill)
    return np.asarray(image)


@dataclass(frozen=True)
class World:
    scenes: tuple[Scene, ...]
    images: np.ndarray  # (N, RENDER_SIZE, RENDER_SIZE, 3) uint8

    def captions(self) -> list[Example]:
        return [
            Example(i, CAPTION_PROMPT, s.caption(), "Caption") for i, s in enumerate(self.scenes)
        ]

    def questions(self) -> list[Example]:
        return [
            Example(i, QUESTIONS[category], answer, category)
            for i, scene in enumerate(self.scenes)
            for category, answer in scene.answers().items()
        ]


def make_world(seed: int, n_images: int, split: str = "train") -> World:
    """The `split` names an independent stream, so eval images never repeat training ones."""
    rng = random.Random(f"{split}-{seed}")
    scenes = tuple(sample_scene(rng) for _ in range(n_images))
    return World(scenes, np.stack([render(s) for s in scenes]))


def vocabulary() -> list[str]:
    """Every word the world can produce, plus the prompt format's words."""
    words = {"User", "Bot", ":", *CAPTION_PROMPT.split()}
    for question in QUESTIONS.values():
        words.update(question.split())
    words.update(COLORS, SHAPES, NUMBERS, (f"{s}s" for s in SHAPES))
    return sorted(words)


def text_corpus(seed: int, n_lines: int) -> list[Example]:
    """Image-free lines in the prompt format, for pretraining the toy LLM on the world's language.

    Half the lines come with the scene described in words before the user turn, exactly where
    a Lynx prefix later puts the visual tokens, so the frozen LLM already knows how to read an
    answer from there; the rest stand alone, so it also learns the answer vocabulary and prior.
    """
    rng = random.Random(f"text-{seed}")
    lines = []
    for _ in range(n_lines):
        scene = sample_scene(rng)
        category, answer = rng.choice(list(scene.answers().items()))
        kind = rng.random()
        described = f"{scene.caption()} ." if kind < 0.5 else ""
        if kind < 0.25 or kind >= 0.875:
            lines.append(Example(-1, CAPTION_PROMPT, scene.caption(), "Caption", described))
        else:
            lines.append(Example(-1, QUESTIONS[category], answer, category, described))
    return lines
