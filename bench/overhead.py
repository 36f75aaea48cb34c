"""What orchestration costs: sweeps through Ray + MLflow vs their stages called directly.

Every ratio is against the same stage functions (`lynx_core.pipeline.run_stage`) called one
after another in one process on the same deduplicated plan (imports included, each run into
a fresh folder). The orchestrated time is `python -m ablations sweep` as a user runs it,
without its report (the tables, plots and findings it builds from MLflow at the end, timed by
the command itself): the direct run builds none, and they are not orchestration.

1. `overhead_arch`: the architecture sweep, Ray + MLflow / direct. Target <= 1.05.
2. `overhead_smoke_above_floor`: the smoke sweep, (Ray + MLflow - Ray's own floor) / direct.
   The floor is measured in the same run: a process that starts Ray as a sweep does
   (`ablations.execute.backends.start_ray`), runs one Tune trial that does nothing (a trial actor's
   start included), and stops Ray. No executor built on Ray can overlap a trial's work with
   those. Target <= 1.05.
3. `parallel_speedup`: two trials at a time vs one, on 2 CPUs, for a sweep of one variant
   with two seeds (two independent chains of equal cost, long enough that a trial outlasts a
   trial actor's start: ~10 s of imports here). Over the trials' span in the store (first
   attempt started to last manifest written), which includes starting the second actor but
   not Ray's own start; the whole-process ratio is printed beside it. Target >= 1.6.

Prints each timing, then the three ratios; the last line is `overhead_smoke_above_floor`.
`--no-arch` and `--no-parallel` skip those parts (the arch part takes ~8 minutes here).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lynx_core.stages import STAGES

REPO = Path(__file__).resolve().parents[1]
OVERHEAD_TARGET, SPEEDUP_TARGET = 1.05, 1.6
REPORT_TIME = re.compile(r"files in ([0-9.]+) s")  # the sweep command's own report timing

# two independent chains of equal cost, long enough that a trial outlasts an actor's start
PARALLEL_SWEEP = """name: parallel
scale: tiny
base:
  train.bases.steps: 10
  train.stage1.steps: 600
  train.stage2.steps: 1200
seeds: [0, 1]
resources:
  cpus: 1
"""


def trial_span(results: Path) -> float:
    """Seconds from the first stage attempt's start to the last stage's manifest."""
    starts, ends = [], []
    folders = [f for stage in STAGES for f in (results / "store" / stage).glob("*")]
    for folder in folders:  # stage runs only (the store also holds the shared cache)
        attempts = (folder / "attempts.jsonl").read_text().splitlines()
        starts.append(min(json.loads(line)["started_at"] for line in attempts))
        ends.append(json.loads((folder / "manifest.json").read_text())["finished_at"])
    return max(ends) - min(starts)


def direct(sweep: str, out: Path) -> None:
    """The stage functions, serially in this process, on the sweep's deduplicated plan."""
    import torch

    from ablations.planning.plan import make_plan
    from ablations.sweep.spec import load_sweep
    from lynx_core.pipeline import run_stage

    torch.set_num_threads(1)  # as each trial does with its 1 CPU
    spec = load_sweep(REPO / "sweeps" / f"{sweep}.yaml")
    plan = make_plan(spec.expand(), spec.resources.gpus_by_stage())
    for run in plan.runs.values():
        folders = {stage: out / stage / key for stage, key in run.chain.items()}
        run_stage(run.stage, run.config, folders, out / "cache")


def ray_floor() -> None:
    """Ray's start, one no-op Tune trial and Ray's stop, timed; printed as JSON."""
    import ray
    from ray import tune

    from ablations.execute.backends import start_ray

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    started = time.perf_counter()
    start_ray(None)
    ready = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_config = tune.RunConfig(storage_path=tmp, verbose=0)
        tune.Tuner(lambda config: tune.report({"done": 1}), run_config=run_config).fit()
    fitted = time.perf_counter()
    ray.shutdown()
    stopped = time.perf_counter()
    floor = {"start": ready - started, "trial": fitted - ready, "stop": stopped - fitted}
    print(json.dumps(floor))


def run_checked(command: list[str]) -> str:
    """The command's stdout; exits with its output when it fails."""
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    run_checked(command)
    return time.perf_counter() - started


def orchestrated(sweep: str, results: Path, *extra: str) -> tuple[float, float]:
    """Wall time of `python -m ablations sweep`, and of the report it built at the end."""
    started = time.perf_counter()
    out = run_checked(sweep_command(sweep, results, *extra))
    wall = time.perf_counter() - started
    return wall, float(REPORT_TIME.findall(out)[-1])


def direct_time(sweep: str, out: Path) -> float:
    return timed([sys.executable, __file__, "--direct", sweep, str(out)])


def sweep_command(sweep: str, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ablations", "sweep", sweep, "--results", str(results), *extra]


def overhead(sweep: str, root: Path) -> tuple[float, float]:
    """(orchestrated without its report, direct) seconds of one sweep, printed."""
    t_direct = direct_time(sweep, root / f"{sweep}-direct")
    t_ray, t_report = orchestrated(sweep, root / f"{sweep}-orchestrated")
    print(
        f"{sweep} sweep: direct {t_direct:.1f} s; Ray + MLflow {t_ray - t_report:.1f} s "
        f"(+{t_report:.1f} s of report: {t_ray:.1f} s in all)"
    )
    return t_ray - t_report, t_direct


def parallel_speedup(root: Path) -> float:
    sweep = root / "parallel.yaml"
    sweep.write_text(PARALLEL_SWEEP)
    t_serial = timed(sweep_command(str(sweep), root / "serial", "--max-concurrent", "1"))
    t_parallel = timed(sweep_command(str(sweep), root / "parallel"))
    span_serial, span_parallel = trial_span(root / "serial"), trial_span(root / "parallel")
    print(
        f"2 seeds on 2 CPUs, one trial at a time vs two: trials {span_serial:.1f} s vs "
        f"{span_parallel:.1f} s; whole process {t_serial:.1f} s vs {t_parallel:.1f} s "
        f"(ratio {t_serial / t_parallel:.2f})"
    )
    return span_serial / span_parallel


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--direct", nargs=2, metavar=("SWEEP", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-arch", action="store_true", help="skip the arch part")
    parser.add_argument("--no-parallel", action="store_true", help="skip the speed-up part")
    args = parser.parse_args()
    if args.direct:
        direct(args.direct[0], Path(args.direct[1]))
        return
    if args.floor:
        ray_floor()
        return

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not args.no_parallel:
            speedup = parallel_speedup(root)
            lines.append(f"parallel_speedup ratio={speedup:.2f} target>={SPEEDUP_TARGET}")
        if not args.no_arch:
            t_ray, t_direct = overhead("arch", root)
            lines.append(f"overhead_arch ratio={t_ray / t_direct:.2f} target<={OVERHEAD_TARGET}")
        t_ray, t_direct = overhead("smoke", root)
        floor = json.loads(run_checked([sys.executable, __file__, "--floor"]).splitlines()[-1])
        fixed = sum(floor.values())
        print(
            f"Ray alone: start {floor['start']:.1f} s, one no-op trial {floor['trial']:.1f} s, "
            f"stop {floor['stop']:.1f} s; smoke without them {t_ray - fixed:.1f} s"
        )
        above = (t_ray - fixed) / t_direct
        lines.append(f"overhead_smoke_above_floor ratio={above:.2f} target<={OVERHEAD_TARGET}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
