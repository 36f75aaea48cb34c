"""A frozen vision trunk's tokens for a fixed set of media, computed once per item.

A frozen trunk is a pure function of its pixels, yet a training stage shows it each image
hundreds of times (800 steps of 16 over 512 images) and evaluation asks several questions per
image. `FeatureCache` runs the trunk once per item, in fixed chunks, so an item's tokens do
not depend on which batch first needed it (a resumed stage sees the same numbers), under the
stage's autocast, and serves batches by row as `patches` (`LynxModel.encode_media`): the same
tokens up to float rounding (other batch shapes; tested to 1e-4). Not for
an unfrozen trunk (its tokens change as it trains) or media too many to hold: at paper scale
5120 EVA ViT-g images are 13 GB of tokens (`train.feature_cache` off in the paper preset).

The tokens depend on the trunk's weights and the media alone, and a sweep's variants share
both (every variant on one frozen tower, every seed's variants on one sample of the world,
every evaluation on one suite), so fp32 tokens are also kept on disk in the store's cache,
named by the trunk's weights, the runtime and the media (`kept_tokens`): computed once per
sweep instead of once per stage run.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from lynx_core.data.files.computed import cache_file, computed_once
from lynx_core.model.vision import VisionTower

CHUNK = 64  # items per trunk pass while filling the cache
Encoder = Callable[[torch.Tensor], torch.Tensor]  # pixels (N, [T,] 3, H, W) → trunk tokens
TokenFiles = Callable[..., Path]  # what some tokens depend on (media, sizes) → their file


def trunk_encoder(
    tower: VisionTower,
    device: torch.device | str = "cpu",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Encoder:
    """The frozen trunk as a function of pixels, on `device` under the stage's autocast
    (`Runtime.autocast`), so cached tokens are what the stage itself would compute."""
    if not tower.frozen:
        raise ValueError("caching trunk tokens needs a frozen trunk (model.vision.frozen: true)")

    def encode(pixels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast():
            return tower.trunk_tokens(pixels.to(device))

    return encode


def cached_trunk(
    tower: VisionTower,
    enabled: bool,
    device: torch.device | str = "cpu",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Encoder | None:
    """The encoder to cache a stage's trunk tokens with (`train.feature_cache`), or None where
    caching is off or the trunk trains."""
    return trunk_encoder(tower, device, autocast) if enabled and tower.frozen else None


def trunk_digest(tower: VisionTower) -> str:
    """A fingerprint of the tower's weights: kept tokens are reused by these numbers only."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tower.state_dict().items()):
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def token_files(
    tower: VisionTower, cache: Path | None, kind: str, runtime: str, fp32: bool
) -> TokenFiles | None:
    """Where this trunk's tokens of `kind` are kept in the store's `cache`, named by its
    weights, the `runtime` ('cpu fp32') and what the caller adds; None where they are not
    kept: no cache, or not fp32 (numpy holds no bf16, and an upcast copy would feed the model
    other numbers than the stage computes)."""
    if cache is None or not fp32:
        return None
    return partial(cache_file, cache, kind, trunk_digest(tower), runtime)


def kept_tokens(file: Path | None, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """`compute()`, or the tokens a call with the same `file` computed before (fp32 on the CPU;
    None: not kept). The caller names the file by all the tokens depend on."""
    if file is None:
        return compute()
    return torch.from_numpy(np.array(computed_once(file, lambda: compute().cpu().numpy())))


class FeatureCache:
    """Trunk tokens (N, [T,] P, W) of media rows 0..N-1; `cache(rows)` is a batch of them.
    With a `file` (`kept_tokens`) they are read from it when an earlier stage computed them."""

    def __init__(
        self,
        encode: Encoder,
        pixels_of: Callable[[list[int]], torch.Tensor],
        count: int,
        file: Path | None = None,
    ):
        def compute() -> torch.Tensor:
            chunks = [
                encode(pixels_of(list(range(start, min(start + CHUNK, count)))))
                for start in range(0, count, CHUNK)
            ]
            return torch.cat(chunks) if chunks else torch.empty(0)

        self.tokens = kept_tokens(file, compute)

    def __call__(self, rows: list[int]) -> torch.Tensor:
        return self.tokens[rows]
