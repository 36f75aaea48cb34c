"""Readers of released VQA datasets, each written from its format's public description:
VQAv2 and OK-VQA (questions and annotations in two files, joined by question id), A-OKVQA,
GQA (questions by id), TextVQA, OCR-VQA (questions and answers by book), VizWiz, ST-VQA,
Visual Genome QA (questions by image, image folders by URL). Each yields the
question as released and one answer: the one most annotators gave (VQAv2's
`multiple_choice_answer` where the release states it)."""

from __future__ import annotations

import os
import re
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
            asked = release.records(
                questions, "question_id", "image_id", "question", member="questions"
            )
            for _, source, row in asked:
                answer = answers.get(row["question_id"])
                if answer is None:
                    yield Skip("no annotation for the question", source)
                    continue
                if not str(row["image_id"]).isdigit():
                    release.row_problem(source, "image_id is not a number")
                    continue
                picture = image(int(row["image_id"]))
                yield Example(str(row["question"]), str(answer), source, picture)

    return read


def _answers(release: Release, annotations: str) -> Iterator[tuple[object, str]]:
    for _, _, row in release.records(annotations, "question_id", "answers", member="annotations"):
        answer = row.get("multiple_choice_answer") or consensus(row["answers"])
        if isinstance(answer, str) and answer.strip():
            yield row["question_id"], answer.strip()


def _answered(question: object, answers: object, source: str, image: str) -> Example | Skip:
    """The question with the answer most annotators gave, or a skip when none did."""
    answer = consensus(answers)
    return (
        Skip("no answer", source)
        if answer is None
        else Example(str(question), answer, source, image)
    )


def read_aokvqa(release: Release) -> Iterator[Example | Skip]:
    """`aokvqa_v1p0_train.json`: a list of `{"question_id", "image_id", "question",
    "direct_answers": [10 answers], "choices", "correct_choice_idx", "rationales"}`."""
    rows = release.records("aokvqa_v1p0_train.json", "image_id", "question", "direct_answers")
    for _, source, row in rows:
        image = f"{int(row['image_id']):012d}.jpg"
        yield _answered(row["question"], row["direct_answers"], source, image)


def read_gqa(release: Release) -> Iterator[Example | Skip]:
    """`train_balanced_questions.json`: one object, question id → `{"imageId", "question",
    "answer", "fullAnswer", ...}`; images `images/<imageId>.jpg`."""
    rows = release.records(
        "train_balanced_questions.json", "imageId", "question", "answer", member=None
    )
    for _, source, row in rows:
        yield Example(str(row["question"]), str(row["answer"]), source, f"{row['imageId']}.jpg")


def read_textvqa(release: Release) -> Iterator[Example | Skip]:
    """`TextVQA_0.5.1_train.json`: `{"data": [{"question", "image_id", "answers": [10
    answers], "question_id", ...}], ...}`; images `train_images/<image_id>.jpg`."""
    rows = release.records(
        "TextVQA_0.5.1_train.json", "question", "image_id", "answers", member="data"
    )
    for _, source, row in rows:
        yield _answered(row["question"], row["answers"], source, f"{row['image_id']}.jpg")


def read_ocrvqa(release: Release) -> Iterator[Example | Skip]:
    """`dataset.json`: one object, book id → `{"imageURL", "questions": [...], "answers":
    [...], "split": 1 | 2 | 3, ...}` (1: train); images as its download script saves them,
    `images/<id><extension of imageURL>`."""
    name = "dataset.json"
    required = ("imageURL", "questions", "answers", "split")
    for book, source, row in release.records(name, *required, member=None):
        if row["split"] != 1:
            yield Skip("not the train split", source)
            continue
        questions, answers = row["questions"], row["answers"]
        if (
            not isinstance(questions, list)
            or not isinstance(answers, list)
            or len(questions) != len(answers)
        ):
            release.row_problem(source, "'questions' and 'answers' must be lists of one length")
            continue
        extension = os.path.splitext(str(row["imageURL"]))[1] or ".jpg"
        for question, answer in zip(questions, answers, strict=True):
            yield Example(str(question), str(answer), source, f"{book}{extension}")


def read_vizwiz(release: Release) -> Iterator[Example | Skip]:
    """VizWiz-VQA's `train.json` (from its annotations zip): a list of `{"image":
    "VizWiz_train_00000000.jpg", "question", "answers": [10 × {"answer",
    "answer_confidence"}], "answer_type", "answerable"}`; images `train/<image>`. The answer
    most annotators gave, "unanswerable" included: the release's own answer where the photo
    cannot answer the question."""
    for _, source, row in release.records("train.json", "image", "question", "answers"):
        yield _answered(row["question"], row["answers"], source, str(row["image"]))


def read_stvqa(release: Release) -> Iterator[Example | Skip]:
    """ST-VQA's `train_task_3.json`: `{"data": [{"file_path":
    "coco-text/COCO_train2014_000000214792.jpg", "question", "answers": [...],
    "question_id", "dataset", "file_name", ...}], ...}`; images `train_images/<file_path>`
    (where a row lacks `file_path`, `<dataset>/<file_name>`, as loaders build it)."""
    name = "train_task_3.json"
    for _, source, row in release.records(name, "question", "answers", member="data"):
        image = row.get("file_path")
        if not image and row.get("dataset") and row.get("file_name"):
            image = f"{row['dataset']}/{row['file_name']}"
        if not image:
            why = "no file_path (the format requires file_path, or dataset and file_name)"
            release.row_problem(source, why)
            continue
        yield _answered(row["question"], row["answers"], source, str(image))


VG_QUESTIONS, VG_IMAGES = "question_answers.json", "image_data.json"
_VG_FOLDER = re.compile(r"/(VG_100K(?:_2)?)/([^/]+)$")


def read_vgqa(release: Release) -> Iterator[Example | Skip]:
    """Visual Genome's `question_answers.json`: a list, one entry per image, `{"id", "qas":
    [{"qa_id", "image_id", "question", "answer", ...}]}`; its `image_data.json`: a list of
    `{"image_id", "url", ...}`, the URL naming the image's folder (`VG_100K/` or
    `VG_100K_2/`, the two images zips, unpacked side by side in `images/`). Answers are
    released as sentences ("Green."): the closing full stop is taken off, as VQA answers go."""
    with Scratch() as folders:
        folders.put_all(_vg_folders(release))
        for _, source, entry in release.records(VG_QUESTIONS, "qas"):
            qas = entry["qas"]
            where = source.removeprefix(f"{VG_QUESTIONS}:")
            if not isinstance(qas, list):
                release.row_problem(source, "'qas' must be a list")
                continue
            for k, qa in enumerate(qas):
                required = ("image_id", "question", "answer")
                checked = release.fields(VG_QUESTIONS, f"{where}: qas[{k}]", qa, *required)
                if checked is None:
                    continue
                image = folders.get(checked["image_id"])
                answer = str(checked["answer"]).strip().removesuffix(".").strip()
                if image is None:
                    yield Skip("the image is not in image_data.json", source)
                elif not answer:
                    yield Skip("no answer", source)
                else:
                    yield Example(str(checked["question"]).strip(), answer, source, str(image))


def _vg_folders(release: Release) -> Iterator[tuple[object, str]]:
    for _, source, row in release.records(VG_IMAGES, "image_id", "url"):
        found = _VG_FOLDER.search(str(row["url"]))
        if found is None:
            release.row_problem(source, "the url names no VG_100K or VG_100K_2 image")
            continue
        yield row["image_id"], f"{found.group(1)}/{found.group(2)}"
