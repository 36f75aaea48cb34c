"""Fault points act only where `LYNX_FAULT` points, as often as it says, and a failed write
names its file and leaves the previous version whole."""

from __future__ import annotations

import errno
import subprocess
import sys
import time

import pytest

from lynx_core import faults
from lynx_core.atomic import write_bytes, write_text
from tests.sweeps import REPO


@pytest.fixture(autouse=True)
def fresh_counts(monkeypatch):
    monkeypatch.setattr(faults, "_reached", type(faults._reached)())


def test_nothing_happens_unless_the_point_is_named(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.fault_point("write:/x/manifest.json")
    monkeypatch.setenv(faults.ENV, "enospc@write:*/stage2/*/manifest.json")
    faults.fault_point("write:/r/store/stage1/k/manifest.json")


def test_the_nth_match_fails_or_every_one(monkeypatch):
    monkeypatch.setenv(faults.ENV, "eacces@write:*.ckpt#2")
    faults.fault_point("write:/a/train.00000005.ckpt")
    with pytest.raises(PermissionError):
        faults.fault_point("write:/a/train.00000010.ckpt")
    faults.fault_point("write:/a/train.00000015.ckpt")
    monkeypatch.setenv(faults.ENV, "enospc@step:*#*")
    for step in (1, 2, 3):
        with pytest.raises(OSError, match="No space left"):
            faults.fault_point(f"step:stage2:{step}")


def test_a_failed_write_names_its_file_and_keeps_the_old_version(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    write_text(target, "old")
    monkeypatch.setenv(faults.ENV, f"enospc@write:{target}")
    with pytest.raises(OSError) as failed:
        write_text(target, "new and longer")
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"], "no temporary left"


def test_a_real_full_disk_names_the_file_and_keeps_the_old_version(tmp_path):
    """A 1 MiB tmpfs, filled by a 2 MiB write: `write()` itself says only 'No space left
    on device'; the error the caller sees names the file."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)])
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs CAP_SYS_ADMIN (the injected ENOSPC test runs)")
    try:
        target = disk / "trainable.safetensors"
        write_bytes(target, b"old weights")
        with pytest.raises(OSError) as failed:
            write_bytes(target, b"x" * (2 << 20))
        assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(target)
        assert target.read_bytes() == b"old weights"
        assert [p.name for p in disk.iterdir()] == [target.name], "no temporary left"
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_paused_process_marks_the_point_it_reached(tmp_path):
    env = {"LYNX_FAULT": "pause@write:*/stage2/*", "LYNX_FAULT_DIR": str(tmp_path), "PATH": ""}
    code = (
        "from pathlib import Path; from lynx_core.atomic import write_text; "
        f"write_text(Path({str(tmp_path / 'store/stage2/k/manifest.json')!r}), 'x')"
    )
    paused = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "paused").exists():
            assert paused.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert (tmp_path / "paused").read_text() == f"write:{tmp_path}/store/stage2/k/manifest.json"
        time.sleep(0.3)
        assert paused.poll() is None, "it waits there to be killed"
    finally:
        paused.kill()
        paused.wait()
    assert not (tmp_path / "store/stage2/k/manifest.json").exists()
