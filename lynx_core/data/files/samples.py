"""One caption-file sample read as training reads it: its image decoded (at a reduced JPEG scale
when the model needs fewer pixels), its caption checked; `BadSample` when it cannot train
(`lynx_core.data.files.bad_samples`)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from lynx_core.data.files.bad_samples import (
    EMPTY,
    MISSING,
    NOT_TEXT,
    UNDECODABLE,
    BadSample,
)
from lynx_core.data.files.formats import (
    MissingMediaError,
)


def decode_image(raw: bytes | Path, at_least: int | None = None) -> np.ndarray:
    with Image.open(io.BytesIO(raw) if isinstance(raw, bytes) else raw) as image:
        if at_least is not None:
            image.draft("RGB", (at_least, at_least))  # JPEG only; others decode whole
        return np.array(image.convert("RGB"))


def decoded(decode: Callable[[], np.ndarray], where: str) -> np.ndarray:
    """The image `decode()` gives, or `BadSample` naming `where` when it is missing or does
    not decode (truncated, not an image, a decompression bomb: PIL's many errors)."""
    try:
        return decode()
    except BadSample:
        raise
    except MissingMediaError as err:
        raise BadSample(MISSING, where, str(err)) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise BadSample(UNDECODABLE, where, str(err)) from None


def checked_caption(text: Callable[[], str], where: str) -> str:
    """The caption `text()` reads, stripped, or `BadSample` when it is empty or not text."""
    try:
        caption = text()
    except (UnicodeDecodeError, ValueError) as err:
        raise BadSample(NOT_TEXT, where, str(err)) from None
    if not caption:
        raise BadSample(EMPTY, where)
    return caption
