"""Stopping exactly the processes a test started, and waiting until they are gone."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable


def kill_until_gone(find: Callable[[], list[int]], timeout: float = 30) -> None:
    """SIGKILL whatever `find()` lists until it lists nothing (or fail after `timeout`)."""
    deadline = time.monotonic() + timeout
    while (pids := find()) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    assert not find(), f"processes survived: {find()}"


def free_port() -> int:
    """A TCP port nothing on this machine listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
