"""GPU-hours of a sweep before anything runs (`make plan`): per training stage, what the sweep
computes (its unique stage runs) against what it would without stage dedupe (every variant
its own chain); the difference is what dedupe saves.

GPU-hours = FLOPs / (the GPU's dense bf16 peak × MFU) / 3600, with each stage run's FLOPs
from `lynx_core.flops` (samples × per-sample FLOPs of that variant's own model). MFU, the
share of the peak a real run sustains, defaults to 40%: FSDP and Megatron report ~45% for
7B models on A100 and H100, and a stage here also runs a frozen tower and a small trainable
path whose kernels are less efficient. The bases (the user's weights at paper scale, CPU
minutes at toy scale) and evaluation (forward passes over a few thousand questions, well
under 1% of training at paper scale) are not estimated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ablations.planning.plan import Plan, StageRun, make_plan

if TYPE_CHECKING:
    from lynx_core.flops import ModelFlops, TrunkFlops

GPU_PEAK_BF16: dict[str, float] = {  # dense bf16 tensor-core FLOP/s, from the data sheets
    "a100": 312e12,
    "h100": 989e12,
    "h200": 989e12,
}
DEFAULT_GPU = "a100"
DEFAULT_MFU = 0.40
TRAINING: tuple[str, ...] = ("stage1", "stage2")


@dataclass(frozen=True)
class StageHours:
    stage: str
    unique_runs: int
    naive_runs: int
    unique_hours: float  # what the sweep computes
    naive_hours: float  # every variant its own chain

    @property
    def saved_hours(self) -> float:
        return self.naive_hours - self.unique_hours


class RunFlops:
    """FLOPs of a plan's stage runs, each model and tower built once on the meta device
    however many runs share it."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self._trunks: dict[str, TrunkFlops] = {}
        self._models: dict[str, ModelFlops] = {}
        self._runs: dict[str, float] = {}

    def __call__(self, run: StageRun) -> float:
        from lynx_core.flops import stage_flops  # torch: only once an estimate is asked for

        if run.id not in self._runs:
            self._runs[run.id] = stage_flops(run.config, run.stage, self._model(run).sample)
        return self._runs[run.id]

    def _model(self, run: StageRun) -> ModelFlops:
        from lynx_core.flops import ModelFlops, TrunkFlops, planning_copy

        model = planning_copy(run.config, self.vocab_size)  # weights' paths set aside
        key = json.dumps(model.model_dump(mode="json"), sort_keys=True)
        if key not in self._models:
            vision = json.dumps(model.vision.model_dump(mode="json"), sort_keys=True)
            if vision not in self._trunks:
                self._trunks[vision] = TrunkFlops(model.vision)
            self._models[key] = ModelFlops(run.config, self.vocab_size, self._trunks[vision])
        return self._models[key]


def gpu_hours(flops: float, gpu: str, mfu: float) -> float:
    return flops / (GPU_PEAK_BF16[gpu] * mfu) / 3600


def plan_hours(plan: Plan, flops: RunFlops, gpu: str, mfu: float) -> list[StageHours]:
    """Per training stage: runs and GPU-hours, unique against naive."""
    rows = []
    for stage in TRAINING:
        unique = plan.level(stage)  # type: ignore[arg-type]
        naive = [plan.run_of(v.name, stage) for v in plan.variants]  # type: ignore[arg-type]
        rows.append(
            StageHours(
                stage,
                len(unique),
                len(naive),
                sum(gpu_hours(flops(r), gpu, mfu) for r in unique),
                sum(gpu_hours(flops(r), gpu, mfu) for r in naive),
            )
        )
    return rows


def assumptions(gpu: str, mfu: float) -> str:
    """The estimate's premises, printed under its table."""
    from lynx_core.flops import TEXT_TOKENS

    tokens = ", ".join(f"{stage} {n}" for stage, n in TEXT_TOKENS.items())
    return (
        f"GPU-hours = FLOPs / ({gpu.upper()} bf16 peak {GPU_PEAK_BF16[gpu] / 1e12:.0f} TFLOP/s "
        f"x MFU {mfu:.0%}); FLOPs per sample = sum over weight matrices w of 2|w|·rows "
        "(forward) + 2|w|·rows where the gradient crosses w + 2|w|·rows where w trains "
        "(6N per token on a trainable path, 4N through the frozen LLM, 2N for the frozen "
        f"tower); text tokens per sample: {tokens}; bases and eval not estimated"
    )


def other_seeding(spec) -> tuple[str, Plan]:
    """The sweep's plan with its seeds the other way (`stage1_per_seed` flipped): what the
    choice costs or saves, its tuning runs planned alike."""
    other = spec.model_copy(update={"stage1_per_seed": not spec.stage1_per_seed})
    label = (
        "every seed retraining stage 1 (stage1_per_seed: true)"
        if spec.stage1_per_seed is False
        else "one stage 1 per variant for all its seeds (stage1_per_seed: false)"
    )
    candidates = other.tuning().expand() if other.tune else []
    return label, make_plan(candidates + other.expand(), spec.resources.gpus_by_stage())


def gpu_hours_table(plan, gpu: str, mfu: float, resources, other: tuple[str, Plan] | None = None):
    """The training stages' GPU-hours (`ablations.planning.cost`), unique runs against naive, and
    the wall-clock hours of one run on the GPUs its `resources` give it; `other`: the same
    sweep with its seeds the other way (`other_seeding`), its total beside."""
    from rich.table import Table

    from lynx_core.data.stage_data import vocabulary
    from lynx_core.model.llm import build_word_tokenizer

    toy_vocab = len(build_word_tokenizer(vocabulary()))  # the toy LLM's; a sized LLM has its own
    flops = RunFlops(toy_vocab)  # each model's FLOPs once, for both plans
    rows = plan_hours(plan, flops, gpu, mfu)
    table = Table(
        title=f"GPU-hours at {mfu:.0%} MFU on {gpu.upper()}", caption=assumptions(gpu, mfu)
    )
    columns = ("stage", "runs", "GPU-h (sweep)", "GPU-h without dedupe", "saved by dedupe")
    for column in (*columns, "hours per run (its GPUs)"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in rows:
        runs = f"{row.unique_runs} of {row.naive_runs}"
        cells = (row.unique_hours, row.naive_hours, row.saved_hours)
        ask = resources.of(row.stage)
        gpus = ask.workers * ask.gpus or 1  # `--gpu` on a CPU sweep: one GPU a run
        per_run = row.unique_hours / max(row.unique_runs, 1) / gpus
        table.add_row(row.stage, runs, *map(_hours, cells), f"{_hours(per_run)} ({gpus:g})")
    total = [sum(getattr(r, f) for r in rows) for f in ("unique_hours", "naive_hours")]
    table.add_row("total", "", _hours(total[0]), _hours(total[1]), _hours(total[1] - total[0]))
    if other is not None:
        label, other_plan = other
        theirs = plan_hours(other_plan, flops, gpu, mfu)
        runs = sum(r.unique_runs for r in theirs if r.stage == "stage1")
        hours = sum(r.unique_hours for r in theirs)
        table.add_row(f"with {label}", f"{runs} stage-1", _hours(hours), "", "")
    return table


def _hours(value: float) -> str:
    """Thousands grouped at paper scale; three significant digits at toy scale's seconds."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
