"""Converting released datasets into training files: every family of the registry on a tiny
release written from its public format, read back by the training reader itself; malformed
releases refused with file and line, nothing written; memory independent of the release."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ablations.cli import main
from lynx_core.data.convert.prepare import ConvertError, manifest_path, prepare
from lynx_core.data.convert.sources import CONVERTERS
from lynx_core.data.files.training_files import load_training_file
from tests.lynx_core.data.convert.releases import RELEASES

REPO = Path(__file__).resolve().parents[4]
VIDEO = ("msrvtt_qa", "msvd_qa", "sthv2")


def test_every_converter_has_a_release_written_from_its_format():
    assert set(RELEASES) == set(CONVERTERS)


@pytest.mark.parametrize("name", sorted(CONVERTERS))
def test_a_release_becomes_the_training_file_the_stage_reads(tmp_path, name):
    converter = CONVERTERS[name]
    release = tmp_path / "release"
    expected = RELEASES[name](release, 12)
    out = tmp_path / "data" / name / "train.jsonl"
    manifest = prepare(converter, release, out)

    items, skipped = load_training_file(out, release / converter.media)  # media must resolve
    assert not skipped
    media = [
        None
        if i.media is None
        else i.media.relative_to((release / converter.media).resolve()).as_posix()
        for i in items
    ]
    assert [(i.prompt, i.answer, m) for i, m in zip(items, media, strict=True)] == expected
    kinds = {i.kind for i in items}
    video, text = name in VIDEO, converter.role == "text_instruction"
    assert kinds == ({"video"} if video else {"text"} if text else {"image"})
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(row["source"].startswith(tuple(converter.files)) for row in rows)
    assert manifest == json.loads(manifest_path(out).read_text())
    assert manifest["source"] == name and manifest["role"] == converter.role
    assert manifest["examples"] == len(rows)


def test_rows_that_cannot_train_are_skipped_counted_and_named(tmp_path):
    release = tmp_path / "release"
    expected = RELEASES["vqav2"](release, 6)
    questions = release / "v2_OpenEnded_mscoco_train2014_questions.json"
    data = json.loads(questions.read_text())
    data["questions"].append({"image_id": 9, "question": "unanswered?", "question_id": 1})
    questions.write_text(json.dumps(data, indent=1))
    manifest = prepare(CONVERTERS["vqav2"], release, tmp_path / "train.jsonl")
    assert manifest["examples"] == len(expected)
    assert manifest["skipped"] == {"no annotation for the question": 1}
    [where] = manifest["skipped_examples"]["no annotation for the question"]
    assert where.startswith(questions.name + ":line ")


def test_the_test_split_of_a_release_is_never_converted(tmp_path):
    release = tmp_path / "release"
    RELEASES["ocrvqa"](release, 4)
    manifest = prepare(CONVERTERS["ocrvqa"], release, tmp_path / "train.jsonl")
    assert manifest["skipped"] == {"not the train split": 1}
    assert "999" not in (tmp_path / "train.jsonl").read_text()


def _break(release: Path, name: str) -> tuple[Path, int]:
    """Remove a required field from the release's third row (of a text file: cut the third
    line's class index off); (file, its line)."""
    file = release / CONVERTERS[name].files[0]
    text = file.read_text()
    if file.suffix == ".txt":
        lines = text.splitlines(keepends=True)
        lines[2] = lines[2].rsplit(" ", 1)[0] + "\n"
        file.write_text("".join(lines))
        return file, 3
    required = {
        "coco_captions": '"caption"',
        "textcaps": '"caption_str"',
        "vqav2": '"question"',
        "okvqa": '"question"',
        "aokvqa": '"question"',
        "gqa": '"question"',
        "textvqa": '"question"',
        "ocrvqa": '"questions"',
        "llava": '"conversations"',
        "msrvtt_qa": '"question"',
        "sthv2": '"label"',
        "alpaca": '"instruction"',
        "vizwiz": '"question"',
        "stvqa": '"question"',
        "vgqa": '"qas"',
        "msvd_qa": '"question"',
        "baize": '"input"',
        "oig_chip2": '"text"',
    }[name.split("_")[0] if name.startswith(("llava", "alpaca")) else name]
    start = 0
    for _ in range(3):
        start = text.index(required + ":", start) + 1
    line = text.count("\n", 0, start) + 1
    file.write_text(text[: start - 1] + '"renamed' + text[start:])
    return file, line


@pytest.mark.parametrize("name", sorted(CONVERTERS))
def test_a_malformed_release_is_refused_with_file_and_line_and_nothing_written(tmp_path, name):
    release = tmp_path / "release"
    RELEASES[name](release, 6)
    file, line = _break(release, name)
    out = tmp_path / "train.jsonl"
    with pytest.raises(ConvertError) as err:
        prepare(CONVERTERS[name], release, out)
    [problem] = err.value.problems
    assert problem.startswith(f"{file}: line ")
    row_line = int(problem.split(": line ")[1].split(":")[0])
    assert row_line <= line < row_line + 40  # the row that lacks it, by its first line
    assert "the format requires" in problem
    assert not out.exists() and not manifest_path(out).exists()


def test_a_file_that_is_not_the_formats_json_is_refused(tmp_path):
    release = tmp_path / "release"
    RELEASES["gqa"](release, 3)
    (release / "train_balanced_questions.json").write_text('{"1": {"question": "x"')
    with pytest.raises(ConvertError, match=r"train_balanced_questions.json: line 1"):
        prepare(CONVERTERS["gqa"], release, tmp_path / "train.jsonl")


MEASURE = """
import functools, sys, tracemalloc
from pathlib import Path
import lynx_core.data.convert.prepare as prepare
from lynx_core.data.convert.sources import CONVERTERS
from lynx_core.data.files import json_array
for reader in ("array_items", "object_members"):  # 64 KB a read: both releases many reads long
    chunked = functools.partial(getattr(json_array, reader), chunk=1 << 16)
    setattr(prepare, reader, chunked)
name, release, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
prepare.prepare(CONVERTERS[name], release, out)  # once: what a first run allocates for good
tracemalloc.start()
prepare.prepare(CONVERTERS[name], release, out)
print(tracemalloc.get_traced_memory()[1])
"""


FAST = ("vqav2",)  # a join of two files, in make test (the rest: make test-slow, for time)


@pytest.mark.parametrize(
    "name",
    [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in sorted(CONVERTERS)],
)
def test_memory_does_not_grow_with_the_release(tmp_path, name):
    """Measured in a process of its own: nothing else of the test session allocates then."""

    def peak(rows: int) -> int:
        release = tmp_path / f"release{rows}"
        RELEASES[name](release, rows)
        out = tmp_path / f"train{rows}.jsonl"
        args = [sys.executable, "-c", MEASURE, name, str(release), str(out)]
        done = subprocess.run(args, capture_output=True, text=True, check=True, cwd=REPO)
        return int(done.stdout.split()[-1])

    small, large = peak(2_000), peak(20_000)  # the large release is 10x the small one's bytes
    assert large < 1.5 * small, (small, large)


def test_the_command_converts_and_refuses_a_missing_release(tmp_path, capsys):
    release = tmp_path / "gqa"
    RELEASES["gqa"](release, 5)
    assert main(["data", "prepare", "gqa", "--from", str(release)]) == 0
    assert "5 examples" in capsys.readouterr().out
    assert (release / "train.jsonl").is_file()
    assert main(["data", "prepare", "vqav2", "--from", str(tmp_path / "nothing")]) == 2
    out = capsys.readouterr().out
    assert "v2_OpenEnded_mscoco_train2014_questions.json: not there" in out.replace("\n", "")


def test_no_row_shows_media_the_evaluation_asks_about(tmp_path):
    """Open-VQA asks about OCR-VQA covers (and MME holds its own images): a converter given
    the benchmarks leaves out every row about one of their images, by file name."""
    release = tmp_path / "release"
    expected = RELEASES["ocrvqa"](release, 8)
    asked = expected[0][2]  # the first book's cover
    open_vqa = tmp_path / "Open_VQA_images.jsonl"
    row = {"dataset": "Open_VQA_images", "question": "Who wrote it?", "answer": ["someone"],
           "index": 1, "image": f"images/ocrvqa/images/{asked}", "class": "OCR"}  # fmt: skip
    open_vqa.write_text(json.dumps(row) + "\n")
    mme = tmp_path / "MME" / "OCR" / "images"
    mme.mkdir(parents=True)
    (mme / expected[-1][2]).write_bytes(b"")  # the last book's cover, as an MME image
    out = tmp_path / "train.jsonl"
    manifest = prepare(CONVERTERS["ocrvqa"], release, out, [open_vqa, tmp_path / "MME"])

    left_out = [e for e in expected if e[2] in (asked, expected[-1][2])]
    assert manifest["skipped"]["media of an evaluation item"] == len(left_out)
    assert manifest["held_out_by"] == [str(open_vqa), str(tmp_path / "MME")]
    items, _ = load_training_file(out, release / "images")
    assert {i.media.name for i in items}.isdisjoint({asked, expected[-1][2]})
    assert len(items) == len(expected) - len(left_out)


def test_a_chat_whose_turns_do_not_alternate_is_skipped_and_counted(tmp_path):
    release = tmp_path / "release"
    expected = RELEASES["baize"](release, 8)
    quora = release / "quora_chat_data.json"
    rows = json.loads(quora.read_text())
    chat = "The conversation between human and AI assistant.\n[|Human|] Hi\n[|Human|] Hello?\n"
    rows.append({"topic": "hi", "input": chat + "[|AI|] Hi.\n[|Human|] "})
    quora.write_text(json.dumps(rows, indent=1))
    out = tmp_path / "train.jsonl"
    manifest = prepare(CONVERTERS["baize"], release, out)
    assert manifest["skipped"] == {"turns are not answered Human/AI pairs": 1}
    items, _ = load_training_file(out, release)
    assert [(i.prompt, i.answer) for i in items] == [(q, a) for q, a, _ in expected]
    assert items[1].history == ((items[0].prompt, items[0].answer),)  # a chat's second turn


def test_a_json_lines_release_refuses_a_line_that_is_not_json(tmp_path):
    release = tmp_path / "release"
    RELEASES["oig_chip2"](release, 5)
    chip2 = release / "unified_chip2.jsonl"
    lines = chip2.read_text().splitlines(keepends=True)
    lines[3] = lines[3][:20] + "\n"
    chip2.write_text("".join(lines))
    with pytest.raises(ConvertError) as err:
        prepare(CONVERTERS["oig_chip2"], release, tmp_path / "train.jsonl")
    [problem] = err.value.problems
    assert problem.startswith(f"{chip2}: line 4: not JSON")
    assert not (tmp_path / "train.jsonl").exists()


def test_a_text_list_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    release = tmp_path / "release"
    RELEASES["msvd_qa"](release, 5)
    mapping = release / "youtube_mapping.txt"
    mapping.write_bytes(mapping.read_bytes() + b"clip\xff vid9\n")
    with pytest.raises(ConvertError, match=r"youtube_mapping.txt: line 6: not UTF-8 text"):
        prepare(CONVERTERS["msvd_qa"], release, tmp_path / "train.jsonl")


@pytest.mark.parametrize(
    ("name", "file", "line"),
    [
        ("msvd_qa", "youtube_mapping.txt", "-4wsuPC9_5_15\n"),  # no vid<N>
        ("places365", "places365_train_standard.txt", "/a/airfield/00000009.jpg\n"),  # no class
    ],
)
def test_a_text_lists_malformed_line_is_refused_with_its_number(tmp_path, name, file, line):
    """The second file of the release (the first is `_break`'s), its line 3 broken."""
    release = tmp_path / "release"
    RELEASES[name](release, 5)
    listed = (release / file).read_text().splitlines(keepends=True)
    listed[2] = line
    (release / file).write_text("".join(listed))
    out = tmp_path / "train.jsonl"
    with pytest.raises(ConvertError) as err:
        prepare(CONVERTERS[name], release, out)
    [problem] = err.value.problems
    assert problem.startswith(f"{release / file}: line 3: ") and "the format requires" in problem
    assert not out.exists()
