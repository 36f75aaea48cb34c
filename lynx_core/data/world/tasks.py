"""The world's tasks: for each, its media, Open-VQA class, question paraphrases and answers.

A task turns a scene, clip or nothing (text-only) into a `Fact`: the short answer (one word,
as VQA data gives it), a full-sentence answer, and the values of the question's slots. With a
prompt from `lynx_core.data.world.prompts` a fact becomes an `Example`. Twelve tasks echo the
paper's stage-2 mix: captioning, colour, counting, shape, OCR, spatial, place, existence,
video action (yes/no), video direction, temporal order, and text-only instructions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from lynx_core.config import TaskRole
from lynx_core.data.examples import Example, Media
from lynx_core.data.world.prompts import Prompt
from lynx_core.data.world.toyworld import (
    COLORS,
    HEAD_SHAPES,
    NUMBERS,
    SHAPES,
    WORDS,
    Clip,
    Scene,
    plural,
)

NUMBER_ALIASES = {"one": "1", "two": "2", "three": "3"}


@dataclass(frozen=True)
class Fact:
    short: str
    long: str
    slots: dict[str, str] = field(default_factory=dict)


FactFn = Callable[[Scene | Clip | None, random.Random], Fact | None]


@dataclass(frozen=True)
class Task:
    name: str
    media: Media
    category: str  # Open-VQA class
    paraphrases: tuple[str, ...]  # first = the single template; last two held out
    fact: FactFn
    role: TaskRole = "vqa"  # what kind of training data it is (the findings' task roles)

    def example(self, media: int, item, prompt: Prompt, rng: random.Random) -> Example | None:
        fact = self.fact(item, rng)
        if fact is None:
            return None
        answer = fact.long if prompt.length == "long" else fact.short
        aliases = [NUMBER_ALIASES[fact.short]] if fact.short in NUMBER_ALIASES else []
        return Example(
            media,
            self.media,
            prompt.text.format(**fact.slots),
            answer,
            self.category,
            self.name,
            references=(fact.short, *aliases),
            instruction=prompt.instruction,
        )


def _caption(scene: Scene, rng) -> Fact:
    return Fact(scene.caption().split(" at the ")[0], scene.caption())


def _color(scene: Scene, rng) -> Fact:
    verb = "are" if scene.count > 1 else "is"
    return Fact(scene.color, f"the {scene.noun()} {verb} {scene.color}", {"noun": scene.noun()})


def _count(scene: Scene, rng) -> Fact:
    n = NUMBERS[scene.count - 1]
    return Fact(n, f"there {'are' if scene.count > 1 else 'is'} {n} {scene.noun()}")


def _shape(scene: Scene, rng) -> Fact:
    return Fact(scene.shape, f"the shapes are {plural(scene.shape)}")


def _ocr(scene: Scene, rng) -> Fact | None:
    return Fact(scene.word, f"the sign says {scene.word}") if scene.word else None


def _spatial(scene: Scene, rng) -> Fact | None:
    if scene.count != 1:
        return None
    return Fact(scene.column, f"the {scene.shape} is on the {scene.column}", {"shape": scene.shape})


def _place(scene: Scene, rng) -> Fact:
    return Fact(scene.place, f"this is the {scene.place}")


def _exists(scene: Scene, rng) -> Fact:
    color, shape = scene.color, scene.shape
    present = rng.random() < 0.5
    if not present:  # change the colour or the shape, so the question is about a near miss
        if rng.random() < 0.5:
            color = rng.choice([c for c in COLORS if c != color])
        else:
            shape = rng.choice([s for s in SHAPES if s != shape])
    slots = {"color": color, "shape": shape}
    if present:
        return Fact("yes", f"yes , there is a {color} {shape}", slots)
    return Fact("no", f"no , there is no {color} {shape}", slots)


def _moving(clip: Clip, rng) -> Fact | None:
    if clip.kind == "order":
        return None
    slots = {"shape": clip.shape}
    if clip.kind == "move":
        return Fact("yes", f"yes , the {clip.shape} is moving {clip.direction}", slots)
    return Fact("no", f"no , the {clip.shape} stands still", slots)


def _direction(clip: Clip, rng) -> Fact | None:
    if clip.kind != "move":
        return None
    return Fact(clip.direction, f"the {clip.shape} moves {clip.direction}", {"shape": clip.shape})


def _order(clip: Clip, rng) -> Fact | None:
    if clip.kind != "order":
        return None
    first, second = clip.colors
    return Fact(first, f"the {first} {clip.shape} comes first , then the {second} one")


_TEXT_FAMILIES = (  # text-only instructions: (phrasings of the request, answer, sentence)
    (
        ("what comes after {x} ?", "what number follows {x} ?", "what is {x} plus one ?"),
        lambda i: (NUMBERS[i], NUMBERS[i + 1], f"after {NUMBERS[i]} comes {NUMBERS[i + 1]}"),
        2,
    ),
    (
        ("what is the plural of {x} ?", "give the plural of {x} ."),
        lambda i: (
            HEAD_SHAPES[i],
            plural(HEAD_SHAPES[i]),
            f"the plural of {HEAD_SHAPES[i]} is {plural(HEAD_SHAPES[i])}",
        ),
        len(HEAD_SHAPES),
    ),
    (
        ("repeat the word {x} .", "spell {x} .", "write the word {x} ."),
        lambda i: (WORDS[i], WORDS[i], f"the word is {WORDS[i]}"),
        len(WORDS),
    ),
)


def _text(_, rng) -> Fact:
    phrasings, make, n = rng.choice(_TEXT_FAMILIES)
    x, short, long = make(rng.randrange(n))
    return Fact(short, long, {"q": rng.choice(phrasings).format(x=x)})


def _questions(*texts: str) -> tuple[str, ...]:
    assert len(texts) >= 12, "a task needs ≥ 10 trained paraphrases plus 2 held out"
    return texts


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "caption",
            "image",
            "Caption",
            _questions(
                "describe the image .",
                "what is in this picture ?",
                "tell me what you see .",
                "give a caption for the image .",
                "what does this image show ?",
                "summarize the image .",
                "write a short description of the picture .",
                "what can be seen here ?",
                "describe this photo .",
                "caption this picture .",
                "what is shown in the image ?",
                "say what the picture contains .",
            ),
            _caption,
            "captioning",
        ),
        Task(
            "color",
            "image",
            "Color",
            _questions(
                "what color are the shapes ?",
                "which color do the {noun} have ?",
                "what is the color of the {noun} ?",
                "tell me the color of the shapes .",
                "what colour are they ?",
                "name the color of the {noun} .",
                "which color is used for the shapes ?",
                "what color do you see ?",
                "the {noun} are which color ?",
                "say the color of the shapes .",
                "what color is painted on the {noun} ?",
                "of what color are the shapes ?",
            ),
            _color,
        ),
        Task(
            "count",
            "image",
            "Counting",
            _questions(
                "how many shapes are there ?",
                "count the shapes .",
                "how many shapes do you see ?",
                "what is the number of shapes ?",
                "tell me how many shapes there are .",
                "how many objects are in the image ?",
                "count the objects in the picture .",
                "how many things are drawn ?",
                "what number of shapes is shown ?",
                "say how many shapes there are .",
                "how many shapes can be counted ?",
                "how many items appear in the picture ?",
            ),
            _count,
        ),
        Task(
            "shape",
            "image",
            "Others",
            _questions(
                "what shape are they ?",
                "which shape is drawn ?",
                "what kind of shape is this ?",
                "name the shape .",
                "what shape do you see ?",
                "tell me the shape .",
                "which shape appears in the image ?",
                "what form do the objects have ?",
                "say what shape they are .",
                "what are the objects ?",
                "what geometric shape is shown ?",
                "identify the shape .",
            ),
            _shape,
        ),
        Task(
            "ocr",
            "image",
            "OCR",
            _questions(
                "what does the sign say ?",
                "what word is written on the sign ?",
                "read the sign .",
                "what is written here ?",
                "tell me the word on the sign .",
                "what text is on the sign ?",
                "which word does the sign show ?",
                "read the text in the image .",
                "say what the sign reads .",
                "what is the word ?",
                "what does the text on the sign read ?",
                "which word can you read ?",
            ),
            _ocr,
        ),
        Task(
            "spatial",
            "image",
            "Spatial",
            _questions(
                "where is the {shape} ?",
                "on which side is the {shape} ?",
                "is the {shape} on the left , in the middle or on the right ?",
                "where in the image is the {shape} ?",
                "tell me where the {shape} is .",
                "which side is the {shape} on ?",
                "where can you find the {shape} ?",
                "say where the {shape} stands .",
                "what is the position of the {shape} ?",
                "where does the {shape} appear ?",
                "in which part of the picture is the {shape} ?",
                "where was the {shape} drawn ?",
            ),
            _spatial,
        ),
        Task(
            "place",
            "image",
            "Place",
            _questions(
                "where is this ?",
                "what place is this ?",
                "where was this picture taken ?",
                "what is the setting ?",
                "tell me the place .",
                "which place is shown ?",
                "where are the shapes ?",
                "name the place in the picture .",
                "what kind of place is it ?",
                "say where this is .",
                "what location does the image show ?",
                "in what place are the shapes ?",
            ),
            _place,
        ),
        Task(
            "exist",
            "image",
            "Reasoning",
            _questions(
                "is there a {color} {shape} ?",
                "do you see a {color} {shape} ?",
                "does the image contain a {color} {shape} ?",
                "is a {color} {shape} shown ?",
                "can you find a {color} {shape} ?",
                "is there any {color} {shape} here ?",
                "does the picture show a {color} {shape} ?",
                "is a {color} {shape} in the image ?",
                "tell me if there is a {color} {shape} .",
                "say whether a {color} {shape} appears .",
                "is there a {color} {shape} in this picture ?",
                "does a {color} {shape} appear ?",
            ),
            _exists,
        ),
        Task(
            "moving",
            "video",
            "Action(Y/N)",
            _questions(
                "is the {shape} moving ?",
                "does the {shape} move ?",
                "is the {shape} in motion ?",
                "does the {shape} change place ?",
                "is the {shape} changing position ?",
                "tell me if the {shape} moves .",
                "is anything moving ?",
                "does the {shape} go anywhere ?",
                "say whether the {shape} moves .",
                "is there motion in the video ?",
                "does the {shape} travel in the video ?",
                "is the {shape} moving in this clip ?",
            ),
            _moving,
        ),
        Task(
            "direction",
            "video",
            "Others",
            _questions(
                "which way does the {shape} move ?",
                "where does the {shape} go ?",
                "in which direction does the {shape} move ?",
                "tell me where the {shape} moves .",
                "what direction is the motion ?",
                "where is the {shape} heading ?",
                "say which way the {shape} goes .",
                "which direction does it travel ?",
                "how does the {shape} move ?",
                "where does the motion go ?",
                "toward which side does the {shape} move ?",
                "in what direction does the {shape} travel ?",
            ),
            _direction,
        ),
        Task(
            "order",
            "video",
            "Temporal",
            _questions(
                "which color appears first ?",
                "what color comes first ?",
                "which color is shown first ?",
                "what appears first in the video ?",
                "tell me which color is first .",
                "which color comes before the other ?",
                "what is the first color ?",
                "say which color appears first .",
                "which one appears earlier ?",
                "what color is seen at the start ?",
                "which color is shown at the beginning ?",
                "what color appears before the other one ?",
            ),
            _order,
        ),
        Task(
            "text",
            "text",
            "Text",
            _questions(
                "{q}",
                "please , {q}",
                "i have a question : {q}",
                "quick question : {q}",
                "{q} please .",
                "can you help ? {q}",
                "hey , {q}",
                "tell me : {q}",
                "answer this : {q}",
                "here is a question : {q}",
                "help me : {q}",
                "question : {q}",
            ),
            _text,
            "text_instruction",
        ),
    )
}

IMAGE_TASKS = tuple(n for n, t in TASKS.items() if t.media == "image")
VIDEO_TASKS = tuple(n for n, t in TASKS.items() if t.media == "video")
# MME-form subtasks: two yes/no questions per image, one true and one false (MME's design)
MME_SUBTASKS = ("existence", "count", "position", "color", "OCR")
