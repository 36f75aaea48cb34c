"""What orchestration costs: the smoke sweep through Ray + MLflow vs its stages called directly.

1. Overhead: `python -m ablations sweep smoke` (local Ray started, MLflow sqlite store
   created, Tune trials, tracking) against one process that runs the same stage functions
   (`lynx_core.pipeline.run_stage`) on the same plan one after another. Both are timed as whole
   processes, imports included, each into a fresh folder. Target: orchestrated/direct <= 1.15.
2. Parallel speed-up: two trials at a time vs one, on 2 CPUs, for a sweep of one variant
   with two seeds (two independent chains of equal cost). The ratio is over the trials' span
   in the store (first attempt started → last manifest written), which includes starting the
   second trial actor but not Ray's own start (that is part 1); the whole-process ratio is
   printed beside it. Target >= 1.6.

Prints each timing, then the two ratios; the last line is the overhead ratio. Orchestration's
cost is mostly fixed (Ray's start, a trial actor's start, Tune's and Ray's shutdown), so the
ratio falls as the work grows: `--sweep arch --max-concurrent 1 --no-parallel` measures it on
the toy architecture sweep, one trial at a time as the direct run computes.

Ray's own floor is measured in the same run: a process that starts Ray as a sweep does
(`ablations.backends.start_ray`), runs one Tune trial that does nothing, and stops Ray. No
executor built on Ray can overlap a trial's work with Ray's start (there is no worker to run it
yet) or with Ray's stop (it follows the last trial), so `(direct + start + stop) / direct` is
the lowest overhead ratio reachable on this machine for this sweep; it is printed beside the
measured one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lynx_core.stages import STAGES

REPO = Path(__file__).resolve().parents[1]
OVERHEAD_TARGET, SPEEDUP_TARGET = 1.15, 1.6

# two independent chains of equal cost, long enough that a trial outlasts an actor's start
PARALLEL_SWEEP = """name: parallel
scale: tiny
base:
  train.bases.steps: 10
  train.stage1.steps: 200
  train.stage2.steps: 400
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

    from ablations.plan import make_plan
    from ablations.spec import load_sweep
    from lynx_core.pipeline import run_stage

    torch.set_num_threads(1)  # as each trial does with its 1 CPU
    spec = load_sweep(REPO / "sweeps" / f"{sweep}.yaml")
    plan = make_plan(spec.expand(), spec.resources.gpus)
    for run in plan.runs.values():
        folders = {stage: out / stage / key for stage, key in run.chain.items()}
        run_stage(run.stage, run.config, folders, out / "cache")


def ray_floor() -> None:
    """Ray's start, one no-op Tune trial and Ray's stop, timed; printed as JSON."""
    import ray
    from ray import tune

    from ablations.backends import start_ray

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


def sweep_command(sweep: str, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ablations", "sweep", sweep, "--results", str(results), *extra]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--direct", nargs=2, metavar=("SWEEP", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sweep", default="smoke", help="sweep of the overhead part (smoke)")
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="overhead part: trials at a time"
    )
    parser.add_argument("--no-parallel", action="store_true", help="skip the speed-up part")
    args = parser.parse_args()
    if args.direct:
        direct(args.direct[0], Path(args.direct[1]))
        return
    if args.floor:
        ray_floor()
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        concurrency = (
            [] if args.max_concurrent is None else ["--max-concurrent", str(args.max_concurrent)]
        )
        t_direct = timed([sys.executable, __file__, "--direct", args.sweep, str(root / "direct")])
        t_ray = timed(sweep_command(args.sweep, root / "orchestrated", *concurrency))
        floor = json.loads(run_checked([sys.executable, __file__, "--floor"]).splitlines()[-1])
        print(
            f"{args.sweep} sweep: direct {t_direct:.1f} s, Ray + MLflow {t_ray:.1f} s "
            f"(orchestration costs {t_ray - t_direct:+.1f} s)"
        )
        fixed = floor["start"] + floor["stop"]
        print(
            f"Ray alone: start {floor['start']:.1f} s, one no-op trial {floor['trial']:.1f} s, "
            f"stop {floor['stop']:.1f} s; lowest reachable ratio here "
            f"{(t_direct + fixed) / t_direct:.2f}"
        )
        if args.no_parallel:
            print(f"overhead ratio={t_ray / t_direct:.2f} target<={OVERHEAD_TARGET}")
            return

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

    speedup = span_serial / span_parallel
    print(f"parallel_speedup ratio={speedup:.2f} target>={SPEEDUP_TARGET}")
    print(f"overhead ratio={t_ray / t_direct:.2f} target<={OVERHEAD_TARGET}")


if __name__ == "__main__":
    main()
