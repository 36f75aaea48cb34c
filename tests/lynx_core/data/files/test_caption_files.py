"""Stage 1 on the user's image–caption files: webdataset tar shards, a LLaVA pretraining json
and a saved Hugging Face dataset, read by random access. Each trains stage 1, alone or mixed
with the generated captions; a resumed stage continues at exactly the next sample; two
ranks split every global batch without overlap, each reading only its rows' images;
DataLoader workers make the same batches; a missing or corrupt source is refused before
compute (tests/faults/test_bad_sweeps.py holds the sweep-file cases)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lynx_core.compute.ranks import Ranks
from lynx_core.config import CaptionFileConfig, ClipFilterConfig, TextFilterConfig
from lynx_core.data.batches import to_pixels
from lynx_core.data.files.caption_checks import check_caption_file
from lynx_core.data.files.caption_files import LlavaPretrain, WebDatasetShards, open_caption_file
from lynx_core.data.files.caption_filter import clip_scores, filtered, passes_text_filter
from lynx_core.data.stage_batches import _stage1_batches, stage_batches
from lynx_core.pipeline import WEIGHTS, run_stage
from lynx_core.train.bases import load_bases
from lynx_core.train.sample_log import log_path, read_log
from tests.caption_data import (
    pairs,
    shard_bytes,
    write_hf_dataset,
    write_llava_pretrain,
    write_shards,
)
from tests.tiny import tiny_config, trained_bases

SHARDS, PER_SHARD, ROWS = 3, 100, 40
SIZES = {"webdataset": SHARDS * PER_SHARD, "llava_pretrain": ROWS, "hf": ROWS}
BASES = {"train.bases.steps": 2, "train.instruct.steps": 0, "train.clip.steps": 2}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("captions")
    return {
        "webdataset": {"format": "webdataset", "path": write_shards(root / "shards", 3, 100)},
        "llava_pretrain": {
            "format": "llava_pretrain",
            "path": str(write_llava_pretrain(root / "llava", ROWS)),
            "media_root": str(root / "llava" / "images"),
        },
        "hf": {"format": "hf", "path": str(write_hf_dataset(root / "hf", ROWS))},
    }


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """The tiny bases, trained once: the caption files are stage 1's, not theirs."""
    return trained_bases(tmp_path_factory.mktemp("bases"), **BASES)


def config(**changes):
    return tiny_config(**BASES, **changes)


def only(source: dict, **changes):
    return config(**{"data.captions.files": [source], "data.captions.world_ratio": 0, **changes})


@pytest.mark.parametrize("fmt", list(SIZES))
def test_each_format_gives_its_pairs_by_random_access_and_passes_its_check(sources, fmt):
    cfg = CaptionFileConfig(**sources[fmt])
    source = open_caption_file(cfg)
    expected = pairs(SIZES[fmt])
    assert len(source) == SIZES[fmt]
    for index in (SIZES[fmt] - 1, 0, 7):  # in any order
        key, image, caption = expected[index]
        assert source.caption(index) == caption
        assert np.array_equal(source.image(index), np.asarray(image))
        shard = f"pairs-{index // PER_SHARD:03d}/" if fmt == "webdataset" else ""
        assert source.key(index) == (str(index) if fmt == "hf" else shard + key)
    assert check_caption_file(cfg) == []


@pytest.mark.parametrize("fmt", list(SIZES))
def test_each_format_trains_stage_1(sources, bases, tmp_path, fmt):
    folders, cache = bases
    cfg = only(
        sources[fmt], **{"train.stage1.steps": 4, "train.log_every": 2, "train.checkpoint_every": 2}
    )
    batch = stage_batches("stage1", cfg, cache / "world", load_bases(cfg, folders["bases"])[0])(0)
    size = cfg.model.vision.image_size
    assert batch["pixels"].shape == (cfg.train.stage1.batch_size, 3, size, size)
    output = run_stage("stage1", cfg, {**folders, "stage1": tmp_path / "stage1"}, cache)
    assert [r["step"] for r in output.history] == [2, 4]
    assert all(math.isfinite(r["loss"]) for r in output.history)
    assert (tmp_path / "stage1" / WEIGHTS).exists()


def test_files_mix_with_the_generated_captions_by_ratio(sources, bases):
    _, cache = bases
    files = [sources["webdataset"], {**sources["hf"], "ratio": 2.0}]
    draws = _stage1_batches(config(**{"data.captions.files": files}), cache / "world", None, {})
    names = [draws(n).examples[0].task for n in range(400)]
    shares = {name: names.count(name) / len(names) for name in set(names)}
    assert shares.keys() == {"caption", "pairs", "hf"}  # world captions are task 'caption'
    assert shares["hf"] == pytest.approx(0.5, abs=0.08)
    assert shares["pairs"] == pytest.approx(0.25, abs=0.07)
    world_only = _stage1_batches(config(), cache / "world", None, {})
    assert {world_only(n).examples[0].task for n in range(20)} == {"caption"}


def keys_of(draws, numbers, source) -> list[list[str]]:
    return [[source.key(e.media) for e in draws(n).examples] for n in numbers]


def unbroken_and_killed(cfg, bases, tmp_path, step: int) -> tuple[dict, dict]:
    """Stage 1 run through into `whole`, and into `cut` killed when it logs `step`."""
    folders, cache = bases

    def kill(record: dict) -> None:
        if record["step"] == step:
            raise RuntimeError("killed")

    whole = {**folders, "stage1": tmp_path / "whole"}
    cut = {**folders, "stage1": tmp_path / "cut"}
    run_stage("stage1", cfg, whole, cache)
    with pytest.raises(RuntimeError, match="killed"):
        run_stage("stage1", cfg, cut, cache, on_log=kill)
    return whole, cut


def test_a_resumed_stage_continues_at_exactly_the_next_sample(sources, bases, tmp_path):
    _, cache = bases
    cfg = only(sources["webdataset"], **{"train.stage1.steps": 10})
    source = open_caption_file(cfg.data.captions.files[0])
    unbroken = keys_of(_stage1_batches(cfg, cache / "world", None, {}), range(60), source)
    resumed = keys_of(_stage1_batches(cfg, cache / "world", None, {}), range(37, 60), source)
    assert resumed == unbroken[37:]  # a fresh reader asked from step 37 on: the same samples
    assert len({k for batch in unbroken[:18] for k in batch}) == 18 * 16  # an epoch: no repeat

    whole, cut = unbroken_and_killed(cfg, bases, tmp_path, step=5)
    logged = []
    run_stage("stage1", cfg, cut, cache, on_log=logged.append)
    assert min(r["step"] for r in logged) > 5  # it resumed from the step-5 checkpoint
    weights = [load_file(folder["stage1"] / WEIGHTS) for folder in (whole, cut)]
    for name, weight in weights[0].items():  # the same samples in the same order
        assert torch.equal(weights[1][name], weight), name


def test_a_resumed_stage_logs_the_samples_an_unbroken_one_logs(sources, bases, tmp_path):
    """`train.sample_log`: each batch's sample keys, in order; a stage killed two steps after
    its checkpoint and resumed (its batches made by a DataLoader worker this time) drops
    the batches it redoes, so its log is the unbroken stage's, line for line."""
    _, cache = bases
    changes = {"train.stage1.steps": 10, "train.log_every": 1, "train.checkpoint_every": 5}
    cfg = only(sources["webdataset"], **changes, **{"train.sample_log": True})
    file = cfg.data.captions.files[0]
    source, name = open_caption_file(file), file.source_name
    expected = [(n, [f"{name}:{k}" for k in keys]) for n, keys in enumerate(
        keys_of(_stage1_batches(cfg, cache / "world", None, {}), range(10), source)
    )]  # fmt: skip

    whole, cut = unbroken_and_killed(cfg, bases, tmp_path, step=7)
    assert [n for n, _ in read_log(log_path(cut["stage1"], 0))] == list(range(7))
    workers = cfg.model_copy(update={"train": cfg.train.model_copy(update={"data_workers": 1})})
    run_stage("stage1", workers, cut, cache)
    assert read_log(log_path(whole["stage1"], 0)) == expected
    assert read_log(log_path(cut["stage1"], 0)) == expected


def test_two_ranks_split_each_global_batch_and_read_only_their_rows(sources, bases, monkeypatch):
    folders, cache = bases
    read: list[int] = []
    decode = WebDatasetShards.image
    monkeypatch.setattr(
        WebDatasetShards, "image", lambda self, i, **size: read.append(i) or decode(self, i, **size)
    )
    cfg = only(sources["webdataset"], **{"train.stage1.batch_size": 8})
    source = open_caption_file(cfg.data.captions.files[0])
    draws = _stage1_batches(cfg, cache / "world", None, {})
    tokenizer = load_bases(cfg, folders["bases"])[0]
    seen = []
    for rank in (0, 1):
        ranks = Ranks(rank, 2, torch.device("cpu"))
        batches = stage_batches("stage1", cfg, cache / "world", tokenizer, ranks=ranks)
        for number in range(SIZES["webdataset"] // 8):  # one epoch
            mine = draws(number).examples[ranks.rows(8)]
            seen += [source.key(e.media) for e in mine]
            if number < 3:
                read.clear()
                pixels = batches(number)["pixels"]
                assert sorted(read) == sorted(e.media for e in mine)  # its rows' images only
                size = cfg.model.vision.image_size
                images = [to_pixels(source.image(e.media)[None], size)[0] for e in mine]
                assert torch.equal(pixels, torch.stack(images))
    assert len(seen) == len(set(seen)) == SIZES["webdataset"] // 8 * 8  # none seen twice


def test_data_workers_make_the_batches_the_training_process_makes(sources, bases, monkeypatch):
    """Images decoded in this process are counted: with workers, none are (forked workers
    count in their own memory)."""
    folders, cache = bases
    decoded = []
    for reader in (WebDatasetShards, LlavaPretrain):
        decode = reader.image
        monkeypatch.setattr(
            reader,
            "image",
            lambda self, i, decode=decode, **size: decoded.append(i) or decode(self, i, **size),
        )
    files = {"data.captions.files": [sources["webdataset"], sources["llava_pretrain"]]}
    tokenizer = load_bases(config(), folders["bases"])[0]
    plain = stage_batches("stage1", config(**files), cache / "world", tokenizer)
    ahead = stage_batches(
        "stage1", config(**files, **{"train.data_workers": 2}), cache / "world", tokenizer
    )
    for number in [0, 1, 2, 3, 4, 5, 11, 12, 3]:  # in order, then jumps (a resumed stage)
        decoded.clear()
        theirs = ahead(number)
        assert decoded == []  # a file batch came from a worker; a world batch reads no file
        mine = plain(number)
        assert mine.keys() == theirs.keys()
        for key, value in mine.items():
            assert torch.equal(theirs[key], value), (number, key)


def test_a_missing_or_corrupt_shard_is_named_before_compute(tmp_path):
    pattern = write_shards(tmp_path / "shards", 3, 4)
    (tmp_path / "shards" / "pairs-001.tar").write_bytes(b"not a tar file" * 100)
    (tmp_path / "shards" / "pairs-002.tar").unlink()
    cfg = CaptionFileConfig(format="webdataset", path=pattern)
    (problem,) = check_caption_file(cfg)
    assert "1 of 3 file(s) do not exist" in problem and "pairs-002.tar" in problem
    (tmp_path / "shards" / "pairs-002.tar").write_bytes(b"")
    problems = check_caption_file(cfg)
    assert any("pairs-001.tar: not a readable tar shard" in p for p in problems), problems


def test_a_member_name_that_is_not_utf8_is_a_key_like_any_other(tmp_path):
    """tarfile reads such names with surrogate escapes: they index, cache and log as keys."""
    key = b"caf\xe9-001".decode("utf-8", "surrogateescape")  # Latin-1, as old tools wrote
    samples = [(key, pairs(1)[0][1], "a red square"), *pairs(3, start=1)]
    (tmp_path / "latin.tar").write_bytes(shard_bytes(samples))
    cfg = CaptionFileConfig(format="webdataset", path=str(tmp_path / "latin.tar"))
    assert check_caption_file(cfg) == []
    for cache in (None, tmp_path / "cache", tmp_path / "cache"):  # built, kept, read back
        source = open_caption_file(cfg, cache)
        assert source.key(0) == f"latin/{key}" and source.caption(0) == "a red square"


def test_parquet_files_are_read_and_checked_without_converting_them_whole(sources, tmp_path):
    import datasets

    dataset = datasets.load_from_disk(sources["hf"]["path"])
    for half, rows in enumerate((range(0, 20), range(20, ROWS))):
        dataset.select(rows).to_parquet(str(tmp_path / f"part-{half}.parquet"))
    cfg = CaptionFileConfig(format="hf", path=str(tmp_path / "part-{0..1}.parquet"))
    assert check_caption_file(cfg) == []
    source = open_caption_file(cfg)
    expected = pairs(ROWS)
    assert len(source) == ROWS and source.caption(25) == expected[25][2]
    assert np.array_equal(source.image(25), np.asarray(expected[25][1]))
    (tmp_path / "part-1.parquet").write_bytes(b"not parquet")
    (problem,) = check_caption_file(cfg)
    assert "not a Hugging Face dataset folder or parquet files" in problem


@pytest.mark.parametrize(
    "caption, kept",
    [
        ("a red square beside a blue circle", True),
        ("sale sale sale sale cheap", False),  # one word over half the caption
        ("IMG_2041.JPG 0034 7781", False),  # mostly digits and symbols
        ("two words", False),
    ],
)
def test_the_text_filter_drops_what_web_captions_get_wrong(caption, kept):
    assert passes_text_filter(caption, TextFilterConfig()) == kept


def test_a_filtered_file_trains_only_on_kept_pairs_and_reports_their_share(bases, tmp_path):
    folders, cache = bases
    samples = [
        (key, image, "IMG_0001.JPG 4411" if i % 3 == 0 else caption)
        for i, (key, image, caption) in enumerate(pairs(60))
    ]
    (tmp_path / "junk.tar").write_bytes(shard_bytes(samples))
    source = {"format": "webdataset", "path": str(tmp_path / "junk.tar"), "text_filter": {}}
    cfg = only(
        source, **{"train.stage1.steps": 2, "train.log_every": 1, "train.checkpoint_every": 2}
    )
    draws = _stage1_batches(cfg, cache / "world", None, report := {})
    assert report == {"stage1/kept/junk": pytest.approx(40 / 60), "stage1/pairs": 40}
    captions = {e.answer for n in range(10) for e in draws(n).examples}
    assert "IMG_0001.JPG 4411" not in captions and len(captions) > 1
    output = run_stage("stage1", cfg, {**folders, "stage1": tmp_path / "stage1"}, cache)
    assert output.metrics["stage1/kept/junk"] == pytest.approx(40 / 60)  # to MLflow with it


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A tiny open_clip model registered under its own name, with saved random weights;
    unregistered afterwards (open_clip's registry is global: other tests list its models)."""
    import json

    import open_clip
    import open_clip.factory as registry

    folder = tmp_path_factory.mktemp("clip")
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2,
                     "layers": 1},
    }  # fmt: skip
    config_file = folder / "lynx-test-clip.json"
    config_file.write_text(json.dumps(config))
    open_clip.add_model_config(config_file)
    torch.manual_seed(0)
    torch.save(open_clip.create_model("lynx-test-clip").state_dict(), folder / "clip.pt")
    yield {"model": "lynx-test-clip", "checkpoint": str(folder / "clip.pt")}
    registry._MODEL_CONFIG_PATHS.remove(config_file)  # its registry is module globals
    registry._MODEL_CONFIGS.pop("lynx-test-clip")


def test_the_clip_filter_keeps_the_pairs_a_clip_model_finds_alike(sources, tiny_clip):
    import open_clip
    from PIL import Image

    source = open_caption_file(CaptionFileConfig(**sources["webdataset"]))
    clip = ClipFilterConfig(**tiny_clip, threshold=-1.0)
    scores = clip_scores(source, np.arange(len(source)), clip)
    # pair 7 by hand: the model's own preprocessing and tokenizer, unit embeddings' product
    model, _, preprocess = open_clip.create_model_and_transforms(
        tiny_clip["model"], pretrained=tiny_clip["checkpoint"]
    )
    with torch.no_grad():
        image = model.encode_image(preprocess(Image.fromarray(source.image(7)))[None])
        text = model.encode_text(open_clip.get_tokenizer(tiny_clip["model"])([source.caption(7)]))
    by_hand = torch.nn.functional.cosine_similarity(image, text).item()
    assert scores[7] == pytest.approx(by_hand, abs=1e-5)

    threshold = float(np.median(scores))
    kept = filtered(source, None, clip.model_copy(update={"threshold": threshold}), "pairs")
    alike = np.flatnonzero(scores >= threshold)
    assert len(kept) == len(alike) and 0 < len(kept) < len(source)
    assert [kept.key(i) for i in range(5)] == [source.key(int(r)) for r in alike[:5]]
    assert len(filtered(source, None, clip, "pairs")) == len(source)  # threshold -1 keeps all

    unknown = {**sources["webdataset"], "clip_filter": {**tiny_clip, "model": "no-such-clip"}}
    problems = check_caption_file(CaptionFileConfig(**unknown))
    assert any("'no-such-clip' is not an open_clip model" in p for p in problems), problems


def test_a_shard_is_indexed_once_per_version_and_the_index_is_memory_mapped(
    sources, tmp_path, monkeypatch
):
    """A stage start after the first reads no tar header: the index comes from the store's
    cache, memory-mapped (shared by a node's ranks and workers); a shard rewritten in place
    is a new version, indexed again."""
    from lynx_core.data.files import caption_files

    cfg = CaptionFileConfig(**sources["webdataset"])
    plain = open_caption_file(cfg)
    first = open_caption_file(cfg, tmp_path / "cache")
    indexed = []
    index_shard = caption_files.index_shard
    monkeypatch.setattr(
        caption_files, "index_shard", lambda path, **kw: indexed.append(path) or index_shard(path)
    )
    again = open_caption_file(cfg, tmp_path / "cache")
    assert indexed == []  # every shard's index read from the cache
    assert all(isinstance(shard.spans, np.memmap) for shard in again.shards)
    for source in (first, again):
        assert len(source) == len(plain) == SIZES["webdataset"]
        for i in (0, 150, 299):
            assert source.key(i) == plain.key(i) and source.caption(i) == plain.caption(i)
            assert np.array_equal(source.image(i), plain.image(i))

    shard = cfg.paths[1]
    copy = tmp_path / "copy.tar"
    copy.write_bytes(shard.read_bytes())
    copy.replace(shard)  # the same bytes, a new file: a new version
    open_caption_file(cfg, tmp_path / "cache")
    assert indexed == [shard]


def test_what_the_filters_keep_is_computed_once_and_a_new_threshold_reuses_the_scores(
    sources, tiny_clip, tmp_path, monkeypatch
):
    from lynx_core.data.files import caption_filter
    from lynx_core.data.files.caption_files import source_version

    cfg = CaptionFileConfig(**sources["webdataset"])
    source, version, cache = open_caption_file(cfg), source_version(cfg), tmp_path / "cache"
    text, clip = TextFilterConfig(min_words=3), ClipFilterConfig(**tiny_clip, threshold=-1.0)
    unkept = filtered(source, text, clip, "pairs")  # no cache: computed in place
    calls = {"captions": 0, "scores": 0}
    passes, scores = caption_filter.passes_text_filter, caption_filter.clip_scores

    def counted_passes(caption, cfg):
        calls["captions"] += 1
        return passes(caption, cfg)

    def counted_scores(*args):
        calls["scores"] += 1
        return scores(*args)

    monkeypatch.setattr(caption_filter, "passes_text_filter", counted_passes)
    monkeypatch.setattr(caption_filter, "clip_scores", counted_scores)
    kept = [filtered(source, text, clip, "pairs", cache, version) for _ in range(2)]
    assert calls == {"captions": len(source), "scores": 1}  # the second read the cache
    assert all(list(k.rows) == list(unkept.rows) for k in kept)

    all_scores = scores(source, kept[0].rows, clip)
    threshold = float(np.median(all_scores))
    stricter = clip.model_copy(update={"threshold": threshold})
    fewer = filtered(source, text, stricter, "pairs", cache, version)
    assert calls == {"captions": len(source), "scores": 1}  # the kept scores, a new cut
    assert list(fewer.rows) == list(kept[0].rows[all_scores >= threshold])
    assert 0 < len(fewer) < len(kept[0])
    other = filtered(source, TextFilterConfig(min_words=4), clip, "pairs", cache, version)
    assert calls["scores"] == 2 and len(other) < len(kept[0])  # other rows: scored anew
