"""Each variant changes only what its claim is about, and the world can answer either way:
the confounds issue 27 found, each shown gone."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lynx_core.config import DataConfig, PromptConfig
from lynx_core.data.stage_data import instruct_corpus, stage2_pools
from lynx_core.data.world import splits
from lynx_core.data.world import toyworld as tw
from lynx_core.data.world.prompts import held_out_instructions
from lynx_core.data.world.tasks import TASKS
from lynx_core.data.world.worldset import (
    DESCRIPTIONS,
    OPENVQA_IMAGE,
    OPENVQA_VIDEO,
    balanced_yes_no,
    eval_suite,
    image_set,
    validation_suite,
    video_set,
)
from lynx_core.evaluate.following import length_instructed
from lynx_core.evaluate.rule_judge import RuleJudge, normalise

SMALL = DataConfig(
    train_images=256, train_videos=96, text_examples=128, eval_images=96, eval_videos=64,
    eval_mme_images=8, eval_pope_images=16,
)  # fmt: skip


def _pools(tmp_path: Path, mode: str):
    data = SMALL.model_copy(update={"prompts": PromptConfig(mode=mode)})
    images = image_set(tmp_path, "0.0", data.train_images, "tasks")
    videos = video_set(tmp_path, "0.0", data.train_videos, "tasks")
    return [e for pool in stage2_pools(images, videos, data, "0.0").values() for e in pool]


def test_single_prompts_change_only_the_wording(tmp_path):
    """One template per task and one wording per length, with the same length instructions
    at the same rate on the same examples, and so the same answers."""
    single, diverse = _pools(tmp_path, "single"), _pools(tmp_path, "diverse")
    assert len(single) == len(diverse)
    assert [e.instruction for e in single] == [e.instruction for e in diverse]
    assert [e.answer for e in single] == [e.answer for e in diverse]
    long = [e for e in single if e.instruction == "long"]
    assert len(long) > 0.1 * len(single)  # length instructions are trained in single mode too
    lengths = Counter(len(e.answer.split()) for e in single)
    assert lengths == Counter(len(e.answer.split()) for e in diverse)
    wordings = {e.prompt.split(" ? ")[-1] for e in single if e.instruction and " ? " in e.prompt}
    assert len(wordings) == 2  # one per length
    assert len({e.prompt for e in diverse}) > 2 * len({e.prompt for e in single})


def _pictures(items) -> set:
    return {item.picture for item in items}


def test_no_evaluation_picture_is_trained_on_by_value(tmp_path):
    """No stage (the toy LLaMA's text, the toy Vicuna's dialogues, the tower's CLIP images,
    stage-1 captions at either size, stage-2 tasks, the validation split) sees a test scene
    or clip, by picture (what it shows and where), nor reads a test image's description
    (which the bare LLM is evaluated on) in any text, even as part of a longer one."""
    suite = eval_suite(tmp_path / "world", SMALL)
    described = [json.loads(line) for line in (suite / DESCRIPTIONS).read_text().splitlines()]
    test = _pictures(tw.sample_scenes(SMALL.seed, SMALL.eval_images, "eval"))
    test |= _pictures(tw.sample_scenes(SMALL.seed, 64, "mme"))
    clips = _pictures(tw.sample_clips(SMALL.seed, SMALL.eval_videos, "eval"))
    assert {splits.split_of(picture) for picture in test | clips} == {"test"}
    trained, trained_clips = set(), set()
    for seed in range(4):  # every seed's own sample of the world
        for stream, n in (("captions", 5120), ("tasks", 512)):
            trained |= _pictures(tw.sample_scenes(f"{SMALL.seed}.{seed}", n, stream))
        trained_clips |= _pictures(tw.sample_clips(f"{SMALL.seed}.{seed}", 512, "tasks"))
    trained |= _pictures(tw.sample_scenes(SMALL.seed, 1024, "clip"))
    trained |= _pictures(tw.sample_scenes(SMALL.seed, 200, "validation"))
    assert not test & trained
    assert not clips & trained_clips
    corpus = instruct_corpus(SMALL.seed, 1024, "place")
    texts = [e.context for e in corpus] + tw.world_text(0, 4096)  # what the toy LLMs read
    descriptions = {row["description"] for row in described}
    assert all(" , " in d for d in descriptions)  # each says where its shapes stand
    assert not [d for d in descriptions if any(d in text for text in texts)]
    assert "place" not in {e.task for e in corpus}  # nor the held-out task, by the toy Vicuna


def test_every_combination_a_test_picture_shows_is_trained_on_in_other_pictures():
    """Held out by picture, not by caption: what a test clip's caption says (kind, shape,
    colours, direction) and what a test scene's names (colour, shape, count, place, common
    values) all occur in training, in other pictures. Held out by caption, the default
    test's 528 clips were 19 combinations, none of training's 64."""
    train_clips = {c.content for c in tw.sample_clips("0.0", 4096, "tasks")}
    test_clips = tw.sample_clips(0, 528, "eval")
    assert all(c.content in train_clips for c in test_clips)
    train_scenes = {s.content for s in tw.sample_scenes("0.0", 5120, "captions")}
    common = [s for s in tw.sample_scenes(0, 384, "eval") if s.content in _head_contents()]
    assert len(common) > 0.3 * 384 and all(s.content in train_scenes for s in common)


def _head_contents() -> set:
    return {
        ("scene", color, shape, count, place)
        for color in tw.HEAD_COLORS for shape in tw.HEAD_SHAPES
        for count in (1, 2, 3) for place in tw.PLACES
    }  # fmt: skip


def test_the_evaluation_pixels_are_not_among_the_training_pixels(tmp_path):
    train = image_set(tmp_path, "0.0", 5120, "captions").images.reshape(5120, -1)
    evaluated = image_set(tmp_path, 0, 384, "eval").images.reshape(384, -1)
    seen = {row.tobytes() for row in train}
    assert not any(row.tobytes() in seen for row in evaluated)


def test_the_long_tail_is_what_only_the_larger_caption_set_covers():
    """Rare colours, shapes and words: a few in 512 clean captions, ten times as many in
    5,120 noisy ones (with their noise); evaluation asks about them often."""
    small = tw.sample_scenes("0.0", 512, "captions")
    large = tw.sample_scenes("0.0", 5120, "captions")
    noisy = tw.captions(large, "noisy", "0.0")
    rare = set(tw.TAIL_COLORS) | set(tw.TAIL_SHAPES) | set(tw.TAIL_WORDS)

    def named(scenes, texts):  # rare values a caption names correctly
        return sum(
            len(rare & set(text.split()) & {s.color, s.shape, s.word})
            for s, text in zip(scenes, texts, strict=True)
        )

    clean_small = named(small, [s.caption() for s in small])
    noisy_large = named(large, noisy)
    assert clean_small <= 40 and noisy_large >= 4 * clean_small
    evaluated = tw.sample_scenes(0, 384, "eval")
    assert sum(s.color in tw.TAIL_COLORS for s in evaluated) > 0.15 * len(evaluated)


def test_hedged_answers_are_wrong_and_answers_are_normalised_as_vqa_does():
    questions = [("Color", [c]) for c in tw.COLORS] + [
        ("Reasoning", ["yes"]),
        ("Reasoning", ["no"]),
    ]
    questions += [("Counting", ["two", "2"]), ("Counting", ["one", "1"])]
    judge = RuleJudge.of(questions)
    assert judge("red", ["red"], "Color") and judge("the circles are red .", ["red"], "Color")
    assert not judge("red blue", ["red"], "Color")  # two candidates of the kind: a hedge
    assert not judge("yes no", ["yes"], "Reasoning")
    assert judge("2", ["two"], "Counting") and judge("Two.", ["two"], "Counting")
    assert normalise("The Two circles!") == "2 circles"
    assert not judge("two or one", ["two"], "Counting")


def test_compliance_questions_spread_over_images_and_kinds():
    scenes = tw.sample_scenes(0, 60, "eval")
    rng = random.Random(0)
    examples = [
        e
        for i, scene in enumerate(scenes)
        for task in ("color", "count", "shape", "exist")
        for e in [TASKS[task].example(i, scene, _prompt(task, rng), rng)]
        if e is not None
    ]
    asked, kinds = length_instructed(examples, 50)
    first = asked[: len(asked) // 2]
    assert len({e.media for e in first}) == 50  # one question per image
    assert len({e.task for e in first}) == 4  # of every kind, not each image's first
    held = {*held_out_instructions("short"), *held_out_instructions("long")}
    assert {w for w in held if any(e.prompt.endswith(w) for e in asked)} == held


def _prompt(task, rng):
    from lynx_core.data.world.prompts import held_out_prompt

    return held_out_prompt(TASKS[task].paraphrases, rng)


@pytest.mark.parametrize("seed", [0, 1])
def test_each_seed_trains_on_its_own_sample_of_the_world(tmp_path, seed):
    mine = image_set(tmp_path, f"0.{seed}", 64, "tasks").images
    other = image_set(tmp_path, f"0.{seed + 1}", 64, "tasks").images
    assert not np.array_equal(mine, other)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_constant_answer_scores_half_of_every_yes_no_class(tmp_path):
    """Answering by form (always 'yes', or always 'no') earns nothing: every yes/no class of
    the test and validation sets holds as many 'yes' as 'no' questions, so a seed whose
    answers lean one way scores as a seed whose answers lean the other."""
    suite = eval_suite(tmp_path, SMALL)
    sets = {
        "image": _rows(suite / OPENVQA_IMAGE),
        "video": _rows(suite / OPENVQA_VIDEO),
        "validation": _rows(validation_suite(tmp_path, SMALL) / OPENVQA_IMAGE),
    }
    yes_no = set()
    for name, rows in sets.items():
        judge = RuleJudge.of((r["class"], r["answer"]) for r in rows)  # one per set, as scored
        assert [r["index"] for r in rows] == list(range(len(rows)))
        for category in {r["class"] for r in rows}:
            asked = [r for r in rows if r["class"] == category]
            if {tuple(r["answer"]) for r in asked} != {("yes",), ("no",)}:
                continue
            yes_no.add((name, category))
            for constant in ("yes", "no"):
                right = sum(judge(constant, r["answer"], category) for r in asked)
                assert right * 2 == len(asked), (name, category, constant)
    assert yes_no >= {("image", "Reasoning"), ("video", "Action(Y/N)")}


def test_balancing_drops_only_the_surplus_answers_questions():
    """Only a class answered by both 'yes' and 'no' is balanced; every other row is kept,
    in order, and the kept rows are numbered again."""
    rows = [{"class": "A", "answer": ["yes"]}] * 7 + [{"class": "A", "answer": ["no"]}] * 3
    rows += [{"class": "B", "answer": ["red"]}] * 4 + [{"class": "C", "answer": ["yes"]}] * 2
    kept = balanced_yes_no([{**r, "n": i} for i, r in enumerate(rows)], random.Random(0))
    assert Counter((r["class"], r["answer"][0]) for r in kept) == {
        ("A", "yes"): 3, ("A", "no"): 3, ("B", "red"): 4, ("C", "yes"): 2,
    }  # fmt: skip
    assert [r["n"] for r in kept] == sorted(r["n"] for r in kept)  # the order is kept
    assert [r["index"] for r in kept] == list(range(len(kept)))


def _majority_guess(train, test, cue, answer) -> tuple[int, int, float]:
    """How many `test` items a guess of `answer` from the training items with the same `cue`
    gets right, how many the training set's most common answer gets right, and the sampling
    noise allowed between the two (three binomial SDs at their largest, p = 1/2)."""
    seen: dict[tuple, Counter] = {}
    for item in train:
        seen.setdefault(cue(item), Counter())[answer(item)] += 1
    prior = Counter(answer(item) for item in train).most_common(1)[0][0]
    guess = [seen[cue(i)].most_common(1)[0][0] if cue(i) in seen else prior for i in test]
    truth = [answer(i) for i in test]
    return sum(map(str.__eq__, guess, truth)), truth.count(prior), 3 * math.sqrt(len(test) / 4)


def test_memorising_the_training_combinations_earns_no_less_than_the_prior_on_the_test():
    """What is memorised of training must not be wrong on the test by construction: guessing a
    test clip's motion or direction from the training clips of its shape and colour, or a test
    scene's colour from the training scenes of its shape, count and place, does as well as
    always giving training's most common answer, up to sampling noise. Held out by caption,
    the guess got direction right on none of the test's moving clips (0 of 231, the prior
    65), so a seed's score there said how much it memorised, not what it saw."""
    train = tw.sample_clips("0.0", 4096, "tasks")
    test = tw.sample_clips(0, 528, "eval")

    def cue(clip):
        return clip.shape, clip.colors

    def moving(clips):
        return [c for c in clips if c.kind != "order"]

    def moved(clips):
        return [c for c in clips if c.kind == "move"]

    motion = _majority_guess(moving(train), moving(test), cue, lambda c: c.kind)
    direction = _majority_guess(moved(train), moved(test), cue, lambda c: c.direction)
    scenes = [s for s in tw.sample_scenes("0.0", 5120, "captions") if s.color in tw.HEAD_COLORS]
    asked = [s for s in tw.sample_scenes(0, 384, "eval") if s.color in tw.HEAD_COLORS]
    color = _majority_guess(scenes, asked, lambda s: s.content[2:], lambda s: s.color)
    for right, prior_right, noise in (motion, direction, color):
        assert right >= prior_right - noise, (motion, direction, color)
