"""Users' own training files: LLaVA conversations and the simple format, checked before any
compute (file, line, fix), skippable missing media, and stage 2 training on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from lynx_core.checks import training_files
from lynx_core.config import TASK_NAMES, VariantConfig
from lynx_core.data.files.formats import FormatError, load_owleval
from lynx_core.data.files.training_files import TrainingIndex, load_training_file

LLAVA = [
    {
        "id": "a",
        "image": "images/red.png",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is it?"},
            {"from": "gpt", "value": "Red."},
            {"from": "human", "value": "Is it bright?"},
            {"from": "gpt", "value": "Yes, very."},
        ],
    },
    {
        "id": "b",
        "conversations": [{"from": "human", "value": "Say hi"}, {"from": "gpt", "value": "hi"}],
    },
]


def image(path, colour=(255, 0, 0), size=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), colour, dtype=np.uint8)).save(path)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_llava_conversations_become_one_example_per_turn_with_earlier_turns_as_context(tmp_path):
    image(tmp_path / "images" / "red.png")
    file = tmp_path / "llava.json"
    file.write_text(json.dumps(LLAVA))
    items, skipped = load_training_file(file, tmp_path)
    assert skipped == []
    assert [(i.kind, i.prompt, i.answer) for i in items] == [
        ("image", "What colour is it?", "Red."),  # the <image> placeholder removed
        ("image", "Is it bright?", "Yes, very."),
        ("text", "Say hi", "hi"),
    ]
    assert items[0].history == () and items[1].history == (("What colour is it?", "Red."),)
    assert items[0].media == (tmp_path / "images" / "red.png").resolve()


FOUND_THEN_MISSING = [  # rows 1 and 2 of a simple-format file; only ok.png is written
    {"image": "ok.png", "instruction": "colour?", "answer": "red"},
    {"image": "gone.png", "instruction": "colour?", "answer": "red"},
]


def test_simple_format_reports_every_bad_row_with_its_line_and_the_fix(tmp_path):
    image(tmp_path / "ok.png")
    file = write_jsonl(
        tmp_path / "simple.jsonl",
        [
            *FOUND_THEN_MISSING,
            {"image": "../../etc/passwd", "instruction": "x", "answer": "y"},
            {"instruction": "no answer"},
        ],
    )
    with pytest.raises(FormatError) as err:
        load_training_file(file, tmp_path)
    text = str(err.value)
    assert str(file) in text and "4 problem(s)" in text  # 3 rows + the hint
    assert "line 2" in text and "gone.png does not exist" in text
    assert "line 3" in text and "leaves the data root" in text
    assert "line 4" in text and "'answer'" in text
    assert "skip_missing_media: true" in text


def test_skipping_missing_media_drops_and_reports_those_rows_only(tmp_path):
    image(tmp_path / "ok.png")
    rows = [*FOUND_THEN_MISSING, {"instruction": "hello", "answer": "hi"}]
    file = write_jsonl(tmp_path / "simple.jsonl", rows)
    items, skipped = load_training_file(file, tmp_path, skip_missing_media=True)
    assert [i.kind for i in items] == ["image", "text"]
    assert len(skipped) == 1 and "line 2" in skipped[0] and "gone.png" in skipped[0]


def test_a_sweep_naming_a_broken_training_file_is_refused_at_validation(tmp_path):
    rows = [
        {"image": "gone.png", "instruction": "a", "answer": "b"},
        {"instruction": "c", "answer": "d"},
    ]
    file = write_jsonl(tmp_path / "mine.jsonl", rows)
    bad = VariantConfig.model_validate({"data": {"train_files": [{"path": str(file)}]}})
    (finding,) = training_files(bad)  # read before compute, by the sweep's checks
    assert finding.field == "data.train_files.0"
    assert "mine.jsonl" in finding.message and "line 1" in finding.message
    ok = VariantConfig.model_validate(
        {"data": {"train_files": [{"path": str(file), "skip_missing_media": True}]}}
    )
    assert training_files(ok) == []
    assert ok.data.mixture["mine"] == 1.0  # a file joins the default mixture by its stem
    with pytest.raises(ValidationError, match="clash"):
        VariantConfig.model_validate(
            {
                "data": {
                    "train_files": [
                        {"path": str(file), "task": "color", "skip_missing_media": True}
                    ]
                }
            }
        )


def test_owleval_questions_resolve_images_under_their_root(tmp_path):
    image(tmp_path / "images" / "1.jpg")
    file = write_jsonl(
        tmp_path / "questions.jsonl",
        [{"question_id": 7, "image": "images/1.jpg", "question": "Write a poem about it."}],
    )
    (question,) = load_owleval(file, tmp_path)
    assert question.id == "7" and question.image.name == "1.jpg"
    write_jsonl(file, [{"question_id": 8, "image": "images/none.jpg", "question": "?"}])
    with pytest.raises(FormatError, match="line 1"):
        load_owleval(file, tmp_path)


def test_stage2_trains_on_a_users_file(tmp_path):
    from lynx_core.data.stage_batches import stage_batches
    from lynx_core.pipeline import run_stage
    from lynx_core.stages import STAGES
    from lynx_core.train.bases import load_bases
    from tests.tiny import tiny_config

    image(tmp_path / "data" / "images" / "red.png", size=40)  # not the model's resolution
    image(tmp_path / "data" / "images" / "blue.png", (0, 0, 255), size=70)
    rows = [
        {"image": f"images/{c}.png", "instruction": "what colour is it ?", "answer": c}
        for c in ("red", "blue")
    ]
    file = write_jsonl(tmp_path / "data" / "colours.jsonl", rows)
    cfg = tiny_config(
        **{
            "train.bases.steps": 5,
            "train.instruct.steps": 0,
            "train.clip.steps": 0,
            "train.stage1.steps": 5,
            "train.stage2.steps": 10,
            "data.train_files": [{"path": str(file)}],
            "data.mixture": {"colours": 1.0},  # only the user's data
        }
    )
    folders = {stage: tmp_path / stage for stage in STAGES}
    for stage in ("bases", "stage1"):
        run_stage(stage, cfg, folders, tmp_path / "cache")
    tokenizer, _ = load_bases(cfg, folders["bases"])
    batch = stage_batches("stage2", cfg, tmp_path / "cache" / "world", tokenizer)(0)
    size = cfg.model.vision.image_size
    assert batch["pixels"].shape[1:] == (3, size, size)
    output = run_stage("stage2", cfg, folders, tmp_path / "cache")
    assert output.history[-1]["step"] == 10


@pytest.mark.parametrize(("suffix", "where"), [(".jsonl", "line 26"), (".json", "item 26")])
def test_validation_reads_a_bounded_sample_of_a_large_file(tmp_path, monkeypatch, suffix, where):
    from lynx_core.data.files import training_files

    rows = [{"instruction": f"q{i}", "answer": "a"} for i in range(30)]
    rows[25] = {"instruction": "no answer"}  # past the sample: found when the stage loads
    file = tmp_path / f"big{suffix}"
    if suffix == ".json":
        file.write_text(json.dumps(rows, indent=1))
    else:
        write_jsonl(file, rows)
    monkeypatch.setattr(training_files, "CHECKED_ROWS", 20)
    cfg = VariantConfig.model_validate({"data": {"train_files": [{"path": str(file)}]}})
    assert training_files.check_training_file(cfg.data.train_files[0]) == 20
    with pytest.raises(FormatError, match=where):
        load_training_file(file, tmp_path)
    with pytest.raises(FormatError, match=where):
        TrainingIndex(file, tmp_path, "auto", skip_missing_media=False)


def test_the_configuration_names_every_task_the_data_defines():
    from lynx_core.data.world.tasks import TASKS

    assert tuple(TASKS) == TASK_NAMES


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_training_file_is_indexed_not_loaded_and_gives_the_same_examples(tmp_path, suffix):
    """A .jsonl file's lines and a .json file's list items alike (LLaVA's instruction files
    are one list): located by byte span, read again when asked for."""
    image(tmp_path / "red.png")
    talk = LLAVA[0]["conversations"]
    rows = [
        {"image": "red.png", "instruction": "what colour is it ?", "answer": "red"},
        {"image": "red.png", "conversations": talk},  # two examples, the second with history
        {"instruction": "say hi, \u00e9t\u00e9 ]", "answer": "hi"},  # multi-byte, a bracket
        {"image": "gone.png", "instruction": "?", "answer": "-"},  # skipped: its image is gone
    ] * 50
    file = tmp_path / f"big{suffix}"
    if suffix == ".json":
        file.write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        write_jsonl(file, rows)
    items, _ = load_training_file(file, tmp_path, skip_missing_media=True)
    index = TrainingIndex(file, tmp_path, "auto", skip_missing_media=True)
    assert len(index) == len(items) == 200
    arrays = (index.offsets, index.lengths, index.turns, index.kinds)
    assert sum(a.nbytes for a in arrays) == 17 * len(index)  # located: 17 bytes an example

    def fields(item):
        return item.kind, item.media, item.prompt, item.answer, item.history

    assert [fields(index.item(i)) for i in range(len(index))] == [fields(it) for it in items]
    assert list(index.rows_of("text")) == [i for i, it in enumerate(items) if it.kind == "text"]


def test_a_training_file_is_indexed_once_per_version_in_the_cache(tmp_path, monkeypatch):
    from lynx_core.data.files import training_files

    image(tmp_path / "red.png")
    rows = [{"image": "red.png", "instruction": f"q{i}", "answer": "a"} for i in range(30)]
    file = tmp_path / "rows.json"
    file.write_text(json.dumps(rows))
    cache = tmp_path / "cache"
    built = []
    records = training_files._index_records
    monkeypatch.setattr(training_files, "_index_records", lambda *a: built.append(a) or records(*a))
    first, again = (TrainingIndex(file, tmp_path, "auto", False, cache) for _ in range(2))
    assert len(built) == 1 and isinstance(again.offsets, np.memmap)
    assert [again.item(i).prompt for i in range(30)] == [first.item(i).prompt for i in range(30)]
    assert [again.item(i).prompt for i in range(3)] == ["q0", "q1", "q2"]
    file.write_text(json.dumps(rows[:10]))  # edited in place: a new version
    assert len(TrainingIndex(file, tmp_path, "auto", False, cache)) == 10 and len(built) == 2
