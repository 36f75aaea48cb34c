"""Released benchmarks read as they ship: Open-VQA's image and video files in their released
field layout, with `images/…` paths and mp4 clips, are evaluated through
`eval.openvqa_image` / `eval.openvqa_video` with nothing renamed; benchmarks not named come
from the generated suite; a broken one is named before compute."""

from __future__ import annotations

import json

import av
import numpy as np
from PIL import Image

from lynx_core.checks import eval_suite
from lynx_core.evaluate.suite import PREDICTIONS
from lynx_core.pipeline import run_stage
from lynx_core.stages import STAGES
from tests.tiny import tiny_config

IMAGES = [  # Open_VQA_images.jsonl's fields, as released
    {"dataset": "open_vqa", "question": "what colour is it ?", "answer": ["red", "crimson"],
     "index": 1, "image": "images/000000001.jpg", "origin_dataset": "coco", "class": "Color"},
    {"dataset": "open_vqa", "question": "how many shapes are there ?", "answer": ["one"],
     "index": 2, "image": "images/000000002.jpg", "origin_dataset": "coco", "class": "Counting"},
    {"dataset": "open_vqa", "question": "what shape is it ?", "answer": ["circle"],
     "index": 3, "image": "images/000000001.jpg", "origin_dataset": "vg", "class": "Others"},
]  # fmt: skip
VIDEOS = [  # Open_VQA_videos.jsonl's: `video` paths to mp4 clips
    {"dataset": "open_vqa", "question": "is it moving ?", "answer": ["yes"], "index": 1,
     "video": "videos/clip1.mp4", "origin_dataset": "msrvtt", "class": "Action(Y/N)"},
    {"dataset": "open_vqa", "question": "what colour is it ?", "answer": ["blue"], "index": 2,
     "video": "videos/clip2.mp4", "origin_dataset": "msvd", "class": "Others"},
]  # fmt: skip


def write_mp4(path, colour, frames: int = 6) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=6)
        stream.width = stream.height = 48
        stream.pix_fmt = "yuv420p"
        for shift in range(frames):
            frame = np.roll(np.full((48, 48, 3), colour, dtype=np.uint8), shift, axis=1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_release(root):
    """Open-VQA as distributed: the two jsonl files beside images/ and videos/."""
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (60, 40), (200, 20, 20)).save(root / "images" / "000000001.jpg")
    Image.new("RGB", (50, 50), (20, 200, 20)).save(root / "images" / "000000002.jpg")
    write_mp4(root / "videos" / "clip1.mp4", (250, 250, 250))
    write_mp4(root / "videos" / "clip2.mp4", (20, 20, 200))
    for name, rows in (("Open_VQA_images.jsonl", IMAGES), ("Open_VQA_videos.jsonl", VIDEOS)):
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {
        "eval.openvqa_image": {"path": str(root / "Open_VQA_images.jsonl")},
        "eval.openvqa_video": {"path": str(root / "Open_VQA_videos.jsonl")},
    }


def test_released_open_vqa_files_are_evaluated_as_they_ship(tmp_path):
    release = write_release(tmp_path / "Open_VQA")
    steps = {f"train.{s}.steps": 0 for s in ("instruct", "clip", "stage1", "stage2")}
    cfg = tiny_config(**{"train.bases.steps": 2, **steps, **release})
    assert eval_suite(cfg) == []
    folders = {stage: tmp_path / stage for stage in STAGES}
    for stage in STAGES:
        output = run_stage(stage, cfg, folders, tmp_path / "cache")
    rows = [json.loads(line) for line in (folders["eval"] / PREDICTIONS).read_text().splitlines()]
    asked = {split: [r["question"] for r in rows if r["split"] == split] for split in
             ("openvqa", "openvqa_video", "mme", "owleval")}  # fmt: skip
    assert asked["openvqa"] == [r["question"] for r in IMAGES]
    assert asked["openvqa_video"] == [r["question"] for r in VIDEOS]
    assert asked["mme"] and asked["owleval"]  # not named: the generated suite's
    metrics = output.metrics
    assert 0 <= metrics["openvqa/overall"] <= 100 and 0 <= metrics["openvqa_video/overall"] <= 100
    # counted per released class, as the paper's tables are
    assert (metrics["openvqa/Color/total"], metrics["openvqa/Counting/total"]) == (1, 1)
    assert metrics["openvqa_video/Action_Y_N/total"] == 1


def test_a_broken_released_file_is_named_before_compute(tmp_path):
    release = write_release(tmp_path / "Open_VQA")
    (tmp_path / "Open_VQA" / "videos" / "clip2.mp4").unlink()
    (finding,) = eval_suite(tiny_config(**release))
    assert finding.field == "eval.openvqa_video"
    assert "line 2" in finding.message and "clip2.mp4" in finding.message
