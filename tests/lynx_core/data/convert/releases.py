"""Tiny releases of each dataset a converter reads, written from the formats' public
descriptions (the datasets' papers, READMEs and loaders), never from our own output.

`RELEASES[name](folder, n)` writes a release of `n` questions (or captions, conversations)
into `folder`, with its media files, and returns what the training file must hold: one
(instruction, answer, media) per example, in order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

Expected = list[tuple[str, str, str | None]]


def _dump(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1))


def _media(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")


def coco_captions(folder: Path, n: int) -> Expected:
    images = [
        {"id": 1000 + i, "file_name": f"{1000 + i:012d}.jpg", "height": 480, "width": 640}
        for i in range(max(n // 2, 1))
    ]
    annotations = [
        {"id": 5000 + i, "image_id": 1000 + i % len(images), "caption": f"a red cube number {i}"}
        for i in range(n)
    ]
    info = {"description": "COCO 2017 Dataset", "version": "1.0", "year": 2017}
    _dump(
        folder / "annotations/captions_train2017.json",
        {
            "info": info,
            "licenses": [{"id": 1, "name": "x"}],
            "images": images,
            "annotations": annotations,
        },
    )
    _media(folder / "train2017", [im["file_name"] for im in images])
    by_id = {im["id"]: im["file_name"] for im in images}
    return [
        ("Describe the image briefly.", a["caption"], by_id[a["image_id"]]) for a in annotations
    ]


def _ten(answer: str) -> list[dict]:
    """Ten annotators: seven give the answer, three another one."""
    answers = [answer] * 7 + ["other"] * 3
    return [
        {"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)
    ]


def _vqa_layout(folder: Path, n: int, questions: str, annotations: str, state_mc: bool) -> Expected:
    qs = [
        {"image_id": 9 + i % 5, "question": f"what is {i}?", "question_id": 900 + i}
        for i in range(n)
    ]
    anns = []
    for q in reversed(qs):  # annotations need not come in the questions' order
        ann = {
            "question_type": "what is",
            "answers": _ten(f"answer {q['question_id']}"),
            "image_id": q["image_id"],
            "answer_type": "other",
            "question_id": q["question_id"],
        }
        if state_mc:
            ann["multiple_choice_answer"] = f"answer {q['question_id']}"
        anns.append(ann)
    _dump(
        folder / questions,
        {
            "info": {},
            "task_type": "Open-Ended",
            "data_type": "mscoco",
            "license": {},
            "data_subtype": "train2014",
            "questions": qs,
        },
    )
    _dump(
        folder / annotations,
        {"info": {}, "license": {}, "data_subtype": "train2014", "annotations": anns},
    )
    names = [f"COCO_train2014_{q['image_id']:012d}.jpg" for q in qs]
    _media(folder / "train2014", names)
    return [
        (q["question"], f"answer {q['question_id']}", name)
        for q, name in zip(qs, names, strict=True)
    ]


def vqav2(folder: Path, n: int) -> Expected:
    return _vqa_layout(
        folder,
        n,
        "v2_OpenEnded_mscoco_train2014_questions.json",
        "v2_mscoco_train2014_annotations.json",
        state_mc=True,
    )


def okvqa(folder: Path, n: int) -> Expected:
    return _vqa_layout(
        folder,
        n,
        "OpenEnded_mscoco_train2014_questions.json",
        "mscoco_train2014_annotations.json",
        state_mc=False,
    )


def aokvqa(folder: Path, n: int) -> Expected:
    rows = [
        {
            "split": "train",
            "image_id": 300 + i,
            "question_id": f"q{i}",
            "question": f"why {i}?",
            "choices": ["a", "b", "c", "d"],
            "correct_choice_idx": 1,
            "direct_answers": [f"because {i}"] * 6 + ["no idea"] * 4,
            "difficult_direct_answer": False,
            "rationales": ["r1", "r2", "r3"],
        }
        for i in range(n)
    ]
    _dump(folder / "aokvqa_v1p0_train.json", rows)
    names = [f"{r['image_id']:012d}.jpg" for r in rows]
    _media(folder / "train2017", names)
    return [
        (r["question"], f"because {i}", name)
        for i, (r, name) in enumerate(zip(rows, names, strict=True))
    ]


def gqa(folder: Path, n: int) -> Expected:
    rows = {
        str(20000 + i): {
            "semantic": [],
            "entailed": [],
            "equivalent": [],
            "question": f"is the cube {i} red?",
            "imageId": f"n{i % 7}",
            "isBalanced": True,
            "groups": {},
            "answer": "yes" if i % 2 else "no",
            "semanticStr": "",
            "annotations": {},
            "types": {},
            "fullAnswer": "Yes, it is.",
        }
        for i in range(n)
    }
    _dump(folder / "train_balanced_questions.json", rows)
    _media(folder / "images", [f"n{i}.jpg" for i in range(min(n, 7))])
    return [(r["question"], r["answer"], f"{r['imageId']}.jpg") for r in rows.values()]


def textvqa(folder: Path, n: int) -> Expected:
    rows = [
        {
            "question": f"what does sign {i} say?",
            "image_id": f"t{i:04d}",
            "image_classes": [],
            "flickr_original_url": "",
            "flickr_300k_url": "",
            "image_width": 1024,
            "image_height": 768,
            "answers": [f"stop {i}"] * 8 + ["go", "go"],
            "question_tokens": [],
            "question_id": i,
            "set_name": "train",
        }
        for i in range(n)
    ]
    _dump(
        folder / "TextVQA_0.5.1_train.json",
        {
            "dataset_type": "train",
            "dataset_name": "textvqa",
            "dataset_version": "0.5.1",
            "data": rows,
        },
    )
    _media(folder / "train_images", [f"{r['image_id']}.jpg" for r in rows])
    return [(r["question"], f"stop {i}", f"{r['image_id']}.jpg") for i, r in enumerate(rows)]


def textcaps(folder: Path, n: int) -> Expected:
    rows = [
        {
            "image_id": f"c{i:04d}",
            "image_classes": [],
            "flickr_original_url": "",
            "flickr_300k_url": "",
            "image_width": 1024,
            "image_height": 768,
            "set_name": "train",
            "image_name": f"c{i:04d}",
            "image_path": f"train/c{i:04d}.jpg",
            "caption_id": i,
            "caption_str": f"a sign that reads {i}",
            "caption_tokens": [],
            "reference_strs": [],
            "reference_tokens": [],
        }
        for i in range(n)
    ]
    _dump(
        folder / "TextCaps_0.1_train.json",
        {
            "dataset_type": "train",
            "dataset_name": "textcaps",
            "dataset_version": "0.1",
            "data": rows,
        },
    )
    _media(folder / "train_images", [f"{r['image_id']}.jpg" for r in rows])
    return [("Describe the image briefly.", r["caption_str"], f"{r['image_id']}.jpg") for r in rows]


def ocrvqa(folder: Path, n: int) -> Expected:
    books = max(n // 2, 1)
    rows = {
        f"{100000 + b}": {
            "imageURL": f"http://images.example/I/{b}.jpg",
            "title": f"book {b}",
            "authorName": "someone",
            "genre": "Poetry",
            "split": 1,
            "questions": [f"Who wrote book {b}?", f"What is the genre of book {b}?"],
            "answers": ["someone", "Poetry"],
        }
        for b in range(books)
    }
    rows["999"] = {**rows[next(iter(rows))], "split": 3}  # a test book: not trained on
    _dump(folder / "dataset.json", rows)
    _media(folder / "images", [f"{100000 + b}.jpg" for b in range(books)])
    return [
        (q, a, f"{book}.jpg")
        for book, r in rows.items()
        if r["split"] == 1
        for q, a in zip(r["questions"], r["answers"], strict=True)
    ]


def llava_instruct(folder: Path, n: int, name: str = "llava_instruct_150k.json") -> Expected:
    rows = [
        {
            "id": f"{i:012d}",
            "image": f"{i:012d}.jpg",
            "conversations": [
                {"from": "human", "value": f"<image>\nWhat is in picture {i}?"},
                {"from": "gpt", "value": f"A cube {i}."},
                {"from": "human", "value": "And its colour?"},
                {"from": "gpt", "value": "Red."},
            ],
        }
        for i in range(n)
    ]
    _dump(folder / name, rows)
    _media(folder / "train2017", [r["image"] for r in rows])
    return [
        (q, a, r["image"])
        for i, r in enumerate(rows)
        for q, a in ((f"What is in picture {i}?", f"A cube {i}."), ("And its colour?", "Red."))
    ]


def msrvtt_qa(folder: Path, n: int) -> Expected:
    rows = [
        {
            "answer": f"dance{i}",
            "category_id": 3,
            "id": i,
            "question": f"what do people do {i}?",
            "video_id": 7000 + i,
        }
        for i in range(n)
    ]
    _dump(folder / "train_qa.json", rows)
    _media(folder / "videos", [f"video{r['video_id']}.mp4" for r in rows])
    return [(r["question"], r["answer"], f"video{r['video_id']}.mp4") for r in rows]


def alpaca(folder: Path, n: int, name: str = "alpaca_data.json") -> Expected:
    rows = [
        {
            "instruction": f"Give a word for {i}.",
            "input": "" if i % 2 else f"context {i}",
            "output": f"word{i}",
        }
        for i in range(n)
    ]
    _dump(folder / name, rows)
    return [
        (r["instruction"] + (f"\n{r['input']}" if r["input"] else ""), r["output"], None)
        for r in rows
    ]


def sthv2(folder: Path, n: int) -> Expected:
    rows = [  # its labels file as released: the template's placeholders filled in
        {
            "id": str(1000 + i),
            "label": f"putting cube {i} onto a table",
            "template": "Putting [something] onto [something]",
            "placeholders": [f"cube {i}", "a table"],
        }
        for i in range(n)
    ]
    _dump(folder / "something-something-v2-train.json", rows)
    _media(folder / "20bn-something-something-v2", [f"{r['id']}.webm" for r in rows])
    return [
        ("Describe the video shortly.", f"Putting cube {i} onto a table.", f"{1000 + i}.webm")
        for i in range(n)
    ]


RELEASES: dict[str, Callable[[Path, int], Expected]] = {
    "coco_captions": coco_captions,
    "textcaps": textcaps,
    "vqav2": vqav2,
    "okvqa": okvqa,
    "aokvqa": aokvqa,
    "gqa": gqa,
    "textvqa": textvqa,
    "ocrvqa": ocrvqa,
    "llava_instruct": llava_instruct,
    "llava_conversation": partial(llava_instruct, name="conversation_58k.json"),
    "llava_reasoning": partial(llava_instruct, name="complex_reasoning_77k.json"),
    "llava_detail": partial(llava_instruct, name="detail_23k.json"),
    "sthv2": sthv2,
    "msrvtt_qa": msrvtt_qa,
    "alpaca": alpaca,
    "alpaca_gpt4": partial(alpaca, name="alpaca_gpt4_data.json"),
}
