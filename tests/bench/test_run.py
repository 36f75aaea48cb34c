"""`make bench`'s runner: repeats each script and tells median, spread and target."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
bench_run = sys.modules["bench_run"] = importlib.util.module_from_spec(spec)  # bench/ is scripts
spec.loader.exec_module(bench_run)


def test_each_ratio_gets_its_median_spread_and_verdict(tmp_path):
    counter = tmp_path / "count"
    (tmp_path / "fast.py").write_text(
        "from pathlib import Path\n"
        f"p = Path({str(counter)!r}); n = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\n"
        "print('noise before')\n"
        "print(f'speed ratio={[1.0, 3.0, 2.0][n % 3]} target>=2.5')\n"
        "print(f'cost ratio={[1.1, 1.0, 1.2][n % 3]:.2f} target<=1.15')\n"
        "print('info ratio=0.5 (no target)')\n"
        "print('gpu ratio=n/a target>=0.4 (no CUDA GPU here)')\n"
    )
    (tmp_path / "broken.py").write_text("raise SystemExit(3)\n")
    out = tmp_path / "bench.md"
    status = bench_run.main(["--repeat", "3", "--bench-dir", str(tmp_path), "--out", str(out)])
    text = out.read_text()
    assert status == 1 and "broken.py: exit 3" in text
    assert "| speed | 2 | 1 | 3 | 3 | >= 2.5 | missed |" in text
    assert "| cost | 1.1 | 1 | 1.2 | 3 | <= 1.15 | met |" in text
    assert "| info | 0.5 | 0.5 | 0.5 | 3 | none | – |" in text
    assert "| gpu | n/a | n/a | n/a | 3 | >= 0.4 | not measured (no CUDA GPU here) |" in text


def test_the_gpu_step_benchmark_says_why_it_has_no_ratio_on_a_cpu():
    import subprocess

    import torch

    if torch.cuda.is_available():
        import pytest

        pytest.skip("a GPU is here: bench/gpu_step.py measures it (minutes), run it by hand")
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_step.py"), "--batch", "2"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last == "gpu_step ratio=n/a target>=0.40 (no CUDA GPU: a toy-shaped step on the CPU)"
    assert bench_run.ratios(done.stdout)[0].why.startswith("(no CUDA GPU")
