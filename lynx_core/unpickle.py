"""Weights read from files are tensors and plain values only, whoever wrote the file.

`torch.load(weights_only=True)` (ours, open_clip's and transformers' default) refuses a pickle
that would build other objects, but its message advises loading it again with
`weights_only=False`, which would run whatever code the file carries. `tensors_only(path)`
turns that refusal into one that names the file and says what to do instead.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def tensors_only(path: Path | str) -> Iterator[None]:
    try:
        yield
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[-1][:200]
        raise ValueError(
            f"{path} holds objects other than tensors and plain values, so it is not "
            "unpickled (that could run code it carries); convert it to safetensors, or save "
            f"only its state dict, from a trusted copy ({first_line})"
        ) from None
