"""Evaluation reads media a batch at a time: its peak RSS does not grow with the number of
questions (500 vs 2,000 generated image questions at 224 px, each run its own process).
Holding every image's pixels, as evaluation once did, grew the peak by ~450 MB here."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.eval_memory import prepare
from tests.sweeps import REPO

IMAGES = {500: 86, 2000: 345}  # ≈ 5.8 questions per generated image


@pytest.mark.slow  # two evaluations in their own processes: about a minute
def test_peak_memory_of_an_evaluation_does_not_grow_with_its_questions(tmp_path):
    prepare(tmp_path)
    peaks = {}
    for questions, images in IMAGES.items():
        run = subprocess.run(
            [sys.executable, "-m", "tests.eval_memory", str(tmp_path), str(images)],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        found = re.search(r"questions=(\d+) peak_mib=([\d.]+)", run.stdout)
        assert found, run.stdout
        assert int(found[1]) == pytest.approx(questions, rel=0.05)
        peaks[questions] = float(found[2])
    print(f"peak RSS: {peaks} MiB")
    # all 345 images' pixels at 224 px are 208 MB; a batch of them 19 MB
    assert peaks[2000] - peaks[500] < 50, peaks
