"""Where each benchmark's files are, as explicit paths: evaluation reads these and knows no
folder layout. The released files a sweep names (`eval.openvqa_image`, …) replace the
suite's (the generated one, or a user's folder laid out like it:
`lynx_core.data.world.worldset`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from lynx_core.config import RELEASED, BenchmarkConfig, EvalConfig


@dataclass(frozen=True)
class Benchmark:
    """A question file (Open-VQA, OwlEval, POPE) or folder (MME, POPE's files), and the root
    of its media paths."""

    path: Path
    media_root: Path


@dataclass(frozen=True)
class Benchmarks:
    openvqa_image: Benchmark | None = None
    openvqa_video: Benchmark | None = None
    mme: Benchmark | None = None
    owleval: Benchmark | None = None
    pope: Benchmark | None = None
    descriptions: Path | None = None  # each Open-VQA image in words (the generated suite's)

    def present(self) -> dict[str, Benchmark]:
        return {n: b for n in RELEASED if (b := getattr(self, n)) is not None}


def released(name: str, cfg: BenchmarkConfig) -> Benchmark:
    """A released benchmark as named: its media under `media_root`, else beside its file
    (MME's release folder holds its own images)."""
    return Benchmark(cfg.path, cfg.media_root or (cfg.path if name == "mme" else cfg.path.parent))


def configured(cfg: EvalConfig, suite: Benchmarks) -> Benchmarks:
    """The suite's benchmarks with each one the config names replaced by it (the generated
    image descriptions only go with the generated Open-VQA image file)."""
    named = {name: released(name, b) for name, b in cfg.released.items()}
    chosen = replace(suite, **named)
    if "openvqa_image" in named:
        chosen = replace(chosen, descriptions=None)
    return chosen
