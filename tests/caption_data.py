"""Small image–caption sources in the three formats stage 1 reads (webdataset tar shards, a
LLaVA pretraining json with its images, a saved Hugging Face dataset), written by tests."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from lynx_core.data.world import toyworld as tw


def pairs(count: int, start: int = 0) -> list[tuple[str, Image.Image, str]]:
    """(key, a small image of one colour, its caption in the toy world's words)."""
    out, colours, shapes = [], list(tw.COLORS), list(tw.SHAPES)
    for i in range(start, start + count):
        colour, shape = colours[i % len(colours)], shapes[i % len(shapes)]
        pixels = np.full((12 + i % 5, 16, 3), (i * 37 % 256, i * 91 % 256, i * 13 % 256), np.uint8)
        out.append((f"{i:06d}", Image.fromarray(pixels), f"a {colour} {shape}"))
    return out


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def shard_bytes(samples: list[tuple[str, Image.Image, str]], json_captions: bool = False) -> bytes:
    """A tar shard in webdataset layout: `<key>.png` and `<key>.txt` (or `.json`) per sample."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for key, image, caption in samples:
            text = json.dumps({"caption": caption}) if json_captions else caption
            for name, data in (
                (f"{key}.png", png(image)),
                (f"{key}.{'json' if json_captions else 'txt'}", text.encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_shards(folder: Path, shards: int, per_shard: int) -> str:
    """`shards` tar shards of `per_shard` samples (odd shards caption in .json); their brace
    pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        samples = pairs(per_shard, start=s * per_shard)
        (folder / f"pairs-{s:03d}.tar").write_bytes(shard_bytes(samples, json_captions=s % 2 == 1))
    return str(folder / f"pairs-{{000..{shards - 1:03d}}}.tar")


def write_llava_pretrain(folder: Path, count: int) -> Path:
    """LLaVA's pretraining layout: a json list of {id, image, conversations}, images beside."""
    rows = []
    for key, image, caption in pairs(count):
        (folder / "images" / key[:3]).mkdir(parents=True, exist_ok=True)
        image.save(folder / "images" / key[:3] / f"{key}.png")
        rows.append(
            {
                "id": key,
                "image": f"{key[:3]}/{key}.png",
                "conversations": [
                    {"from": "human", "value": "<image>\nWrite a short caption."},
                    {"from": "gpt", "value": caption},
                ],
            }
        )
    file = folder / "blip_laion_cc_sbu_558k.json"
    file.write_text(json.dumps(rows))
    return file


def write_hf_dataset(folder: Path, count: int) -> Path:
    """A `save_to_disk` dataset with an `Image` column and a text column."""
    import datasets

    rows = pairs(count)
    features = datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")})
    dataset = datasets.Dataset.from_dict(
        {"image": [image for _, image, _ in rows], "text": [caption for *_, caption in rows]},
        features=features,
    )
    dataset.save_to_disk(str(folder))
    return folder
