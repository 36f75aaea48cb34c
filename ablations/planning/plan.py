"""The plan: each variant as a chain of stage runs, identical runs shared between variants.

A stage run's key hashes the config fields that stage reads (`lynx_core.stages`) plus its
parent's key (and the stage code's version), so two variants share a run exactly when
everything up to that stage is equal:
every variant of a seed shares the bases, and variants that differ only in stage-2 or eval
settings share one stage-1 run. The user's own data files (training files, an evaluation
suite) are keyed by their current sizes and modification times too, and the stages that
compute on the trial's device by the runtime they resolve to ('cpu fp32', 'cuda bf16').
No Ray, no writes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ablations.sweep.variant import Variant
from lynx_core.config import VariantConfig
from lynx_core.digests import digest_files
from lynx_core.stages import (
    ON_DEVICE,
    PARENT,
    STAGE_VERSION,
    STAGES,
    Stage,
    data_versions,
    planned_runtime,
    stage_inputs,
)

KEY_LENGTH = 12


def stage_key(stage: Stage, inputs: dict[str, Any], parent_key: str | None) -> str:
    payload = json.dumps(
        {"stage": stage, "version": STAGE_VERSION[stage], "inputs": inputs, "parent": parent_key},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:KEY_LENGTH]


@dataclass(frozen=True)
class StageRun:
    """One unit of compute: a stage of some variants' chains, run once for all of them."""

    stage: Stage
    key: str
    chain: dict[Stage, str]  # this run's and its ancestors' keys
    config: VariantConfig  # a user's config; equal to every user's on all fields read here
    inputs: dict[str, Any]  # the fields this stage itself reads

    @property
    def id(self) -> str:
        return f"{self.stage}/{self.key}"

    @property
    def parent_id(self) -> str | None:
        parent = PARENT[self.stage]
        return None if parent is None else f"{parent}/{self.chain[parent]}"


@dataclass(frozen=True)
class Plan:
    variants: list[Variant]
    chains: dict[str, dict[Stage, str]]  # variant name → stage → key
    runs: dict[str, StageRun]  # run id → run, stage by stage in variant order

    def level(self, stage: Stage) -> list[StageRun]:
        return [run for run in self.runs.values() if run.stage == stage]

    def users(self, run_id: str) -> list[str]:
        """Names of the variants whose chain contains the run."""
        stage, key = run_id.split("/")
        return [name for name, chain in self.chains.items() if chain[stage] == key]

    def run_of(self, variant: str, stage: Stage) -> StageRun:
        return self.runs[f"{stage}/{self.chains[variant][stage]}"]

    def only(self, names: set[str]) -> Plan:
        """The part of this plan that the named variants need."""
        chains = {name: chain for name, chain in self.chains.items() if name in names}
        needed = {f"{stage}/{key}" for chain in chains.values() for stage, key in chain.items()}
        return Plan(
            [v for v in self.variants if v.name in names],
            chains,
            {run_id: run for run_id, run in self.runs.items() if run_id in needed},
        )

    def counts(self) -> dict[Stage, tuple[int, int]]:
        """(unique runs, naive runs = one per variant) for each stage."""
        return {stage: (len(self.level(stage)), len(self.chains)) for stage in STAGES}


def make_plan(variants: list[Variant], gpus: float | Mapping[Stage, float] = 0.0) -> Plan:
    """The variants' chains and unique stage runs, for trials given `gpus` GPUs each (per
    stage, given a mapping: `Resources.gpus_by_stage`)."""
    gpus_of = gpus if isinstance(gpus, Mapping) else dict.fromkeys(STAGES, gpus)
    chains: dict[str, dict[Stage, str]] = {}
    runs: dict[str, StageRun] = {}
    digest = functools.cache(digest_files)  # a shared eval suite is walked once, not per variant
    for stage in STAGES:
        for variant in variants:
            chain = chains.setdefault(variant.name, {})
            parent = PARENT[stage]
            inputs = stage_inputs(variant.config, stage)
            versions = data_versions(variant.config, stage, digest)
            if versions:  # the user's data files as they are now, not just their paths
                inputs = {**inputs, "data_versions": versions}
            if stage in ON_DEVICE:  # a CPU fp32 result is never reused on a GPU in bf16
                runtime = planned_runtime(variant.config.train, gpus_of[stage] > 0)
                inputs = {**inputs, "runtime": runtime}
            key = stage_key(stage, inputs, chain[parent] if parent else None)
            chain[stage] = key
            run_id = f"{stage}/{key}"
            if run_id not in runs:
                runs[run_id] = StageRun(stage, key, dict(chain), variant.config, inputs)
    return Plan(variants, chains, runs)
