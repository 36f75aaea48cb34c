"""Stage 1's image–caption pairs from the user's files: webdataset tar shards, LLaVA's
pretraining json with its image folder, or a local Hugging Face dataset.

Every source is read by random access, its images when a batch needs them: a tar shard
through an index of its members' offsets (tar headers only, read when the stage starts), a
Hugging Face dataset through Arrow's memory map, and the LLaVA json (one JSON list, read an
item at a time) as compact (image path, caption) pairs. Random access is what makes the
rest exact: a batch is a pure function of (seed, step), as for the generated captions, so

- a resumed stage continues at exactly the next sample (the step is in its checkpoint);
- each data-parallel rank reads and decodes only its own rows' images, and no sample is
  seen twice in an epoch (the rows of a global batch are split, not the files);
- DataLoader workers can prepare batches ahead (`lynx_core.data.prefetch`) without changing
  which samples a step sees.

The webdataset library's conventions decide what a sample is (its key: the member's path up to
the first dot of its name; `webdataset.tariterators.base_plus_ext`) and brace patterns expand
as it expands them. Its streaming readers are not used: they cannot start mid-shard or
give ranks disjoint rows of one global batch.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np

from lynx_core.config import CaptionFileConfig
from lynx_core.data.files.bad_samples import (
    MISSING,
    ODD_NAME,
    BadSample,
    plain_relative,
)
from lynx_core.data.files.computed import cache_file, computed_once
from lynx_core.data.files.formats import (
    FormatError,
    MissingMediaError,
    json_rows,
    resolve_media,
)
from lynx_core.data.files.hf_captions import open_hf
from lynx_core.data.files.samples import checked_caption, decode_image, decoded
from lynx_core.digests import digest_files, digest_of

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


TEXT_EXTENSIONS = ("txt", "json")


class CaptionFile(Protocol):
    """A source of image–caption pairs with random access."""

    def __len__(self) -> int: ...

    def key(self, index: int) -> str:
        """The sample's own name in its source (a webdataset key, a json id, a row number)."""

    def where(self, index: int) -> str:
        """Where the sample is, for a person to find it (shard and member, file, row)."""

    def caption(self, index: int) -> str:
        """Its caption; `BadSample` (`lynx_core.data.files.bad_samples`) for one that cannot
        train: empty, not text, a webdataset member name that is not a plain relative path."""

    def image(self, index: int, at_least: int | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB; `BadSample` for a missing or undecodable image. With
        `at_least`, a JPEG may be decoded at a reduced scale (1/2 … 1/8, its DCT's) whose sides
        stay at least that many pixels: the model resizes to its resolution anyway, and
        decoding 8× fewer pixels is most of the data cost."""


@dataclass(frozen=True)
class ShardIndex:
    """One tar shard's complete samples: keys (UTF-8 bytes) and the (offset, size) of each
    one's image and caption member; `caption_json` marks captions stored as .json. Arrays,
    not Python objects: 120M samples would otherwise take tens of GB per process."""

    path: Path
    keys: np.ndarray  # (n,) bytes
    spans: np.ndarray  # (n, 4) int64: image offset, image size, caption offset, caption size
    caption_json: np.ndarray  # (n,) bool


SHARD_INDEX_VERSION = 1  # bumped when `index_shard` changes what it finds


def index_shard(path: Path, limit: int | None = None) -> ShardIndex:
    """Reads the shard's member headers only (tarfile seeks over the data); with `limit`,
    stops after that many members. Members that do not complete a sample are skipped."""
    from webdataset.tariterators import base_plus_ext

    found: dict[str, dict[str, tuple[int, int]]] = {}
    with tarfile.open(path, "r:") as tar:
        for number, member in enumerate(tar):
            if limit is not None and number >= limit:
                break
            if not member.isfile():
                continue
            key, extension = base_plus_ext(member.name)
            if key is None:
                continue
            found.setdefault(key, {})[extension.lower()] = (member.offset_data, member.size)
    keys, spans, as_json = [], [], []
    for key, parts in found.items():
        image = next((parts[e] for e in IMAGE_EXTENSIONS if e in parts), None)
        text_ext = next((e for e in TEXT_EXTENSIONS if e in parts), None)
        if image is None or text_ext is None:
            continue
        keys.append(key.encode("utf-8", "surrogateescape"))  # tarfile's for names not UTF-8
        spans.append((*image, *parts[text_ext]))
        as_json.append(text_ext == "json")
    return ShardIndex(
        path,
        np.asarray(keys, dtype=f"S{max(map(len, keys), default=1)}"),
        np.asarray(spans, dtype=np.int64).reshape(-1, 4),
        np.asarray(as_json, dtype=bool),
    )


def cached_shard_index(path: Path, cache: Path | None) -> ShardIndex:
    """The shard's index, built once per version of the shard (its path, size and
    modification time) and kept under `cache` (None: not kept) as one .npy of records; it
    is memory-mapped, so every stage start after the first reads no tar header, and the
    ranks and DataLoader workers of a node share one copy in the page cache."""
    stat = path.stat()
    version = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, SHARD_INDEX_VERSION)
    records = computed_once(
        cache_file(cache, "shard_index", *version), partial(_records, path), mmap=True
    )
    return ShardIndex(path, records["key"], records["spans"], records["caption_json"])


def _records(path: Path) -> np.ndarray:
    """The shard's index as one array of records (how it is kept)."""
    index = index_shard(path)
    records = np.empty(len(index.keys), _record(index.keys.dtype.itemsize))
    records["key"], records["spans"] = index.keys, index.spans
    records["caption_json"] = index.caption_json
    return records


def _record(key_bytes: int) -> np.dtype:
    return np.dtype([("key", f"S{key_bytes}"), ("spans", "<i8", (4,)), ("caption_json", "?")])


def _read(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(size)


def _caption_text(raw: bytes, as_json: bool) -> str:
    text = raw.decode("utf-8")
    if not as_json:
        return text.strip()
    record = json.loads(text)
    caption = record.get("caption", record.get("text")) if isinstance(record, dict) else None
    if not isinstance(caption, str):
        raise ValueError("its .json holds no 'caption' or 'text' string")
    return caption.strip()


def member_key(shard: ShardIndex, row: int) -> str:
    """The sample's key as its tar members are named."""
    return shard.keys[row].decode("utf-8", "surrogateescape")


class WebDatasetShards:
    """Samples of several tar shards, in shard order then member order."""

    def __init__(self, shards: Sequence[ShardIndex]):
        self.shards = [s for s in shards if len(s.keys)]
        sizes = [len(s.keys) for s in self.shards]
        self.starts = np.cumsum([0, *sizes])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _locate(self, index: int) -> tuple[ShardIndex, int]:
        shard = int(np.searchsorted(self.starts, index, side="right")) - 1
        return self.shards[shard], index - int(self.starts[shard])

    def key(self, index: int) -> str:
        """`<shard>/<key>` (webdataset's `__url__` and `__key__`: keys are often unique
        only within their shard)."""
        shard, row = self._locate(index)
        return f"{shard.path.stem}/{member_key(shard, row)}"

    def where(self, index: int) -> str:
        shard, row = self._locate(index)
        return f"{shard.path} member {member_key(shard, row)}"

    def caption(self, index: int) -> str:
        """The sample's caption; `BadSample` for an empty one, or a sample whose member name
        is not a plain relative path (checked here: every drawn sample's caption is read)."""
        shard, row = self._locate(index)
        if not plain_relative(member_key(shard, row)):
            raise BadSample(ODD_NAME, self.where(index))
        _, _, offset, size = shard.spans[row]
        raw = _read(shard.path, int(offset), int(size))
        return checked_caption(
            lambda: _caption_text(raw, bool(shard.caption_json[row])), self.where(index)
        )

    def image(self, index: int, at_least: int | None = None) -> np.ndarray:
        shard, row = self._locate(index)
        offset, size, _, _ = shard.spans[row]
        raw = partial(_read, shard.path, int(offset), int(size))
        return decoded(lambda: decode_image(raw(), at_least), self.where(index))


def open_webdataset(cfg: CaptionFileConfig, cache: Path | None = None) -> WebDatasetShards:
    """The shards' samples; with `cache` (the store's), each shard's index is built once."""
    return WebDatasetShards([cached_shard_index(path, cache) for path in cfg.paths])


def llava_pair(row: object) -> tuple[str, str, str]:
    """(id, image path, caption) of a LLaVA pretraining row: the caption is its 'gpt' turn."""
    if not isinstance(row, dict):
        raise ValueError(f"not a JSON object ({row!r:.60})")
    image = row.get("image")
    turns = row.get("conversations")
    if not isinstance(image, str) or not isinstance(turns, list):
        raise ValueError("needs 'image' (a path) and 'conversations' (a list)")
    answers = [t.get("value") for t in turns if isinstance(t, dict) and t.get("from") == "gpt"]
    if not answers or not isinstance(answers[0], str):
        raise ValueError("its 'conversations' hold no 'gpt' turn with the caption")
    return str(row.get("id", image)), image, answers[0].strip()


class LlavaPretrain:
    """LLaVA's pretraining pairs: compact (id, image, caption) rows; images read on demand."""

    def __init__(
        self, rows: list[tuple[str, str, str]], root: Path, file: Path | None = None, lines=()
    ):
        self.rows, self.root = rows, root
        self.file, self.lines = file, np.asarray(lines, dtype=np.int64)  # each row's line

    def __len__(self) -> int:
        return len(self.rows)

    def key(self, index: int) -> str:
        return self.rows[index][0]

    def where(self, index: int) -> str:
        at = f"{self.file}: line {self.lines[index]}, " if len(self.lines) else ""
        return f"{at}image {self.rows[index][1]} (id {self.rows[index][0]})"

    def caption(self, index: int) -> str:
        return checked_caption(lambda: self.rows[index][2], self.where(index))

    def image(self, index: int, at_least: int | None = None) -> np.ndarray:
        try:
            path = resolve_media(self.root, self.rows[index][1])
        except MissingMediaError as err:
            raise BadSample(MISSING, self.where(index), str(err)) from None
        except ValueError as err:  # a path that leaves the image folder
            raise BadSample(ODD_NAME, self.where(index), str(err)) from None
        return decoded(lambda: decode_image(path, at_least), self.where(index))


def llava_root(cfg: CaptionFileConfig) -> Path:
    return Path(cfg.media_root).expanduser() if cfg.media_root else Path(cfg.path).parent


def read_llava_pretrain(
    cfg: CaptionFileConfig, limit: int | None = None
) -> tuple[LlavaPretrain, list[str]]:
    """The file's pairs (its first `limit` rows' only, with a limit), each with its line, and
    'where: why' of each row that is not a pair."""
    (file,) = cfg.paths
    rows, lines, problems = [], [], []
    for where, row in json_rows(file, limit):
        try:
            rows.append(llava_pair(row))
            lines.append(int(where.rsplit("line ", 1)[1].rstrip(")")))
        except ValueError as err:
            problems.append(f"{where}: {err}")
    return LlavaPretrain(rows, llava_root(cfg), file, lines), problems


def open_llava_pretrain(cfg: CaptionFileConfig, cache: Path | None = None) -> LlavaPretrain:
    source, problems = read_llava_pretrain(cfg)
    if problems:
        raise FormatError(source.file, problems[:20])
    return source


READERS: dict[str, Callable[[CaptionFileConfig, Path | None], CaptionFile]] = {
    "webdataset": open_webdataset,
    "llava_pretrain": open_llava_pretrain,
    "hf": open_hf,
}


def source_version(cfg: CaptionFileConfig) -> str:
    """What a source's pairs are a function of: how it is read, and its files' versions
    (names, sizes, modification times): the key of what is computed from it once."""
    read = cfg.model_dump(include={"format", "path", "media_root", "image_column", "text_column"})
    return digest_of(read, {str(p.resolve()): digest_files(p) for p in cfg.paths})


def open_caption_file(cfg: CaptionFileConfig, cache: Path | None = None) -> CaptionFile:
    """The source's pairs; `cache` (the store's cache folder) keeps what is computed from a
    source once per version of it: shard indexes, parquet converted to Arrow."""
    return READERS[cfg.format](cfg, cache)
