"""Image–caption pairs from a local Hugging Face dataset: a `save_to_disk` folder (memory-mapped),
parquet files, or a folder as the hub ships a dataset (`data/train-0000k-of-0000n.parquet`).
Text and image columns are read apart, so a caption never decodes its image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lynx_core.config import CaptionFileConfig
from lynx_core.data.files.formats import (
    resolve_media,
)
from lynx_core.data.files.samples import checked_caption, decode_image, decoded

SAVED_MARKERS = ("state.json", "dataset_dict.json")  # what `save_to_disk` writes in a folder


def hf_files(cfg: CaptionFileConfig) -> tuple[Path | None, list[Path]]:
    """(a `save_to_disk` folder, or None and the parquet files to read): a folder as the hub
    ships a dataset (`data/train-00000-of-00003.parquet`, …) gives its train split's parquet
    files (all of them when no file is named for a split); named files are read as given."""
    paths = cfg.paths
    if not (len(paths) == 1 and paths[0].is_dir()):
        return None, paths
    folder = paths[0]
    if any((folder / marker).is_file() for marker in SAVED_MARKERS):
        return folder, []
    parquet = sorted(folder.rglob("*.parquet"))
    if not parquet:
        raise FileNotFoundError(
            f"{folder} holds neither a saved dataset ({' or '.join(SAVED_MARKERS)}) "
            "nor .parquet files"
        )
    splits = {p: _split_of(p, folder) for p in parquet}
    if not any(splits.values()):  # no file is named for a split: the files are the data
        return None, parquet
    train = [p for p, split in splits.items() if split == "train"]
    if not train:
        named = ", ".join(sorted({split for split in splits.values() if split}))
        raise FileNotFoundError(f"{folder} has parquet files of {named} but none of a train split")
    return None, train


SPLITS = ("train", "validation", "valid", "val", "test", "dev")


def _split_of(file: Path, folder: Path) -> str | None:
    """The split a hub file is named for (`train-00000-of-00003.parquet`, `test/x.parquet`)."""
    parts = (file.stem.split("-")[0], *file.relative_to(folder).parts[:-1])
    return next((part for part in parts if part in SPLITS), None)


def load_hf(cfg: CaptionFileConfig, cache: Path | None = None):
    """A `save_to_disk` folder, memory-mapped; parquet files (named, or a hub folder's:
    `hf_files`) are converted to Arrow once per version, in the store's cache (`cache/hf`,
    else Hugging Face's own)."""
    import datasets

    saved, parquet = hf_files(cfg)
    if saved is not None:
        return datasets.load_from_disk(str(saved))
    folder = None if cache is None else str(cache / "hf")
    return datasets.Dataset.from_parquet([str(p) for p in parquet], cache_dir=folder)


def _hf_image(value: object, root: Path, at_least: int | None = None) -> np.ndarray:
    """An `Image` feature's value (a PIL image), its undecoded {'bytes', 'path'}, raw bytes,
    or a path relative to the dataset."""
    if isinstance(value, Image.Image):
        return np.array(value.convert("RGB"))
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, bytes):
        return decode_image(value, at_least)
    if isinstance(value, str):
        return decode_image(resolve_media(root, value), at_least)
    raise ValueError(f"an image column value must be an image, bytes or a path, not {value!r:.60}")


class HuggingFaceCaptions:
    """A memory-mapped Arrow dataset's rows; its text and image columns are read apart, so a
    caption never decodes its image."""

    def __init__(self, dataset, cfg: CaptionFileConfig):
        self.texts = dataset.select_columns([cfg.text_column])
        self.images = dataset.select_columns([cfg.image_column])
        self.cfg = cfg
        self.root = cfg.paths[0] if cfg.paths[0].is_dir() else cfg.paths[0].parent

    def __len__(self) -> int:
        return len(self.texts)

    def key(self, index: int) -> str:
        return str(index)

    def where(self, index: int) -> str:
        return f"{self.cfg.path} row {index}"

    def caption(self, index: int) -> str:
        value = self.texts[index][self.cfg.text_column]
        return checked_caption(
            lambda: "" if value is None else str(value).strip(), self.where(index)
        )

    def image(self, index: int, at_least: int | None = None) -> np.ndarray:
        column = self.cfg.image_column  # read inside: an `Image` feature decodes on access
        return decoded(
            lambda: _hf_image(self.images[index][column], self.root, at_least), self.where(index)
        )


def open_hf(cfg: CaptionFileConfig, cache: Path | None = None) -> HuggingFaceCaptions:
    return HuggingFaceCaptions(load_hf(cfg, cache), cfg)
