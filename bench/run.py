"""`make bench`: every benchmark under bench/ run several times, one table of its ratios.

Each script prints its ratios as `<name> ratio=<value> target=<op><value>` (or `(no
target)`); a single run on a shared machine is noise, so each script runs `--repeat` times
and `results/bench.md` gives each ratio's median, min and max, its target, and whether the
median meets it. Ratios only: absolute times say little on these machines. Not a benchmark
itself (the runner skips its own file).
"""

from __future__ import annotations

import argparse
import math
import operator
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

LINE = re.compile(
    r"^(?P<name>[\w.-]+) ratio=(?P<value>[-+0-9.eE]+|nan|inf|n/a)"
    r"(?: target(?P<op><=|>=|<|>)(?P<target>[-+0-9.eE]+))?(?P<why>.*)$"
)
COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass(frozen=True)
class Ratio:
    name: str
    value: float
    target: tuple[str, float] | None  # (op, value), None: reported without a target
    why: str = ""  # what follows, e.g. why a ratio could not be measured on this machine


def ratios(output: str) -> list[Ratio]:
    """Every ratio line a benchmark printed."""
    found = []
    for line in output.splitlines():
        match = LINE.match(line.strip())
        if match:
            target = (match["op"], float(match["target"])) if match["op"] else None
            value = math.nan if match["value"] == "n/a" else float(match["value"])
            found.append(Ratio(match["name"], value, target, match["why"].strip()))
    return found


def table(measured: dict[str, list[Ratio]], runs: int) -> str:
    """Markdown: one row per ratio name, in the order first seen."""
    rows = [
        f"# benchmarks: each script run {runs} times; met or missed by the median",
        "",
        "| ratio | median | min | max | runs | target | median meets it |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, seen in measured.items():
        values = [r.value for r in seen if not math.isnan(r.value)]
        if not values:  # e.g. a GPU benchmark on a machine without one
            shown = "none" if seen[-1].target is None else " ".join(map(str, seen[-1].target))
            why = seen[-1].why or "no value"
            rows.append(
                f"| {name} | n/a | n/a | n/a | {len(seen)} | {shown} | not measured {why} |"
            )
            continue
        median = statistics.median(values)
        target = seen[-1].target
        verdict = (
            "–" if target is None else "met" if COMPARE[target[0]](median, target[1]) else "missed"
        )
        shown = "none" if target is None else f"{target[0]} {target[1]:g}"
        rows.append(
            f"| {name} | {median:.3g} | {min(values):.3g} | {max(values):.3g} | {len(values)} "
            f"| {shown} | {verdict} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bench-dir", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--out", type=Path, default=Path("results/bench.md"))
    args = parser.parse_args(argv)
    scripts = sorted(p for p in args.bench_dir.glob("*.py") if p.name != Path(__file__).name)
    measured: dict[str, list[Ratio]] = {}
    failed = []
    runs = [(script, i) for script in scripts for i in range(args.repeat)]
    for script, _ in tqdm(runs, desc="benchmarks", unit="run"):
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        if done.returncode != 0:
            failed.append(f"{script.name}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
            continue
        for ratio in ratios(done.stdout):
            measured.setdefault(ratio.name, []).append(ratio)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = table(measured, args.repeat)
    if failed:
        text += "\nfailed runs:\n" + "".join(f"- {f}\n" for f in failed)
    args.out.write_text(text)
    print(text, end="")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
