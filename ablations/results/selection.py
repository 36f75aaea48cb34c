"""Which variants each claim of the paper's conclusions chooses, by what they change against the
baseline: only fields that change a stage's result count (`lynx_core.stages`), a variant may
declare the claim it tests, task roles come from the task registry and training files'
declarations. Each selector returns the chosen groups and a sentence on how it chose."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ablations.results.study import Study
from ablations.sweep.reference import BASELINE_ROW, paper_figures
from lynx_core.config import VariantConfig
from lynx_core.data.convert.recipe import SOURCES
from lynx_core.data.world.tasks import TASKS


def config_changes(study: Study, group: str) -> dict[str, tuple[Any, Any]]:
    """What the variant changes against the baseline, in fields that change a result."""
    return study.differences(group, results_only=True)


def only_changes(study: Study, group: str, *prefixes: str) -> dict | None:
    """The variant's changes against the baseline if all of them are under `prefixes`."""
    changes = config_changes(study, group)
    if not changes or any(not k.startswith(prefixes) for k in changes):
        return None
    return changes


def other_groups(study: Study) -> list[str]:
    """Every variant of the sweep but the baseline, finished or not (a claim about every
    such variant is not supported by the ones that happened to finish)."""
    groups = dict.fromkeys(v.group for v in study.variants)
    return [g for g in groups if g != study.baseline]


def declared_for(study: Study, claim: str) -> list[str]:
    return [g for g in other_groups(study) if claim in study.variant(g).claims]


PAPER_FIELDS = {"openvqa/overall": "image_overall", "openvqa_video/overall": "video_overall"}


def paper_delta(study: Study, group: str, metric: str) -> float | None:
    figures, field_name = paper_figures(), PAPER_FIELDS.get(metric)
    row, base = figures.row(study.variant(group).paper_row), figures.row(BASELINE_ROW)
    if field_name is None or row is None or base is None or getattr(row, field_name) is None:
        return None
    return getattr(row, field_name) - getattr(base, field_name)


def baseline_config(study: Study) -> VariantConfig:
    return study.config(study.baseline)


# -- 2: data quality ------------------------------------------------------------------------------

QUANTITY_FACTOR = 4.0  # "large-scale": at least this many times the baseline's caption pairs


def caption_pairs(study: Study, group: str) -> float | None:
    """Stage 1's image–caption pairs, as the stage counted them (`stage1/pairs`), else as the
    config says for the generated world alone, else as the data recipe says for the released
    pair sets it names (their published URL counts; None: not known)."""
    counted = study.values(group, "stage1/pairs")
    if counted:
        return sum(counted.values()) / len(counted)
    captions = study.config(group).data.captions
    if not captions.files:
        return float(captions.images)
    published = [
        SOURCES[f.source_name].pairs if f.source_name in SOURCES else 0 for f in captions.files
    ]
    world = captions.images if captions.world_ratio > 0 else 0
    return float(sum(published) + world) if all(published) else None


def caption_quality(cfg: VariantConfig) -> str | None:
    """'noisy' if any stage-1 source is noisy, 'clean' if every one is clean, else None."""
    captions = cfg.data.captions
    kinds = [f.quality for f in captions.files]
    if captions.world_ratio > 0:
        kinds.append(captions.quality)
    if "noisy" in kinds:
        return "noisy"
    return "clean" if kinds and all(k == "clean" for k in kinds) else None


def is_filtered(cfg: VariantConfig) -> bool:
    captions = cfg.data.captions
    world = captions.world_ratio > 0 and captions.quality_filter
    return world or any(f.text_filter or f.clip_filter for f in captions.files)


def noisy_and_large(study: Study) -> tuple[list[str], str]:
    base = baseline_config(study)
    base_pairs = caption_pairs(study, study.baseline)
    if caption_quality(base) != "clean" or not base_pairs:
        return [], ""
    chosen, unknown = [], []
    for g in other_groups(study):
        cfg = study.config(g)
        if not only_changes(study, g, "data.captions.") or caption_quality(cfg) != "noisy":
            continue
        if is_filtered(cfg):
            continue  # filtering is another question (its own variant's compare_to)
        pairs = caption_pairs(study, g)
        if pairs is None:
            unknown.append(g)
        elif pairs >= QUANTITY_FACTOR * base_pairs:
            chosen.append(g)
    note = ""
    if unknown:
        note = (
            f"Not counted, their number of caption pairs unknown (no `stage1/pairs` recorded): "
            f"{', '.join(unknown)}."
        )
    return chosen, note


# -- 3: diverse prompts and tasks -----------------------------------------------------------------


def single_prompts(study: Study) -> tuple[list[str], str]:
    base = baseline_config(study)
    if base.data.prompts.mode != "diverse":
        return [], ""
    return [
        g
        for g in other_groups(study)
        if only_changes(study, g, "data.prompts.") and study.config(g).data.prompts.mode == "single"
    ], ""


def trained_tasks(cfg: VariantConfig) -> dict[str, float]:
    held_out = cfg.data.prompts.held_out_task
    return {t: r for t, r in cfg.data.mixture.items() if r > 0 and t != held_out}


def fewer_tasks(study: Study) -> tuple[list[str], str]:
    base = trained_tasks(baseline_config(study))
    return [
        g
        for g in other_groups(study)
        if only_changes(study, g, "data.mixture.")
        and set(trained_tasks(study.config(g))) < set(base)
    ], ""


# -- 4: correctness and generation ----------------------------------------------------------------

BALANCE_FACTOR = 1.5  # VQA odds at least this much lower or higher than the baseline's


def task_role(cfg: VariantConfig, task: str) -> str | None:
    """A stage-2 task's role: the generated world's from its registry, a file's as declared."""
    if task in TASKS:
        return TASKS[task].role
    files = {f.task_name: f.role for f in cfg.data.train_files}
    return files.get(task)


def vqa_odds(cfg: VariantConfig) -> float | None:
    """Downstream (VQA) examples per other example that stage 2 trains on (None: a task of
    the mixture has no declared role, so the balance is not known)."""
    roles = {t: task_role(cfg, t) for t in trained_tasks(cfg)}
    if None in roles.values():
        return None
    mixture = trained_tasks(cfg)
    vqa = sum(r for t, r in mixture.items() if roles[t] == "vqa")
    other = sum(r for t, r in mixture.items() if roles[t] != "vqa")
    return math.inf if other == 0 else vqa / other


def vqa_share(lower: bool) -> Callable[[Study], tuple[list[str], str]]:
    """Variants that reweigh the baseline's own tasks (none dropped or added, the steps the
    same), the VQA tasks' odds ≥ `BALANCE_FACTOR` times lower (or higher)."""

    def choose(study: Study) -> tuple[list[str], str]:
        base = baseline_config(study)
        reference = vqa_odds(base)
        if not reference or math.isinf(reference):
            return [], ""
        chosen, near, unknown = [], [], []
        for g in other_groups(study):
            cfg = study.config(g)
            if not only_changes(study, g, "data.mixture."):
                continue
            if set(trained_tasks(cfg)) != set(trained_tasks(base)):
                continue  # a task dropped or added: the fewer-tasks question, not the balance
            odds = vqa_odds(cfg)
            if odds is None:
                unknown.append(g)
                continue
            ratio = odds / reference
            if (ratio <= 1 / BALANCE_FACTOR) if lower else (ratio >= BALANCE_FACTOR):
                chosen.append(g)
            elif 1 / BALANCE_FACTOR < ratio < BALANCE_FACTOR:
                near.append(f"{g} ({ratio:.2f}×)")
        notes = []
        if near:
            notes.append(
                f"Reweighing the tasks by less than {BALANCE_FACTOR:g}× either way, so not "
                f"counted: {', '.join(near)}."
            )
        if unknown:
            notes.append(f"A training file's role undeclared (`role:`): {', '.join(unknown)}.")
        return chosen, " ".join(notes)

    return choose


# -- 5: prefix vs cross-attention -----------------------------------------------------------------

ARCH_FIELDS = ("model.arch", "model.cross_attention.", "model.llm.trainable", "model.llm.lora")


def cross_attention_variants(frozen_only: bool) -> Callable[[Study], tuple[list[str], str]]:
    def choose(study: Study) -> tuple[list[str], str]:
        if baseline_config(study).model.arch != "prefix":
            return [], ""
        chosen = []
        for g in other_groups(study):
            changes = only_changes(study, g, *ARCH_FIELDS)
            if not changes or "model.arch" not in changes:
                continue
            llm = study.config(g).model.llm
            if frozen_only and (llm.trainable or llm.lora is not None):
                continue
            chosen.append(g)
        return chosen, ""

    return choose


# -- 6: the paper's other ablation rows -----------------------------------------------------------


def plain_llm(study: Study) -> tuple[list[str], str]:
    chosen = []
    for g in other_groups(study):
        changes = only_changes(study, g, "model.llm.toy_base", "model.llm.path")
        toy = changes and changes.get("model.llm.toy_base") == ("vicuna", "llama")
        row = changes and study.variant(g).paper_row == "w/ LLaMA"
        if toy or row:
            chosen.append(g)
    return chosen, ""


def lower_resolution(study: Study) -> tuple[list[str], str]:
    size = baseline_config(study).model.vision.image_size
    return [
        g
        for g in other_groups(study)
        if only_changes(study, g, "model.vision.image_size")
        and study.config(g).model.vision.image_size < size
    ], ""
