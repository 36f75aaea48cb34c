"""Fault points: named places where the fault suite can stop this process or fail a write.

A sweep has to survive being killed anywhere and a disk that fills up, and the only honest
test is to do exactly that at the places that matter (a checkpoint half written, a manifest
not yet renamed, MLflow half updated). Those places call `fault_point(name)`; it does nothing
unless `LYNX_FAULT` matches the point, as `<action>@<pattern>[#<n>]`: a shell-style pattern of
point names, and the n-th time this process reaches a match (default the first; `*`: every
time). The actions:

- `pause`: create a marker in `$LYNX_FAULT_DIR` holding the point's name (then `paused.pid`,
  the process's id), and sleep, so a test can SIGKILL the sweep (or that process) there; the
  marker is created exclusively: only one process pauses;
- `enospc` / `eacces`: raise the `OSError` a full disk / a refused permission would.

Ray's local workers inherit the driver's environment, so one variable reaches every process
of a sweep. The points: `write:<path>` (`lynx_core.atomic`, after half the bytes),
`step:<curve>:<step>` (after an optimizer step), `eval:<split>` (after a split's answers),
`mlflow:finish` (a variant's final metrics logged, its status not yet).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import time
from collections import Counter
from pathlib import Path

ENV, DIR_ENV = "LYNX_FAULT", "LYNX_FAULT_DIR"
ERRORS = {"enospc": errno.ENOSPC, "eacces": errno.EACCES}
_reached: Counter[str] = Counter()  # per process: how often each named point was reached


def fault_point(name: str, path: Path | str | None = None) -> None:
    """Act here if `LYNX_FAULT` matches this point (see the module docstring); `path` is the
    file an injected write error names."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    action, _, target = wanted.partition("@")
    pattern, _, nth = target.partition("#")
    if not fnmatch.fnmatchcase(name, pattern):
        return
    _reached[pattern] += 1
    if nth != "*" and _reached[pattern] != int(nth or 1):
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
    mine = folder / f".paused.{os.getpid()}"
    mine.write_text(name)
    try:
        os.link(mine, folder / "paused")  # exclusive, and whole when it appears
    except FileExistsError:
        return  # another process paused already
    finally:
        mine.unlink()
    pid = folder / f".pid.{os.getpid()}"  # which process to kill, when it is one of many
    pid.write_text(str(os.getpid()))
    pid.rename(folder / "paused.pid")
    while True:  # until the test kills us
        time.sleep(60)
