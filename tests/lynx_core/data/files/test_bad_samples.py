"""Web-scale data faults: a corrupt image, an empty caption, an odd tar member name is skipped
and counted (per source and reason, the first few named), the same at validation and in
training wherever it lies; a source past `train.max_bad_share` stops with the names; the
sample log holds only batches that were trained."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lynx_core.config import CaptionFileConfig
from lynx_core.data.files.bad_samples import BadSamples, TooManyBadSamples, plain_relative
from lynx_core.data.files.caption_checks import check_caption_file
from lynx_core.data.stage_batches import stage_batches
from lynx_core.pipeline import run_stage
from lynx_core.train.bases import load_bases
from lynx_core.train.sample_log import SampleLog, log_path, read_log
from tests.tiny import tiny_config, trained_bases

ROWS, BATCH = 400, 16  # an epoch is 25 batches; every fault lies past the validated 64 but one
CORRUPT, EMPTY, ODD = {10, 100, 200, 300, 350}, {150, 250}, 120
BASES = {"train.bases.steps": 2, "train.instruct.steps": 0, "train.clip.steps": 2}


def jpeg(i: int) -> bytes:
    pixels = np.full((20, 24, 3), (i * 37 % 256, i * 91 % 256, 90), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def shard(path: Path, rows: range, corrupt=CORRUPT, empty=EMPTY, odd=ODD) -> None:
    """A webdataset shard of JPEGs and captions; `corrupt` rows' JPEGs cut in half (PIL:
    'image file is truncated'), `empty` rows' captions empty, row `odd` named `../evil<i>`."""
    with tarfile.open(path, "w") as tar:
        for i in rows:
            key = f"../evil{i}" if i == odd else f"{i:06d}"
            image = jpeg(i)[: len(jpeg(i)) // 2] if i in corrupt else jpeg(i)
            caption = b"" if i in empty else b"a red square"
            for name, data in ((f"{key}.jpg", image), (f"{key}.txt", caption)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """The tiny bases, trained once: the caption files are stage 1's, not theirs."""
    return trained_bases(tmp_path_factory.mktemp("bases"), **BASES)


def config(source: dict, **changes):
    dotted = {
        **BASES,
        "data.captions.files": [source],
        "data.captions.world_ratio": 0,
        "train.stage1.batch_size": BATCH,
        "train.stage1.steps": ROWS // BATCH,
    }
    return tiny_config(**{**dotted, **changes})


def epoch(cfg, folders, cache, bad: BadSamples, log: SampleLog | None = None) -> None:
    tokenizer = load_bases(cfg, folders["bases"])[0]
    batches = stage_batches("stage1", cfg, cache / "world", tokenizer, samples=log, bad=bad)
    for number in range(ROWS // BATCH):
        batches(number)


def test_plain_relative_names():
    assert plain_relative("00000/abc") and plain_relative("a.b/c")
    assert not any(map(plain_relative, ["../evil", "a/../../b", "/etc/x", "c:\\x", "a\\b", ""]))


@pytest.mark.parametrize("workers", [0, 2])
def test_faults_past_the_validated_prefix_are_skipped_and_counted_and_training_goes_on(
    bases, tmp_path, workers
):
    shard(tmp_path / "web-000.tar", range(ROWS))
    source = {"format": "webdataset", "path": str(tmp_path / "web-000.tar"), "name": "web"}
    assert check_caption_file(CaptionFileConfig(**source), max_share=0.05) == []  # 1 in 64

    folders, cache = bases
    cfg = config(source, **{"train.data_workers": workers, "train.sample_log": True})
    output = run_stage("stage1", cfg, {**folders, "stage1": tmp_path / "stage1"}, cache)
    metrics = output.metrics
    assert metrics["stage1/skipped/web/undecodable_image"] == len(CORRUPT)
    assert metrics["stage1/skipped/web/empty_caption"] == len(EMPTY)
    assert metrics["stage1/skipped/web/member_name_not_a_plain_relative_path"] == 1
    assert metrics["stage1/skipped_share/web"] == pytest.approx(8 / (ROWS + 3))
    named = output.tags["lynx_stage1_skipped"]
    assert "web-000.tar member 000100" in named and "member ../evil120" in named
    assert np.isfinite(output.history[-1]["loss"])

    logged = [k for _, keys in read_log(log_path(tmp_path / "stage1", 0)) for k in keys]
    bad_keys = {f"web:web-000/{i:06d}" for i in CORRUPT | EMPTY} | {"web:web-000/../evil120"}
    assert not bad_keys & set(logged)  # never trained on: masked, or passed over
    assert len(logged) == ROWS - len(CORRUPT)  # passed-over rows gave way to the next ones


def llava(folder: Path) -> dict:
    rows = []
    (folder / "images").mkdir(parents=True)
    for i in range(ROWS):
        (folder / "images" / f"{i}.jpg").write_bytes(jpeg(i)[:40] if i in CORRUPT else jpeg(i))
        caption = "" if i in EMPTY else "a red square"
        rows.append({"id": str(i), "image": f"{i}.jpg", "conversations": [
            {"from": "human", "value": "<image>"}, {"from": "gpt", "value": caption}]})  # fmt: skip
    (folder / "images" / f"{ODD}.jpg").unlink()  # a missing image too
    (folder / "pairs.json").write_text(json.dumps(rows, indent=1))
    path = str(folder / "pairs.json")
    return {
        "format": "llava_pretrain",
        "path": path,
        "media_root": str(folder / "images"),
        "name": "llava",
    }


def parquet(folder: Path) -> dict:
    import datasets

    images = [
        {"bytes": jpeg(i)[:40] if i in CORRUPT else jpeg(i), "path": None} for i in range(ROWS)
    ]
    texts = ["" if i in EMPTY else "a red square" for i in range(ROWS)]
    features = datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")})
    table = datasets.Dataset.from_dict({"image": images, "text": texts}, features=features)
    (folder / "data").mkdir(parents=True)
    table.to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return {"format": "hf", "path": str(folder), "name": "parquet"}


@pytest.mark.parametrize("make", [llava, parquet])
def test_llava_json_and_parquet_follow_the_same_policy(bases, tmp_path, make):
    source = make(tmp_path / "data")
    assert check_caption_file(CaptionFileConfig(**source), max_share=0.05) == []
    folders, cache = bases
    bad = BadSamples(0.05)
    epoch(config(source), folders, cache, bad)
    name = source["name"]
    image_reasons = {"undecodable image": len(CORRUPT)}
    if make is llava:
        image_reasons = {"undecodable image": len(CORRUPT), "missing image": 1}
    assert dict(bad.counts) == {
        **{(name, reason): n for reason, n in image_reasons.items()},
        (name, "empty caption"): len(EMPTY),
    }
    named = bad.named[name, "empty caption"]  # in the order the epoch drew them
    if make is llava:
        assert all("pairs.json: line " in where for where in named)
    else:
        assert sorted(named) == [f"{source['path']} row {i}" for i in sorted(EMPTY)]


def test_a_source_past_the_threshold_is_refused_with_its_reasons_and_examples(bases, tmp_path):
    broken = set(range(0, ROWS, 5))  # 20% of the images are corrupt, from the first on
    shard(tmp_path / "web-000.tar", range(ROWS), corrupt=broken, empty=set(), odd=-1)
    source = {"format": "webdataset", "path": str(tmp_path / "web-000.tar"), "name": "web"}
    (problem,) = check_caption_file(CaptionFileConfig(**source), max_share=0.05)
    assert "web: 20.3% of the 64 samples read are bad" in problem
    assert "13 undecodable image (e.g. " in problem and "member 000000" in problem
    assert "train.max_bad_share" in problem

    folders, cache = bases
    with pytest.raises(TooManyBadSamples, match=r"web: .* undecodable image \(e\.g\. .*member"):
        run_stage("stage1", config(source), {**folders, "stage1": tmp_path / "s1"}, cache)


def test_a_batch_is_logged_only_once_it_was_trained(bases, tmp_path, monkeypatch):
    """A batch whose images fail to decode (a crash, not a bad sample) leaves no line."""
    shard(tmp_path / "web-000.tar", range(ROWS), corrupt=set(), empty=set(), odd=-1)
    source = {"format": "webdataset", "path": str(tmp_path / "web-000.tar"), "name": "web"}
    made = {"count": 0}
    from lynx_core.data import stage_batches as module

    real = module._caption_file_media

    def crashing(*args, **kwargs):
        made["count"] += 1
        if made["count"] == 4:
            raise RuntimeError("the disk went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "_caption_file_media", crashing)
    folders, cache = bases
    cfg = config(source, **{"train.sample_log": True})
    with pytest.raises(RuntimeError, match="disk went away"):
        run_stage("stage1", cfg, {**folders, "stage1": tmp_path / "stage1"}, cache)
    assert [n for n, _ in read_log(log_path(tmp_path / "stage1", 0))] == [0, 1, 2]


@pytest.mark.slow
def test_two_ranks_skip_mask_and_count_as_one_process_does(bases, tmp_path):
    """Each rank decodes its own rows: a rank that masks an undecodable image takes its
    answer tokens off the global count (`loss_weight`), so two ranks train the weights one
    process trains; the counts, merged over the ranks, are one process's."""
    from safetensors.torch import load_file

    from lynx_core.pipeline import WEIGHTS
    from tests.ranks import run_ranks

    shard(tmp_path / "web-000.tar", range(ROWS), corrupt=set(range(3, ROWS, 10)))  # 10%
    source = {"format": "webdataset", "path": str(tmp_path / "web-000.tar"), "name": "web"}
    folders, cache = bases
    steps = {"train.stage1.steps": 8, "train.log_every": 4, "train.checkpoint_every": 4}
    steps["train.max_bad_share"] = 0.2
    cfg = config(source, **steps)
    runs = {}
    for world in (1, 2):
        out = tmp_path / f"world{world}" / "stage1"
        runs[world] = run_ranks("stage1", cfg, {**folders, "stage1": out}, cache, world)
        runs[world].append(load_file(out / WEIGHTS))
    one, two = runs[1], runs[2]
    skipped = {k: v for k, v in one[0]["metrics"].items() if "skipped" in k}
    assert skipped["stage1/skipped/web/undecodable_image"] >= 5  # rows masked on both ranks
    assert skipped and all(
        two[r]["metrics"][k] == pytest.approx(v) for r in (0, 1) for k, v in skipped.items()
    )
    for name, weight in one[-1].items():
        torch.testing.assert_close(two[-1][name], weight, rtol=1e-4, atol=2e-6, msg=name)


def test_coco_images_are_held_out_by_id_whatever_the_release_calls_them(tmp_path):
    """Open-VQA asks about `COCO_val2014_<id>.jpg`; COCO 2017 names the same image `<id>.jpg`."""
    from lynx_core.data.convert.prepare import prepare
    from lynx_core.data.convert.sources import CONVERTERS
    from tests.lynx_core.data.convert.releases import coco_captions

    expected = coco_captions(tmp_path / "coco", 8)
    asked = expected[0][2]  # e.g. 000000001000.jpg
    open_vqa = tmp_path / "Open_VQA_images.jsonl"
    open_vqa.write_text(json.dumps({"image": f"images/vqav2/val2014/COCO_val2014_{asked}"}) + "\n")
    manifest = prepare(
        CONVERTERS["coco_captions"], tmp_path / "coco", tmp_path / "t.jsonl", [open_vqa]
    )
    assert manifest["skipped"]["media of an evaluation item"] == sum(
        e[2] == asked for e in expected
    )


def test_names_that_are_plain_despite_a_colon_and_hub_folders_without_a_train_split(tmp_path):
    from lynx_core.data.files.hf_captions import hf_files

    assert plain_relative("2024-01-01T10:00:00/abc")
    (tmp_path / "hub" / "data").mkdir(parents=True)
    (tmp_path / "hub" / "data" / "test-00000-of-00001.parquet").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="parquet files of test but none of a train split"):
        hf_files(CaptionFileConfig(format="hf", path=str(tmp_path / "hub")))


def test_the_final_check_comes_before_the_last_checkpoint_so_a_retry_fails_too(bases, tmp_path):
    """80 samples (fewer than a mid-stage check waits for), 20% bad: the final check stops the
    stage before its last step is saved, and a retry (Ray's) resumes earlier and stops again,
    rather than finding no step left to count and passing."""
    from lynx_core.train.checkpoint import saved_steps

    shard(tmp_path / "web-000.tar", range(ROWS), corrupt=set(range(0, ROWS, 5)), empty=set())
    source = {"format": "webdataset", "path": str(tmp_path / "web-000.tar"), "name": "web"}
    steps = {"train.stage1.steps": 5, "train.log_every": 2, "train.checkpoint_every": 2}
    folders, cache = bases
    out = {**folders, "stage1": tmp_path / "stage1"}
    for attempt in range(2):
        with pytest.raises(TooManyBadSamples, match="undecodable image"):
            run_stage("stage1", config(source, **steps), out, cache)
        assert saved_steps(tmp_path / "stage1") == {"train": 4}, attempt  # not step 5
