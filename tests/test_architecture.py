"""The tree as the architecture: small modules, and the import layering (pyproject.toml's
import-linter contracts) kept, so that a newcomer reads one job per module and no layer
reaches into one above it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
# data tables, not logic: each task's question paraphrases and answers (250 of its lines)
DATA_TABLES = {"lynx_core/data/world/tasks.py"}


def test_no_module_is_over_400_lines_but_the_declared_data_tables():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in ("ablations", "lynx_core")
        for path in (ROOT / package).rglob("*.py")
    }
    assert len(sizes) > 50  # the walk found the tree
    over = {path: n for path, n in sizes.items() if n > MAX_LINES and path not in DATA_TABLES}
    assert not over, f"split these by job (or declare a data table here): {over}"
    assert all(path in sizes for path in DATA_TABLES), "a declared data table no longer exists"


def test_the_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a dev dependency: make .venv/.installed"
    result = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
