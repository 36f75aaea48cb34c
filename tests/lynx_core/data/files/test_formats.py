"""Readers for Open-VQA files and MME's release folder: fields, media inside the root, errors."""

from __future__ import annotations

import json

import pytest

from lynx_core.data.files.formats import FormatError, load_mme, load_openvqa
from lynx_core.evaluate.mme import MMEAnswer, score


def write_lines(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_open_vqa_image_and_video_items_are_read_with_their_media(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "1.jpg").write_bytes(b"jpg")
    (tmp_path / "clip.mp4").write_bytes(b"mp4")
    rows = [
        {"dataset": "openvqa", "question": "What colour?", "answer": ["red", "crimson"],
         "index": 1, "image": "images/1.jpg", "origin_dataset": "coco", "class": "Color"},
        {"question": "Is he running?", "answer": "yes", "index": 2, "video": "clip.mp4",
         "class": "Action(Y/N)"},
    ]  # fmt: skip
    write_lines(tmp_path / "q.jsonl", rows)
    image, video = load_openvqa(tmp_path / "q.jsonl", tmp_path)
    assert image.kind == "image" and image.category == "Color"
    assert image.answer == ["red", "crimson"] and image.media == tmp_path / "images" / "1.jpg"
    assert video.kind == "video" and video.answer == ["yes"]


def test_open_vqa_problems_are_listed_with_their_lines(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    rows = [
        {"question": "q", "answer": ["a"], "index": 1, "image": "../secret.jpg", "class": "OCR"},
        {"question": "q", "answer": ["a"], "index": 2, "image": "/etc/hostname", "class": "OCR"},
        {"question": "q", "answer": ["a"], "index": 3, "image": "missing.jpg", "class": "OCR"},
        {"question": "q", "answer": [], "index": 4, "image": "missing.jpg", "class": "OCR"},
        {"question": "q", "answer": ["a"], "index": 5, "class": "OCR"},
    ]
    write_lines(tmp_path / "data" / "q.jsonl", rows)
    with pytest.raises(FormatError) as caught:
        load_openvqa(tmp_path / "data" / "q.jsonl", tmp_path / "data")
    problems = caught.value.problems
    assert len(problems) == 5
    assert problems[0].startswith("line 1") and "leaves the data root" in problems[0]
    assert problems[1].startswith("line 2") and "leaves the data root" in problems[1]
    assert problems[2].startswith("line 3") and "does not exist" in problems[2]
    assert problems[4].startswith("line 5") and "'image' or a 'video'" in problems[4]


def test_mme_release_layouts_are_read_and_scored(tmp_path):
    # layout 1: images/ + questions_answers_YN/; layout 2: side by side
    (tmp_path / "count" / "images").mkdir(parents=True)
    (tmp_path / "count" / "questions_answers_YN").mkdir()
    (tmp_path / "count" / "images" / "a.jpg").write_bytes(b"x")
    (tmp_path / "count" / "questions_answers_YN" / "a.txt").write_text(
        "Are there two dogs?\tYes\nAre there three dogs?\tNo\n"
    )
    (tmp_path / "OCR").mkdir()
    (tmp_path / "OCR" / "b.png").write_bytes(b"x")
    (tmp_path / "OCR" / "b.txt").write_text("Is the word 'cat'?\tYes\nIs the word 'dog'?\tNo\n")
    questions = load_mme(tmp_path)
    assert [(q.subtask, q.answer) for q in questions] == [
        ("OCR", "Yes"), ("OCR", "No"), ("count", "Yes"), ("count", "No"),
    ]  # fmt: skip
    said = ["Yes.", "no", "Yes", "Yes, three"]
    answers = [
        MMEAnswer(subtask=q.subtask, image=str(q.image), question=q.question, answer=q.answer,
                  prediction=p)
        for q, p in zip(questions, said, strict=True)
    ]  # fmt: skip
    metrics = score(answers)
    assert metrics["OCR/score"] == 200 and metrics["count/score"] == 50
    assert metrics["perception"] == 250


def test_a_broken_mme_folder_is_reported_file_by_file(tmp_path):
    (tmp_path / "color").mkdir()
    (tmp_path / "color" / "a.txt").write_text("Is it red?\tYes\nIs it blue?\tNo\n")
    (tmp_path / "color" / "b.jpg").write_bytes(b"x")
    (tmp_path / "color" / "b.txt").write_text("Is it red?\tMaybe\n")
    with pytest.raises(FormatError) as caught:
        load_mme(tmp_path)
    text = str(caught.value)
    assert "a.txt: no image named a.*" in text
    assert "b.txt: 1 questions; MME has two per image" in text
    assert "b.txt, line 1: expected 'question<TAB>Yes|No'" in text


def test_a_video_may_be_a_folder_of_frames_sampled_evenly(tmp_path):
    from PIL import Image

    from lynx_core.data.files.formats import read_video

    clip = tmp_path / "videos" / "v1"
    clip.mkdir(parents=True)
    for t in range(10):  # names sort naturally: 2 before 10
        Image.new("RGB", (8, 8), (t * 20, 0, 0)).save(clip / f"{t + 1}.png")
    (tmp_path / "empty").mkdir()
    line = {"question": "q", "answer": ["a"], "class": "Others", "index": 0, "video": "videos/v1"}
    file = tmp_path / "video.jsonl"
    file.write_text(json.dumps(line) + "\n" + json.dumps({**line, "video": "empty"}) + "\n")
    with pytest.raises(FormatError, match="line 2: .*without frame images"):
        load_openvqa(file, tmp_path)
    file.write_text(json.dumps(line) + "\n")
    (item,) = load_openvqa(file, tmp_path)
    frames = read_video(item.media, 4)
    assert frames.shape == (4, 8, 8, 3)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 60, 120, 180]
    assert read_video(item.media, 20).shape[0] == 20  # short clips repeat frames


def test_a_video_file_is_decoded_with_pyav_and_sampled_evenly(tmp_path):
    import av
    import numpy as np

    from lynx_core.data.files.formats import read_video

    path = tmp_path / "clip.mp4"
    levels = [0, 40, 80, 120, 160, 200, 240, 250]  # brightness per frame
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for level in levels:
            frame = np.full((32, 32, 3), level, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())  # flush
    frames = read_video(path, 4)
    assert frames.shape == (4, 32, 32, 3)
    means = [float(f.mean()) for f in frames]  # frames 0, 2, 5, 7 of 8 (lossy codec: ±6)
    assert means == pytest.approx([levels[i] for i in (0, 2, 5, 7)], abs=6)
