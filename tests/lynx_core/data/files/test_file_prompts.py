"""The single-vs-diverse prompt axis on released datasets: both modes train the same examples
with the same length instructions at the same rate and differ only in phrasing; the length
instruction matches the answer as released; conversations and later turns stay as written."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from lynx_core.config import DataConfig, PromptConfig, VariantConfig
from lynx_core.data.files.file_prompts import LENGTH_WORDINGS, TEMPLATES, FileTemplates
from lynx_core.data.stage_data import file_pools
from lynx_core.stages import stage_inputs
from tests.lynx_core.data.files.test_training_files import LLAVA, image, write_jsonl

ANSWERS = ["red", "two cubes", "A red cube sits left of a small blue ball on the grass.", "x " * 40]


def _phrasings(mode: str, role: str, n: int = 600) -> list[tuple[str, str]]:
    phrase = FileTemplates(role, PromptConfig(mode=mode), seed=3).phrase
    return [
        (phrase(f"What is {i}?", ANSWERS[i % 4], "image", f"@{i}#0"), ANSWERS[i % 4])
        for i in range(n)
    ]


def _length_of(prompt: str) -> str | None:
    found = [k for k, ws in LENGTH_WORDINGS.items() for w in ws if prompt.endswith(w)]
    return found[0] if found else None


@pytest.mark.parametrize("role", ["vqa", "captioning"])
def test_single_and_diverse_differ_only_in_phrasing(role):
    single, diverse = _phrasings("single", role), _phrasings("diverse", role)
    # the same examples ask for the same lengths (None: no instruction), so the same answers
    assert [_length_of(p) for p, _ in single] == [_length_of(p) for p, _ in diverse]
    rate = sum(_length_of(p) is not None for p, _ in single) / len(single)
    assert 0.25 < rate < 0.35  # PromptConfig's length_instruction_rate, 0.3
    used = {
        mode: {w for p, _ in ps for ws in LENGTH_WORDINGS.values() for w in ws if p.endswith(w)}
        for mode, ps in (("single", single), ("diverse", diverse))
    }
    assert used["single"] == {ws[0] for ws in LENGTH_WORDINGS.values()}  # one per length
    assert len(used["diverse"]) > 10
    stems = {
        mode: {p.replace(f"What is {i}?", "Q").split(" Give")[0] for i, (p, _) in enumerate(ps)}
        for mode, ps in (("single", single), ("diverse", diverse))
    }
    assert len({s for s in stems["single"] if _length_of(s) is None}) == 1  # one template
    assert len({s for s in stems["diverse"] if _length_of(s) is None}) >= 10


def test_a_length_instruction_matches_the_answer_as_released():
    expected = {ANSWERS[0]: "short", ANSWERS[1]: "short", ANSWERS[2]: "sentence"}
    expected[ANSWERS[3]] = "detailed"
    for prompt, answer in _phrasings("diverse", "vqa"):
        assert _length_of(prompt) in (None, expected[answer])


def test_vqa_wraps_the_question_and_captioning_replaces_the_instruction():
    vqa = FileTemplates("vqa", PromptConfig(mode="single", length_instruction_rate=0), 0)
    assert vqa.phrase("Is it red?", "yes", "image", "@0#0") == "Is it red?"
    caption = FileTemplates("captioning", PromptConfig(length_instruction_rate=0), 0)
    phrased = {caption.phrase("Describe the image briefly.", "A cube.", "video", f"@{i}#0")
               for i in range(200)}  # fmt: skip
    assert phrased == {t.format(media="video") for t in TEMPLATES["captioning"]}


def test_a_file_with_templates_is_phrased_when_drawn_and_only_its_first_turns(tmp_path):
    image(tmp_path / "images" / "red.png")
    simple = write_jsonl(
        tmp_path / "vqa.jsonl",
        [{"image": "images/red.png", "instruction": f"What is {i}?", "answer": "red"}
         for i in range(40)],
    )  # fmt: skip
    llava = tmp_path / "chat.json"
    llava.write_text(json.dumps(LLAVA))
    files = [
        {"path": str(simple), "role": "vqa", "templates": True},
        {"path": str(llava), "role": "vqa", "templates": True, "task": "chat"},
        {"path": str(simple), "role": "vqa", "task": "as_written"},
    ]
    prompts = {"length_instruction_rate": 1.0}
    pools = file_pools(DataConfig(train_files=files, prompts=prompts), seed="0.1")
    wrapped = [e.prompt for e in pools["vqa/image"][1]]
    assert all(p.split(" ")[-1].endswith(".") for p in wrapped)  # an instruction ends each
    assert sum(p.startswith("What is") for p in wrapped) < len(wrapped)  # some wrapped
    assert [e.prompt for e in pools["as_written/image"][1]] == [f"What is {i}?" for i in range(40)]
    chat = pools["chat/image"][1]
    assert chat[1].prompt == "Is it bright?"  # a later turn is trained as written
    assert chat[0].prompt != "What colour is it?"
    again = file_pools(DataConfig(train_files=files, prompts=prompts), seed="0.1")
    assert [e.prompt for e in again["vqa/image"][1]] == wrapped  # drawn alike every time
    other = file_pools(DataConfig(train_files=files, prompts=prompts), seed="0.2")
    assert [e.prompt for e in other["vqa/image"][1]] != wrapped  # each seed its own draw


def test_templates_need_a_role_they_phrase_and_leave_old_stage_keys_alone(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"instruction": "hi", "answer": "hello"}])
    with pytest.raises(ValidationError, match="templates: true needs role vqa or captioning"):
        DataConfig(train_files=[{"path": str(path), "role": "conversation", "templates": True}])
    plain = VariantConfig(data={"train_files": [{"path": str(path), "role": "vqa"}]})
    [entry] = stage_inputs(plain, "stage2")["data.train_files"]
    assert "templates" not in entry  # the key a file had before the field existed
    phrased = VariantConfig(
        data={"train_files": [{"path": str(path), "role": "vqa", "templates": True}]}
    )
    assert stage_inputs(phrased, "stage2") != stage_inputs(plain, "stage2")
