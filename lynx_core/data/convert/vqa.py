"""Readers of released VQA datasets, each written from its format's public description:
VQAv2 and OK-VQA (questions and annotations in two files, joined by question id), A-OKVQA,
GQA (questions by id), TextVQA, OCR-VQA (questions and answers by book). Each yields the
question as released and one answer: the one most annotators gave (VQAv2's
`multiple_choice_answer` where the release states it)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator

from lynx_core.data.convert.prepare import Example, Release, Scratch, Skip


def consensus(answers: object) -> str | None:
    """The answer most annotators gave (the first of them on a tie), from a list of answer
    strings or of `{"answer": ...}` records; None if there is none."""
    if not isinstance(answers, list):
        return None
    texts = [a.get("answer") if isinstance(a, dict) else a for a in answers]
    texts = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    return Counter(texts).most_common(1)[0][0] if texts else None


def vqa_pair(questions: str, annotations: str, image: Callable[[int], str]):
    """A reader of the VQAv2 layout: `{"questions": [{"image_id", "question", "question_id"}]}`
    and `{"annotations": [{"question_id", "multiple_choice_answer"?, "answers": [...]}]}`,
    images named from their id (`image`)."""

    def read(release: Release) -> Iterator[Example | Skip]:
        with Scratch() as answers:
            answers.put_all(_answers(release, annotations))
            for key, where, row in release.members(questions):
                if key != "questions":
                    continue
                row = release.fields(questions, where, row, "question_id", "image_id", "question")
                if row is None:
                    continue
                source = f"{questions}:{where}"
                answer = answers.get(row["question_id"])
                if answer is None:
                    yield Skip("no annotation for the question", source)
                    continue
                yield Example(
                    str(row["question"]), str(answer), source, image(int(row["image_id"]))
                )

    return read


def _answers(release: Release, annotations: str) -> Iterator[tuple[object, str]]:
    for key, where, row in release.members(annotations):
        if key != "annotations":
            continue
        row = release.fields(annotations, where, row, "question_id", "answers")
        if row is None:
            continue
        answer = row.get("multiple_choice_answer") or consensus(row["answers"])
        if isinstance(answer, str) and answer.strip():
            yield row["question_id"], answer.strip()


def read_aokvqa(release: Release) -> Iterator[Example | Skip]:
    """`aokvqa_v1p0_train.json`: a list of `{"question_id", "image_id", "question",
    "direct_answers": [10 answers], "choices", "correct_choice_idx", "rationales"}`."""
    name = "aokvqa_v1p0_train.json"
    for where, row in release.rows(name):
        row = release.fields(name, where, row, "image_id", "question", "direct_answers")
        if row is None:
            continue
        answer = consensus(row["direct_answers"])
        source = f"{name}:{where}"
        if answer is None:
            yield Skip("no answer", source)
            continue
        yield Example(str(row["question"]), answer, source, f"{int(row['image_id']):012d}.jpg")


def read_gqa(release: Release) -> Iterator[Example | Skip]:
    """`train_balanced_questions.json`: one object, question id → `{"imageId", "question",
    "answer", "fullAnswer", ...}`; images `images/<imageId>.jpg`."""
    name = "train_balanced_questions.json"
    for _, where, row in release.members(name):
        row = release.fields(name, where, row, "imageId", "question", "answer")
        if row is not None:
            image = f"{row['imageId']}.jpg"
            yield Example(str(row["question"]), str(row["answer"]), f"{name}:{where}", image)


def read_textvqa(release: Release) -> Iterator[Example | Skip]:
    """`TextVQA_0.5.1_train.json`: `{"data": [{"question", "image_id", "answers": [10
    answers], "question_id", ...}], ...}`; images `train_images/<image_id>.jpg`."""
    name = "TextVQA_0.5.1_train.json"
    for key, where, row in release.members(name):
        if key != "data":
            continue
        row = release.fields(name, where, row, "question", "image_id", "answers")
        if row is None:
            continue
        answer, source = consensus(row["answers"]), f"{name}:{where}"
        if answer is None:
            yield Skip("no answer", source)
            continue
        yield Example(str(row["question"]), answer, source, f"{row['image_id']}.jpg")


def read_ocrvqa(release: Release) -> Iterator[Example | Skip]:
    """`dataset.json`: one object, book id → `{"imageURL", "questions": [...], "answers":
    [...], "split": 1 | 2 | 3, ...}` (1: train); images as its download script saves them,
    `images/<id><extension of imageURL>`."""
    name = "dataset.json"
    for book, where, row in release.members(name):
        row = release.fields(name, where, row, "imageURL", "questions", "answers", "split")
        if row is None:
            continue
        source = f"{name}:{where}"
        if row["split"] != 1:
            yield Skip("not the train split", source)
            continue
        questions, answers = row["questions"], row["answers"]
        if (
            not isinstance(questions, list)
            or not isinstance(answers, list)
            or len(questions) != len(answers)
        ):
            release.problem(
                release.files[name], where, "'questions' and 'answers' must be lists of one length"
            )
            continue
        extension = os.path.splitext(str(row["imageURL"]))[1] or ".jpg"
        for question, answer in zip(questions, answers, strict=True):
            yield Example(str(question), str(answer), source, f"{book}{extension}")
