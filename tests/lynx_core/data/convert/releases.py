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


def vizwiz(folder: Path, n: int) -> Expected:
    rows = [  # as VizWiz-VQA's annotations zip has them (answer_type, answerable included)
        {
            "image": f"VizWiz_train_{i:08d}.jpg",
            "question": f"What is this can {i}?",
            "answers": [
                {"answer": f"soup {i}", "answer_confidence": "yes"},
                *({"answer": "unanswerable", "answer_confidence": "maybe"} for _ in range(3)),
                *({"answer": f"soup {i}", "answer_confidence": "maybe"} for _ in range(6)),
            ],
            "answer_type": "other",
            "answerable": 1,
        }
        for i in range(n)
    ]
    unanswerable = rows[-1]  # a blurred photo: most annotators say so, and that is trained
    unanswerable.update(answerable=0, answer_type="unanswerable")
    for answer in unanswerable["answers"][4:]:
        answer["answer"] = "unanswerable"
    _dump(folder / "train.json", rows)
    _media(folder / "train", [r["image"] for r in rows])
    answers = [f"soup {i}" for i in range(n - 1)] + ["unanswerable"]
    return [(r["question"], a, r["image"]) for r, a in zip(rows, answers, strict=True)]


def stvqa(folder: Path, n: int) -> Expected:
    rows = [
        {
            "dataset": "coco-text",
            "file_name": f"COCO_train2014_{i:012d}.jpg",
            "file_path": f"coco-text/COCO_train2014_{i:012d}.jpg",
            "image_id": i,
            "question": f"What is written on sign {i}?",
            "question_id": 100 + i,
            "answers": [f"stop {i}", f"stop {i}", "stop"],
            "set_name": "train",
        }
        for i in range(n)
    ]
    _dump(folder / "train_task_3.json", {"dataset": "ST-VQA", "version": "1.0", "data": rows})
    _media(folder / "train_images", [r["file_path"] for r in rows])
    return [(r["question"], f"stop {i}", r["file_path"]) for i, r in enumerate(rows)]


def vgqa(folder: Path, n: int) -> Expected:
    images = [  # ids 1.. as released; odd ones in the second zip's folder
        {
            "width": 800,
            "height": 600,
            "url": f"https://cs.stanford.edu/people/rak248/VG_100K{'_2' if i % 2 else ''}/{i}.jpg",
            "image_id": i,
            "coco_id": None,
            "flickr_id": None,
        }
        for i in range(1, -(-n // 2) + 1)
    ]
    qas = [  # two questions an image; answers released as sentences
        {
            "id": image["image_id"],
            "qas": [
                {
                    "qa_id": 10 * image["image_id"] + k,
                    "image_id": image["image_id"],
                    "question": f"What color is clock {image['image_id']}{k}?",
                    "answer": f"Green {k}.",
                    "a_objects": [],
                    "q_objects": [],
                }
                for k in range(2)
            ],
        }
        for image in images
    ]
    _dump(folder / "image_data.json", images)
    _dump(folder / "question_answers.json", qas)
    media = [f"VG_100K{'_2' if i['image_id'] % 2 else ''}/{i['image_id']}.jpg" for i in images]
    _media(folder / "images", media)
    return [
        (qa["question"], qa["answer"].removesuffix("."), path)
        for entry, path in zip(qas, media, strict=True)
        for qa in entry["qas"]
    ]


def places365(folder: Path, n: int) -> Expected:
    classes = ["/a/airfield", "/a/apartment_building/outdoor", "/b/bus_station/indoor"]
    names = ["airfield", "apartment building, outdoor", "bus station, indoor"]
    (folder / "categories_places365.txt").parent.mkdir(parents=True, exist_ok=True)
    (folder / "categories_places365.txt").write_text(
        "".join(f"{c} {i}\n" for i, c in enumerate(classes))
    )
    images = [f"{classes[i % 3]}/{i + 1:08d}.jpg" for i in range(n)]
    (folder / "places365_train_standard.txt").write_text(
        "".join(f"{path} {i % 3}\n" for i, path in enumerate(images))
    )
    _media(folder / "data_256", [p.lstrip("/") for p in images])
    question = "Where is this? Answer with a place name."
    return [(question, names[i % 3], p.lstrip("/")) for i, p in enumerate(images)]


def msvd_qa(folder: Path, n: int) -> Expected:
    rows = [
        {"answer": f"pour{i}", "id": i, "question": f"who pours liquid {i}?", "video_id": i + 1}
        for i in range(n)
    ]
    clips = [f"-4wsuPC{i}_5_15" for i in range(n)]
    _dump(folder / "train_qa.json", rows)
    (folder / "youtube_mapping.txt").write_text(
        "".join(f"{clip} vid{i + 1}\n" for i, clip in enumerate(clips))
    )
    _media(folder / "YouTubeClips", [f"{c}.avi" for c in clips])
    return [(r["question"], r["answer"], f"{c}.avi") for r, c in zip(rows, clips, strict=True)]


def baize(folder: Path, n: int) -> Expected:
    """Half the chats in the first self-chat file, a quarter in each other; each as
    `preprocess.py` writes it: the preamble, turns whose text may break lines, and an open
    human turn at the end."""
    expected: Expected = []
    files = ("quora_chat_data.json", "stackoverflow_chat_data.json", "medical_chat_data.json")
    for f, name in enumerate(files):
        rows = []
        for i in (i for i in range(n) if max(i % 4 - 1, 0) == f):
            turns = [
                (f"How do I invest {i}?", f"Open an account.\nThen buy {i}."),
                ("And then?", "Wait."),
            ]
            text = "The conversation between human and AI assistant.\n" + "".join(
                f"[|Human|] {q}\n[|AI|] {a}\n" for q, a in turns
            )
            rows.append({"topic": f"invest {i}", "input": text + "[|Human|] "})
            expected += [(q, a, None) for q, a in turns]
        _dump(folder / name, rows)
    return expected


def oig_chip2(folder: Path, n: int) -> Expected:
    rows = [
        {
            "text": f"<human>: Name a fruit {i}.\n<bot>: An apple {i}.",
            "metadata": {"source": "unified_chip2"},
        }
        for i in range(n)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "unified_chip2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [(f"Name a fruit {i}.", f"An apple {i}.", None) for i in range(n)]


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
    "vizwiz": vizwiz,
    "stvqa": stvqa,
    "vgqa": vgqa,
    "places365": places365,
    "msvd_qa": msvd_qa,
    "baize": baize,
    "oig_chip2": oig_chip2,
}
