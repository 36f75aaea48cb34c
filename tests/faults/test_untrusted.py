"""Untrusted inputs: a sweep file that asks YAML to build Python objects, data and media
paths that leave their root (by `..`, an absolute path or a symbolic link), and weights that
are pickles of more than tensors are all refused by name, and nothing they carry runs."""

from __future__ import annotations

import json
import os
import pickle

import pytest

from ablations import cli
from lynx_core.config import LLMConfig, VisionConfig
from lynx_core.data.files.formats import FormatError, load_openvqa
from lynx_core.model.llm import build_llm
from lynx_core.model.vision import build_clip
from lynx_core.train.checkpoint import generation, load_checkpoint


class RunsCode:
    """Unpickling this would create `marker`: proof that code in the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


PYTHON_TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/name:os.system",
    "!!python/module:os",
]


@pytest.mark.parametrize("tag", PYTHON_TAGS)
def test_a_sweep_asking_yaml_for_python_objects_is_refused(tmp_path, capsys, tag):
    marker = tmp_path / "ran"
    sweep = tmp_path / "evil.yaml"
    sweep.write_text(f"name: evil\nbase:\n  train.stage1.steps: {tag.format(marker=marker)}\n")
    assert cli.main(["plan", str(sweep), "--results", str(tmp_path / "results")]) == 2
    out = capsys.readouterr().out.replace("\n", "")
    assert str(sweep) in out and "line 3" in out and "could not determine a constructor" in out
    assert not marker.exists() and not (tmp_path / "results").exists()


def test_media_that_leave_their_root_through_a_link_are_refused(tmp_path):
    root, outside = tmp_path / "data", tmp_path / "private"
    root.mkdir()
    outside.mkdir()
    (outside / "photo.jpg").write_bytes(b"x")
    (root / "innocent.jpg").symlink_to(outside / "photo.jpg")
    row = {"question": "q", "answer": ["a"], "image": "innocent.jpg", "class": "OCR"}
    (root / "q.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(FormatError) as caught:
        load_openvqa(root / "q.jsonl", root)
    assert "leaves the data root" in caught.value.problems[0]


def test_a_stage_checkpoint_that_would_run_code_is_refused(tmp_path):
    import hashlib

    marker, path = tmp_path / "ran", tmp_path / "train.ckpt"
    data = pickle.dumps({"meta": RunsCode(marker)})
    file = generation(path, 5)
    file.write_bytes(data)  # with a checksum that matches: only its content is wrong
    file.with_name(file.name + ".sha256").write_text(hashlib.sha256(data).hexdigest())
    with pytest.raises(ValueError, match=f"{file} holds objects other than tensors"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_vision_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker, checkpoint = tmp_path / "ran", tmp_path / "tower.pt"
    checkpoint.write_bytes(pickle.dumps({"state_dict": RunsCode(marker)}))
    with pytest.raises(ValueError, match=f"{checkpoint} holds objects other than tensors"):
        build_clip(VisionConfig(checkpoint=checkpoint, image_size=32, patch_size=8))
    assert not marker.exists()


def test_an_llm_folder_whose_weights_would_run_code_is_refused(tmp_path):
    from transformers import LlamaConfig

    marker, folder = tmp_path / "ran", tmp_path / "llm"
    sizes = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2}
    LlamaConfig(num_hidden_layers=1, num_key_value_heads=2, vocab_size=64, **sizes).save_pretrained(
        folder
    )
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"w": RunsCode(marker)}))
    with pytest.raises(ValueError, match=f"{folder} holds objects other than tensors"):
        build_llm(LLMConfig(path=folder), None)
    assert not marker.exists()
