"""Fault points: named places where the fault suite can stop this process or fail a write.

A sweep has to survive being killed anywhere and a disk that fills up, and the only honest
test is to do exactly that at the places that matter (a checkpoint half written, a manifest
not yet renamed, MLflow half updated). Those places call `fault_point(name)`; it does nothing
unless `LYNX_FAULT` names the point, as `<action>@<point>[#<n>]` (the n-th time this process
reaches it, default the first):

- `pause`: create `$LYNX_FAULT_DIR/<point>` and sleep, so a test can SIGKILL the sweep there;
  the marker is created exclusively, so only the first process to arrive pauses;
- `enospc` / `eacces`: raise the `OSError` a full disk / a refused permission would.

Ray's local workers inherit the driver's environment, so one variable reaches every process
of a sweep. The points: `write:<file name>` (`lynx_core.atomic`, after half the bytes),
`step:<curve>:<step>` (after an optimizer step), `eval:<split>` (after a split's answers),
`mlflow:finish` (a variant's final metrics logged, its status not yet).
"""

from __future__ import annotations

import errno
import os
import time
from collections import Counter
from pathlib import Path

ENV, DIR_ENV = "LYNX_FAULT", "LYNX_FAULT_DIR"
ERRORS = {"enospc": errno.ENOSPC, "eacces": errno.EACCES}
_reached: Counter[str] = Counter()  # per process: how often each named point was reached


def fault_point(name: str, path: Path | None = None) -> None:
    """Act here if `LYNX_FAULT` names this point (see the module docstring); `path` is the
    file an injected write error names."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    action, _, target = wanted.partition("@")
    point, _, nth = target.partition("#")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] != int(nth or 1):
        return
    if action in ERRORS:
        code = ERRORS[action]
        raise OSError(code, os.strerror(code), str(path) if path else None)
    if action == "pause":
        _pause(name)
        return
    raise ValueError(f"{ENV}={wanted!r}: unknown action {action!r} (pause, enospc, eacces)")


def _pause(name: str) -> None:
    folder = Path(os.environ.get(DIR_ENV, "."))
    marker = folder / name.replace("/", "_")
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return  # another process paused here already
    while True:  # until the test kills us
        time.sleep(60)
