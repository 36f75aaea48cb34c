"""Checks of a caption file before compute: a bounded sample of each source (its first
`CHECKED_ROWS` samples) read as training will read it, each problem with the file and the
sample to fix."""

from __future__ import annotations

import tarfile
from collections.abc import Callable

from lynx_core.config import CaptionFileConfig
from lynx_core.data.files.bad_samples import BadSample, BadSamples, TooManyBadSamples
from lynx_core.data.files.caption_files import (
    IMAGE_EXTENSIONS,
    CaptionFile,
    WebDatasetShards,
    index_shard,
    read_llava_pretrain,
)
from lynx_core.data.files.formats import (
    FormatError,
)
from lynx_core.data.files.hf_captions import HuggingFaceCaptions, hf_files, load_hf

CHECKED_ROWS = 64  # validation reads this many samples of each source, not all of them


def check_caption_file(
    cfg: CaptionFileConfig, rows: int = CHECKED_ROWS, max_share: float = 1.0
) -> list[str]:
    """What is wrong with a source, each with its file and member, line or row; reads every
    shard's first headers (each present and a readable tar) and the first `rows` samples,
    not every sample. Bad samples among them (`lynx_core.data.files.bad_samples`) are what
    training skips: a problem only when their share passes `max_share`, as in training."""
    paths = cfg.paths
    missing = [p for p in paths if not p.exists()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5]) + (" …" if len(missing) > 5 else "")
        return [
            f"{len(missing)} of {len(paths)} file(s) do not exist: {shown}; put them there or "
            "change the path (datasets are never downloaded)"
        ]
    return CHECKS[cfg.format](cfg, rows, max_share) + _clip_filter_problems(cfg)


def _clip_filter_problems(cfg: CaptionFileConfig) -> list[str]:
    if cfg.clip_filter is None:
        return []
    import open_clip

    known = open_clip.list_models()
    if cfg.clip_filter.model in known:
        return []
    return [
        f"clip_filter.model {cfg.clip_filter.model!r} is not an open_clip model; e.g. "
        f"ViT-B-32 ({len(known)} known: open_clip.list_models())"
    ]


def _sample_problems(source: CaptionFile, rows: int, name: str, max_share: float) -> list[str]:
    """The first `rows` samples read as training reads them: bad ones skipped and counted,
    a problem only past `max_share` (the policy of `lynx_core.data.files.bad_samples`)."""
    bad = BadSamples(max_share)
    for index in range(min(rows, len(source))):
        bad.read(name)
        try:
            source.caption(index)
            source.image(index)
        except BadSample as sample:
            bad.skip(name, sample.reason, sample.where, sample.detail)
    try:
        bad.check(final=True)
    except TooManyBadSamples as err:
        return [f"among its first {min(rows, len(source))} samples, {err}"]
    return []


def _check_webdataset(cfg: CaptionFileConfig, rows: int, max_share: float) -> list[str]:
    problems, first = [], None
    for path in cfg.paths:
        try:
            shard = index_shard(path, limit=2 * rows)  # headers only: cheap for every shard
        except (tarfile.TarError, OSError) as err:
            problems.append(f"{path}: not a readable tar shard ({err})")
            continue
        if not len(shard.keys):
            problems.append(
                f"{path}: no sample among its first members pairs an image "
                f"({', '.join(IMAGE_EXTENSIONS)}) with a caption (.txt or .json) under one key"
            )
        elif first is None:
            first = shard
    if first is not None:
        problems += _sample_problems(WebDatasetShards([first]), rows, cfg.source_name, max_share)
    return problems


def _check_llava(cfg: CaptionFileConfig, rows: int, max_share: float) -> list[str]:
    (file,) = cfg.paths
    if file.suffix not in (".json", ".jsonl"):
        return [f"{file}: a LLaVA pretraining file is .json (or .jsonl)"]
    try:
        source, problems = read_llava_pretrain(cfg, limit=rows)
    except FormatError as err:
        return err.problems
    problems = [f"{file} {problem}" for problem in problems]
    return problems + _sample_problems(source, rows, cfg.source_name, max_share)


def _first_parquet_rows(cfg: CaptionFileConfig, rows: int):
    """The first rows of parquet files, read with pyarrow (not converted into a dataset:
    that would copy every file), after every file's schema; raises on a broken file."""
    import datasets
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(path) for path in hf_files(cfg)[1]]  # each one's footer: readable
    batch = next(files[0].iter_batches(batch_size=rows), None)
    table = batch.to_pylist() if batch is not None else []
    return (
        datasets.Dataset.from_list(table)
        if table
        else datasets.Dataset.from_dict({name: [] for name in files[0].schema_arrow.names})
    )


def _check_hf(cfg: CaptionFileConfig, rows: int, max_share: float) -> list[str]:
    try:
        saved = hf_files(cfg)[0] is not None
        dataset = load_hf(cfg) if saved else _first_parquet_rows(cfg, rows)
    except Exception as err:  # datasets and pyarrow raise many kinds for what is not theirs
        return [f"{cfg.path}: not a Hugging Face dataset folder or parquet files ({err})"]
    columns = dataset.column_names
    absent = [c for c in (cfg.image_column, cfg.text_column) if c not in columns]
    if absent:
        return [
            f"{cfg.path}: no column(s) {', '.join(absent)}; its columns are "
            f"{', '.join(columns)} (set image_column / text_column)"
        ]
    source = HuggingFaceCaptions(dataset, cfg)
    return _sample_problems(source, rows, cfg.source_name, max_share)


CHECKS: dict[str, Callable[[CaptionFileConfig, int, float], list[str]]] = {
    "webdataset": _check_webdataset,
    "llava_pretrain": _check_llava,
    "hf": _check_hf,
}
