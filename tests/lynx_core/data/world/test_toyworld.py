"""Each axis of the study has a way to matter in the generated world, and the world is stable."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from lynx_core.config import DataConfig, PromptConfig
from lynx_core.data.batches import to_pixels
from lynx_core.data.stage_data import instruct_corpus, stage2_pools, task_examples, vocabulary
from lynx_core.data.world import toyworld as tw
from lynx_core.data.world.prompts import HELD_OUT, LENGTH_INSTRUCTIONS, held_out_instructions
from lynx_core.data.world.render import render, render_clip
from lynx_core.data.world.tasks import TASKS
from lynx_core.data.world.worldset import image_set, video_set


def contrast(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """How strongly two renders differ as the model sees them: the mean of the 8 largest
    per-pixel differences (normalised units) at input resolution `size`."""
    pa, pb = to_pixels(np.stack([a, b]), size)
    return float((pa - pb).abs().amax(dim=0).flatten().topk(8).values.mean())


def test_low_resolution_blurs_the_sign_word_but_not_the_colour():
    """Resolution can matter for OCR: one letter's thin strokes lose most of their contrast
    when 64 px become 32, while a shape's colour stays as plain as before."""
    scene = tw.Scene("red", "circle", (0,), "street", "stop", sign_x=20)
    word = [contrast(render(scene), render(replace(scene, word="shop")), s) for s in (32, 64)]
    color = [contrast(render(scene), render(replace(scene, color="blue")), s) for s in (32, 64)]
    assert word[0] < 0.4 * word[1], word
    assert color[0] > 0.95 * color[1], color


def test_direction_and_order_cannot_be_read_from_any_single_frame():
    rng = random.Random(0)
    clips = [c for c in (tw.sample_clip(rng) for _ in range(60)) if c.kind != "still"]
    assert {c.kind for c in clips} == {"move", "order"}
    for clip in clips:
        frames, backwards = render_clip(clip), render_clip(clip.reversed())
        np.testing.assert_array_equal(frames[::-1], backwards)  # the same frames ...
        task = TASKS["direction" if clip.kind == "move" else "order"]
        answers = [task.fact(c, rng).short for c in (clip, clip.reversed())]
        assert answers[0] != answers[1]  # ... with opposite answers


def test_noisy_captions_often_miss_what_the_image_shows():
    scenes = tw.sample_scenes(0, 300, "captions")
    clean = tw.captions(scenes, "clean", 0)
    noisy = tw.captions(scenes, "noisy", 0)
    aligned = [s.color in c.split() and s.shape in c for s, c in zip(scenes, noisy, strict=True)]
    assert all(s.color in c and s.shape in c for s, c in zip(scenes, clean, strict=True))
    assert 0.2 < sum(aligned) / len(aligned) < 0.7
    assert any(word in " ".join(noisy) for word in tw.FILLER)


def test_single_prompts_use_one_template_and_diverse_ones_many_but_never_held_out_ones():
    scenes = tw.sample_scenes(0, 400, "captions")
    for mode, expected in (("single", 1), ("diverse", 10)):
        examples = task_examples("count", scenes, PromptConfig(mode=mode), 0)
        hints = [f" {i}" for kind in LENGTH_INSTRUCTIONS.values() for i in kind]
        questions = {
            next((e.prompt.removesuffix(h) for h in hints if e.prompt.endswith(h)), e.prompt)
            for e in examples
        }
        assert len(questions) == expected, (mode, questions)
    diverse = task_examples("count", scenes, PromptConfig(), 0)
    held = TASKS["count"].paraphrases[-HELD_OUT:]
    held_hints = [h for length in ("short", "long") for h in held_out_instructions(length)]
    assert not any(e.prompt.startswith(h) for e in diverse for h in held)
    assert not any(h in e.prompt for e in diverse for h in held_hints)
    long = [e for e in diverse if e.instruction == "long"]
    assert long and all(len(e.answer.split()) > 2 for e in long)


def test_the_held_out_task_is_not_trained_and_ratio_zero_tasks_are_left_out(tmp_path):
    cfg = DataConfig(train_images=32, train_videos=8, text_examples=8)
    images = image_set(tmp_path, 0, 32, "tasks")
    videos = video_set(tmp_path, 0, 8, "tasks")
    assert "place" not in stage2_pools(images, videos, cfg)
    mix = {**cfg.mixture, "ocr": 0.0}
    only = DataConfig(**{**cfg.model_dump(), "mixture": mix, "prompts": {"held_out_task": None}})
    pools = stage2_pools(images, videos, only)
    assert "place" in pools and "ocr" not in pools


def test_toy_vicuna_trains_on_dialogues_with_the_scene_where_the_prefix_goes():
    corpus = instruct_corpus(0, 128)  # 32 clips: every kind of clip, so every task
    assert {e.task for e in corpus} == set(TASKS)
    visual = [e for e in corpus if e.kind != "text"]
    assert all(e.context.endswith(" .") and e.answer for e in visual)
    assert not any(" : " in line for line in tw.world_text(0, 50))  # the LLaMA text has no turns


def test_world_parts_are_cached_by_content_and_identical_when_rebuilt(tmp_path):
    first = image_set(tmp_path / "a", 3, 16, "tasks")
    again = image_set(tmp_path / "a", 3, 16, "tasks")
    fresh = image_set(tmp_path / "b", 3, 16, "tasks")
    assert len(list((tmp_path / "a").iterdir())) == 1  # second call read the cache
    np.testing.assert_array_equal(first.images, fresh.images)
    assert first.scenes == again.scenes == fresh.scenes
    assert first.images.dtype == np.uint8 and first.images.shape == (16, 64, 64, 3)
    other = image_set(tmp_path / "a", 4, 16, "tasks")
    assert other.scenes != first.scenes


def test_vocabulary_covers_every_prompt_answer_and_caption():
    words = set(vocabulary())
    rng = random.Random(5)
    texts = []
    for scene in tw.sample_scenes(1, 50, "captions"):
        texts += [scene.caption(), *tw.captions([scene], "noisy", 1)]
        texts += [
            e.prompt + " " + e.answer for e in task_examples("exist", [scene], PromptConfig(), 1)
        ]
    texts += [tw.sample_clip(rng).caption() for _ in range(20)]
    missing = tw.words_of(texts) - words
    assert not missing


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mixture": {"colour": 1.0}}, "unknown task"),
        ({"mixture": {"color": -1.0}}, "≥ 0"),
        ({"mixture": {"place": 1.0}}, "gives every trained task ratio 0"),
        ({"prompts": {"held_out_task": "cooking"}}, "not a task"),
    ],
)
def test_bad_mixtures_and_prompts_are_rejected_with_the_fix(change, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        DataConfig.model_validate(change)
