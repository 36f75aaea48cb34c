"""`python -m ablations weights small`: the GGUF's parts joined in order and checked against
the package's SHA-256, and a missing package told with what installs it, writing nothing.
(The conversion of the real packages is the slow test's: tests/lynx_core/test_real_weights.py.)"""

from __future__ import annotations

import hashlib

import pytest
from rich.console import Console

from ablations.cli import parser
from ablations.weights import EXIT_MISSING, GEMMA_PACKAGE, GGUF, cmd_weights, gguf_parts, joined


def _packages(root, chunks: list[bytes]):
    for number, chunk in enumerate(chunks):
        data = root / f"{GEMMA_PACKAGE}_part{number + 1}" / "data"
        data.mkdir(parents=True)
        (data / f"{GGUF}.part{number:02d}").write_bytes(chunk)
    return root


def test_the_parts_are_joined_in_order_and_checked_against_the_packages_digest(tmp_path):
    chunks = [b"first-", b"second-", b"third"]
    parts = gguf_parts(_packages(tmp_path / "packages", list(reversed(chunks))))
    whole = b"".join(reversed(chunks))
    joined(parts, tmp_path / "model.gguf", hashlib.sha256(whole).hexdigest())
    assert (tmp_path / "model.gguf").read_bytes() == whole
    with pytest.raises(ValueError, match="not the package's"):
        joined(parts, tmp_path / "other.gguf", hashlib.sha256(b"something else").hexdigest())


def test_without_the_packages_it_says_what_installs_them_and_writes_nothing(tmp_path):
    args = parser().parse_args(
        ["weights", "small", "--packages", str(tmp_path / "none"), "--into", str(tmp_path / "w")]
    )
    console = Console(record=True, width=200)
    assert cmd_weights(args, console) == EXIT_MISSING
    told = console.export_text()
    assert "no gemma-3-270m-q4_k_m.gguf.partNN" in told and "make weights-small" in told
    assert not (tmp_path / "w").exists()
