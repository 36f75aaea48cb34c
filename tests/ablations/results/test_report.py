"""Tables, plots and findings from a fabricated MLflow store with known per-seed numbers."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from ablations.planning.plan import make_plan
from ablations.results.calibration import CALIBRATION_EFFECTS
from ablations.results.choices import choice_note, read_tuning, tuning_cells, unsettled
from ablations.results.findings import findings
from ablations.results.report import build_report
from ablations.results.study import Study
from ablations.sweep.spec import load_sweep
from ablations.tracking.track import KEY, ROLE, SWEEP, VARIANT, SweepTracker

SWEEP_FILE = """name: fake
description: known numbers
baseline: lynx
seeds: [0, 1, 2]
variants:
  lynx: {paper_row: Lynx}
  w-cross-attn: {paper_row: "w/ cross-attn", model.arch: cross_attention}
  w-large-scale-noisy-data:
    paper_row: "w/ large-scale noisy data"
    data.captions: {quality: noisy, images: 5120}
  w-o-diverse-prompts: {paper_row: "w/o diverse prompts", data.prompts.mode: single}
  cross-attn-every-layer:
    compare_to: w-cross-attn
    model: {arch: cross_attention, cross_attention: {every: 4}}
"""
# per seed 0, 1, 2: the numbers each run reports
IMAGE = {
    "lynx": [70, 72, 74],
    "w-cross-attn": [40, 45, 41],  # far below: the paper's conclusion 5 holds
    "w-large-scale-noisy-data": [75, 76, 78],  # above: conclusion 2 does not
    "w-o-diverse-prompts": [69, 74, 72],  # within noise
    "cross-attn-every-layer": [43, 44, 46],  # vs w-cross-attn: +3, -1, +5
}
COMPLIANCE = {
    "lynx": [60, 62, 61],
    "w-cross-attn": [50, 52, 51],
    "w-large-scale-noisy-data": [61, 60, 62],
    "w-o-diverse-prompts": [59, 64, 60],  # deltas -1, +2, -1: conclusion 3 inconclusive
    "cross-attn-every-layer": [50, 51, 52],
}
LLM_GAP = [20, 25, 22]  # each variant's own LLM complies this much more: conclusion 1 holds
LOSS = {
    "lynx": [2.0, 2.1, 2.05],
    "w-cross-attn": [2.5, 2.62, 2.56],
    "cross-attn-every-layer": [2.4, 2.5, 2.45],
}


def metrics_of(group: str, seed: int) -> dict[str, float]:
    image, compliance = IMAGE[group][seed], COMPLIANCE[group][seed]
    ocr = round(image / 100 * 50)
    return {
        "openvqa/overall": image,
        "openvqa/OCR/correct": ocr,
        "openvqa/OCR/total": 50,
        "openvqa/OCR/acc": 100 * ocr / 50,
        "openvqa_video/overall": image - 10,
        "openvqa_video/Action_Y_N/correct": 30 + seed,
        "openvqa_video/Action_Y_N/total": 60,
        "openvqa_video/Action_Y_N/acc": 100 * (30 + seed) / 60,
        "mme/existence/score": 100 + image,
        "mme/perception": 100 + image,
        "compliance/overall": compliance,
        "compliance/detailed": compliance - 5,
        "compliance/detailed_words": 3 + seed,
        "llm_compliance/overall": compliance + LLM_GAP[seed],
        "stage2/final_loss": LOSS.get(group, [2.2, 2.3, 2.25])[seed],
        "stage2/val_loss_area": LOSS.get(group, [2.2, 2.3, 2.25])[seed] + 0.3,
    }


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory):
    """A sweep's MLflow store, written by the sweep's own tracker, with the numbers above."""
    root = tmp_path_factory.mktemp("fake")
    path = root / "fake.yaml"
    path.write_text(SWEEP_FILE)
    spec = load_sweep(path)
    results = root / "results"
    tracker = SweepTracker(spec, results)
    plan = make_plan(spec.expand())
    for variant in spec.expand():
        tracker.variant_run(variant, plan.chains[variant.name])
        final = metrics_of(variant.group, variant.seed)["stage2/final_loss"]
        curve = [
            {"stage": "stage2", "step": s, "loss": final + 1 - s / 20, "lr": 1e-3,
             "samples_per_s": 1.0}
            for s in (5, 10, 15, 20)
        ]  # fmt: skip
        tracker.log_records(variant.name, curve)
        tracker.finish(variant.name, metrics_of(variant.group, variant.seed), None)
    # a run of lynx-s0 under another config (the sweep was edited since): never counted
    stale = tracker.client.create_run(
        tracker.experiment_id,
        tags={ROLE: "variant", SWEEP: "fake", VARIANT: "lynx-s0", KEY: "0123456789ab"},
    )
    tracker.client.log_metric(stale.info.run_id, "openvqa/overall", 99.0)
    tracker.client.set_terminated(stale.info.run_id)
    return spec, results, build_report(spec, results)


def test_a_sweep_that_tunes_nothing_marks_no_verdict_as_turning_on_tuning(fabricated):
    _, _, report = fabricated
    assert "‡" not in (report.folder / "findings.md").read_text()


def t_interval(values: list[float]) -> tuple[float, float]:
    return stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))


def test_means_intervals_and_paired_deltas_are_students_t(fabricated):
    _, _, report = fabricated
    numbers = pd.read_csv(report.folder / "ablation.csv").set_index("variant")
    for group, values in IMAGE.items():
        row = numbers.loc[group]
        assert row["openvqa/overall/mean"] == pytest.approx(np.mean(values))  # not the stale 99
        low, high = t_interval(values)
        assert (row["openvqa/overall/low"], row["openvqa/overall/high"]) == pytest.approx(
            (low, high)
        )
        differences = [v - b for v, b in zip(values, IMAGE["lynx"], strict=True)]
        if group == "lynx":
            continue
        assert row["openvqa/overall/delta"] == pytest.approx(np.mean(differences))
        low, high = t_interval(differences)
        assert row["openvqa/overall/delta_low"] == pytest.approx(low)
        assert row["openvqa/overall/delta_high"] == pytest.approx(high)
        assert bool(row["openvqa/overall/within_noise"]) == (low <= 0 <= high)
    marks = numbers["openvqa/overall/within_noise"]
    assert not marks["w-cross-attn"] and not marks["w-large-scale-noisy-data"]
    assert marks["w-o-diverse-prompts"]


def test_the_ablation_table_marks_noise_and_shows_the_papers_numbers(fabricated):
    _, _, report = fabricated
    table = (report.folder / "ablation.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("|")}
    assert "3 seeds and the evaluation items (Student t" in table and "paired by seed" in table
    assert "Benjamini–Hochberg" in table  # the marks are controlled across the table
    half = (t_interval(IMAGE["lynx"])[1] - t_interval(IMAGE["lynx"])[0]) / 2
    assert f"| 72.0 ± {half:.1f} " in rows["lynx"]
    assert "-30.0 ±" in rows["w-cross-attn"] and "†" not in rows["w-cross-attn"].split("|")[4]
    assert "†" in rows["w-o-diverse-prompts"].split("|")[4]  # Δ image Overall: within noise
    assert "31.79 (-44.37)" in rows["w-cross-attn"]  # the paper's row and its difference
    assert "model.arch=cross_attention" in rows["w-cross-attn"]  # the settings column
    # a variant naming another in compare_to is compared with it too: +3, -1, +5 → 2.3 ± 7.6
    differences = [3, -1, 5]
    half = (t_interval(differences)[1] - t_interval(differences)[0]) / 2
    assert f"vs w-cross-attn: +2.3 ± {half:.1f} †" in rows["cross-attn-every-layer"]
    latex = (report.folder / "ablation.tex").read_text()
    assert "\\toprule" in latex and "\\midrule" in latex and "$\\pm$" in latex


def test_openvqa_tables_put_the_papers_row_under_ours(fabricated):
    _, _, report = fabricated
    lines = (report.folder / "openvqa_image.md").read_text().splitlines()
    ours = next(i for i, line in enumerate(lines) if "ours: w-cross-attn " in line)
    assert "↳ paper: w/ cross-attn" in lines[ours + 1] and "13/53" in lines[ours + 1]
    assert "31.79" in lines[ours + 1]
    assert any("paper: InstructBLIP" in line and "74.50" in line for line in lines)
    assert "| 36.0/50 " in next(line for line in lines if "ours: lynx " in line)  # OCR mean
    video = (report.folder / "openvqa_video.md").read_text()
    assert "31.0/60" in video and "↳ paper: Lynx" in video and "69/108" in video


def test_each_verdict_follows_the_data(fabricated):
    spec, results, report = fabricated
    verdicts = {f.number: f.summary for f in report.findings}
    assert verdicts == {
        1: "agrees (1 of 1 claims tested)",  # the baseline's own LLM follows them better
        2: "disagrees (1 of 1 claims tested)",  # the noisy captions scored higher
        3: "inconclusive (1 of 2 claims tested)",  # single prompts within noise; no task dropped
        4: "not tested",  # no variant reweighs the VQA tasks
        5: "agrees (2 of 2 claims tested)",  # cross-attention lower, learning slower
        6: "not tested",  # no LLaMA or low-resolution variant
    }
    three = report.findings[2]
    assert [c.verdict for c in three.claims] == ["inconclusive", "not tested"]
    (gap,) = report.findings[0].claims[0].comparisons  # the baseline against its own LLM
    assert gap.variant == "lynx" and gap.delta.value == pytest.approx(-np.mean(LLM_GAP))
    cross = report.findings[4].claims[0].comparisons
    assert [c.variant for c in cross] == ["w-cross-attn", "cross-attn-every-layer"]
    # no per-question records in this store: each interval is the plain 95% t over seeds
    differences = [v - b for v, b in zip(IMAGE["w-cross-attn"], IMAGE["lynx"], strict=True)]
    low, high = t_interval(differences)
    assert (cross[0].delta.low, cross[0].delta.high) == pytest.approx((low, high))
    # a claim about every variant: its p is the larger of theirs, then Holm over the claims
    claim = report.findings[4].claims[0]
    assert claim.raw_p(-1) == pytest.approx(max(c.delta.p_value for c in cross))
    tested = [c for f in report.findings for c in f.claims if c.comparisons]
    ps = sorted(c.raw_p(c.direction) for c in tested)
    rank = ps.index(claim.raw_p(-1))
    holm_bound = max((len(ps) - r) * ps[r] for r in range(rank + 1))
    assert claim.p_for == pytest.approx(min(holm_bound, 1.0))
    (noisy,) = report.findings[1].claims[0].comparisons
    assert noisy.variant == "w-large-scale-noisy-data" and noisy.paper == pytest.approx(-3.31)
    text = (report.folder / "findings.md").read_text()
    assert (
        "| 2 | Data quality matters more than quantity. | **disagrees (1 of 1 claims tested)** |"
        in text
    )
    assert "| 4 | Correctness and generation" in text and "**not tested** |" in text
    assert findings(Study.load(spec, results)) == report.findings  # from MLflow alone, again


def test_plots_readme_and_the_parent_runs_artifacts(fabricated):
    spec, results, report = fabricated
    plots = {p.name for p in (report.folder / "plots").glob("*.png")}
    assert plots == {"deltas.png", "classes.png", "curves_stage2.png", "tradeoff.png"}
    for png in (report.folder / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (report.folder / "README.md").read_text()
    for name in ("findings.md", "ablation.md", "mme.md", "plots/deltas.png", "plots/tradeoff.png"):
        assert f"[{name}]({name}):" in readme
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    logged = {a.path for a in client.list_artifacts(report.logged_to, "report")}
    assert {"report/findings.md", "report/ablation.tex", "report/plots"} <= logged


def test_one_seed_intervals_are_paired_bootstraps_over_questions(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text(
        "name: one\nbaseline: lynx\nvariants:\n  lynx: {}\n"
        "  w-cross-attn: {model.arch: cross_attention}\n  twin: {model.resampler.depth: 2}\n"
    )
    spec = load_sweep(path)
    results = tmp_path / "results"
    tracker = SweepTracker(spec, results)
    plan = make_plan(spec.expand())
    right = {"lynx": 140, "w-cross-attn": 100, "twin": 140}  # of 200 questions
    for variant in spec.expand():
        tracker.variant_run(variant, plan.chains[variant.name])
        out = tmp_path / variant.name
        out.mkdir()
        records = [
            {"split": "openvqa", "media": i, "question": f"q{i}", "class": "OCR",
             "correct": i < right[variant.name]}
            for i in range(200)
        ]  # fmt: skip
        (out / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        overall = 100 * right[variant.name] / 200
        tracker.finish(variant.name, {"openvqa/overall": overall}, out)
    report = build_report(spec, results)
    numbers = pd.read_csv(report.folder / "ablation.csv").set_index("variant")
    assert (numbers["openvqa/overall/interval"] == "bootstrap").all()
    cross = numbers.loc["w-cross-attn"]
    assert cross["openvqa/overall/delta"] == pytest.approx(-20)
    half = (cross["openvqa/overall/delta_high"] - cross["openvqa/overall/delta_low"]) / 2
    assert half == pytest.approx(1.96 * math.sqrt(0.16 / 200) * 100, rel=0.15)
    assert not cross["openvqa/overall/within_noise"]
    twin = numbers.loc["twin"]  # the same answers: no difference, and no doubt about it
    assert twin["openvqa/overall/delta"] == 0 and twin["openvqa/overall/within_noise"]
    assert (
        "one seed: every interval is a paired bootstrap"
        in (report.folder / "ablation.md").read_text()
    )
    evidence = pd.read_csv(report.folder / "evidence.csv").set_index("variant")
    row = evidence.loc["w-cross-attn"]  # one seed: the items' noise only, and no verdict
    assert row["openvqa/overall/method"] == "bootstrap" and row["openvqa/overall/seeds"] == 1
    assert math.isnan(row["openvqa/overall/mde"])
    (cross,) = findings(report.study)[4].claims[0].comparisons
    assert cross.verdict == "too few seeds" and not cross.delta.within_noise


def test_a_store_copied_without_its_artifacts_still_gives_every_table(fabricated, tmp_path):
    """`make tables` on a cluster's MLflow database alone (its artifact store out of reach
    here): the tables, plots and findings come from the database; only the upload of them
    as the parent run's artifacts is skipped."""
    spec, results, report = fabricated
    copy = tmp_path / "copied"
    copy.mkdir()
    shutil.copy(results / "mlflow.db", copy / "mlflow.db")
    unreachable = "file:///etc/hostname/artifacts"  # under a file: no folder can be made
    with sqlite3.connect(copy / "mlflow.db") as db:
        db.execute("UPDATE experiments SET artifact_location = ?", (unreachable,))
        db.execute("UPDATE runs SET artifact_uri = ? || '/' || run_uuid", (unreachable,))
    done = subprocess.run(  # a process of its own, as `make tables` is (MLflow caches repos)
        [sys.executable, "-m", "ablations", "tables", spec.source, "--results", str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tables, plots, findings:" in done.stdout and "logged to" not in done.stdout
    for name in ("ablation.md", "openvqa_image.md", "findings.md"):
        assert (copy / "fake" / name).read_text() == (report.folder / name).read_text()


def test_calibrate_measures_the_sweeps_own_noise_and_says_how_often_its_verdicts_err(
    fabricated, tmp_path
):
    """`make calibrate`: the spread comes from the store (here per-seed numbers without
    per-question records, so all of it is the seeds'), and every conclusion gets its rates."""
    spec, results, _ = fabricated
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    done = subprocess.run(
        [sys.executable, "-m", "ablations", "calibrate", spec.source, "--results", str(copy),
         "--studies", "30"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    text = (copy / "fake" / "calibration.md").read_text()
    diffs = [np.subtract(IMAGE[g], IMAGE["lynx"]) for g in IMAGE if g != "lynx"]
    seed_sd = math.sqrt(np.mean([np.var(d, ddof=1) for d in diffs]))  # shared seed 0.5
    image_row = next(line for line in text.splitlines() if line.startswith("| openvqa/overall"))
    assert f"{seed_sd:.3g}" in image_row, image_row
    rates = [line for line in text.splitlines() if line.startswith("|") and "%" in line]
    assert len(rates) == len(CALIBRATION_EFFECTS) * 6  # every effect × the six conclusions
    assert {-16.0, 16.0} <= set(CALIBRATION_EFFECTS)  # the paper's way and the other


def test_evidence_plans_seeds_and_names_where_the_seeds_spread_comes_from(fabricated):
    """Per comparison: the paired seeds that would bring its MDE to the target (more than it
    has where the MDE misses it), and each Open-VQA class's share of the seeds' spread (the
    fabricated image Overall is its OCR class alone: all of it)."""
    _, _, report = fabricated
    evidence = pd.read_csv(report.folder / "evidence.csv").set_index("variant")
    row = evidence.loc["w-cross-attn"]  # differences -30, -27, -33 over 3 seeds
    planned = row["openvqa/overall/seeds_for_target"]
    assert row["openvqa/overall/mde"] > row["openvqa/overall/mde_target"]
    assert planned > 3
    assert row["openvqa/overall/spread_share/OCR"] == pytest.approx(1.0)
    text = (report.folder / "evidence.md").read_text()
    assert "image seed spread from" in text and "OCR 100%" in text
    assert "paired seeds would bring every one to it" in text or "no number of seeds" in text


def test_every_evaluated_headline_of_the_tables_is_one_evaluation_refuses_as_nan():
    """The tables' headlines that evaluation scores (training metrics aside) fail the eval
    stage when not a number (`lynx_core.evaluate.finite`), so no table row holds a NaN
    as a result."""
    from ablations.results.tables import HEADLINES
    from lynx_core.evaluate.finite import HEADLINE_METRICS

    scored = {"openvqa", "openvqa_video", "mme", "compliance", "hallucination"}
    evaluated = {h.metric for h in HEADLINES if h.metric.split("/")[0] in scored}
    assert evaluated and evaluated <= set(HEADLINE_METRICS)


def test_curves_go_log_where_early_steps_would_flatten_the_rest_and_close_points_share_a_label():
    from ablations.results.plots import _loss_scale, _near

    assert _loss_scale([{0: [(1, 9.0), (100, 2.0)]}]) == "log"  # a factor 4.5
    assert _loss_scale([{0: [(1, 2.8), (100, 2.0)]}]) == "linear"
    assert _loss_scale([{0: [(1, 2.0), (100, -1.0)]}]) == "linear"  # not all positive
    labels = _near([(4.0, 72.0), (4.0, 42.0), (4.0, 76.33), (4.0, 71.67), (4.0, 44.33)])
    assert sorted(numbers for _, numbers in labels) == [[1, 4], [2], [3], [5]]


TUNED_FILE = """name: tuned
baseline: lynx
seeds: [0, 1]
variants:
  lynx: {}
  cross: {model.arch: cross_attention}
tune:
  variants: [lynx, cross]
  values: {train.stage2.lr: [0.0001, 0.001, 0.01]}
  seed_count: 2
"""
# per candidate, its right answers (of 200) on tuning seeds 2 and 3: lynx's best two are a
# question or three apart, cross's best stands out
TUNED_RIGHT = {
    "lynx.tune0": (100, 104),
    "lynx.tune1": (150, 152),
    "lynx.tune2": (147, 151),
    "cross.tune0": (60, 62),
    "cross.tune1": (120, 121),
    "cross.tune2": (80, 82),
}


def record_candidates(tmp_path, spec, right) -> Study:
    """The tuning candidates' runs of `spec`, each answering 200 validation questions about
    50 images, the first `right[group][i]` right on its i-th tuning seed; the study after."""
    candidates = spec.tuning()
    results = tmp_path / "results"
    tracker = SweepTracker(candidates, results)
    plan = make_plan(candidates.expand())
    for variant in candidates.expand():
        tracker.variant_run(variant, plan.chains[variant.name], role="tuning")
        count = right[variant.group][spec.tuning_seeds.index(variant.seed)]
        out = tmp_path / variant.name
        out.mkdir()
        records = [
            {"split": "openvqa", "media": i // 4, "question": f"q{i}", "class": "OCR",
             "correct": i < count}
            for i in range(200)
        ]  # fmt: skip
        (out / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        metrics = {"openvqa/overall": 100 * count / 200, "stage2/val_loss_area": 3 - count / 200}
        tracker.finish(variant.name, metrics, out)
    return Study.load(spec, results)


def test_tuning_md_says_which_choices_the_noise_cannot_tell_from_another_candidate(tmp_path):
    """A choice made by a question or two is not a choice the data make: tuning.md pairs each
    candidate with its variant's choice over the tuning seeds and questions, as the study's
    comparisons are, and says which choices another candidate is within the noise of."""
    path = tmp_path / "tuned.yaml"
    path.write_text(TUNED_FILE)
    spec = load_sweep(path)
    assert spec.tuning_seeds == [2, 3]
    study = record_candidates(tmp_path, spec, TUNED_RIGHT)
    assert study.spec.choices == {
        "lynx": {"train.stage2.lr": 0.001},
        "cross": {"train.stage2.lr": 0.001},
    }
    numbers = read_tuning(study).numbers.set_index(["variant", "candidate"])
    lynx_close = numbers.loc[("lynx", 2)]  # (147 − 150, 151 − 152) / 2: −1.0 over two seeds
    assert lynx_close["vs chosen"] == pytest.approx(-1.0)
    assert lynx_close["vs chosen method"] == "seeds+items"
    assert lynx_close["vs chosen low"] < 0 < lynx_close["vs chosen high"]
    assert numbers.loc[("cross", 2), "vs chosen high"] < 0  # 20 points below: it stands out
    assert math.isnan(numbers.loc[("lynx", 1), "vs chosen"])  # the choice itself
    note = choice_note(numbers.reset_index(), study.spec)
    assert note.startswith("**Within noise** (95%, paired over the tuning seeds")
    assert "): lynx chose train.stage2.lr=0.001, but " in note
    assert "train.stage2.lr=0.01 (-1.00 ±" in note and "cross" not in note
    assert set(unsettled(numbers.reset_index(), ["train.stage2.lr"])) == {"lynx"}
    apart = numbers.reset_index()
    apart = apart[apart["variant"] == "cross"]
    assert choice_note(apart, study.spec).startswith("Each choice scored above every other")
    cells = tuning_cells(numbers.reset_index())
    assert "vs chosen low" not in cells and cells["vs chosen"].str.contains("†").sum() == 1


def test_one_tuning_seed_tells_no_choice_from_another(tmp_path):
    """One seed's intervals hold the questions' noise alone: 20 points apart on 200 questions
    is beyond it, and still no verdict on the rate, as the study draws none from one seed."""
    path = tmp_path / "one.yaml"
    path.write_text(TUNED_FILE.replace("  seed_count: 2\n", ""))
    spec = load_sweep(path)
    assert spec.tuning_seeds == [2]
    study = record_candidates(tmp_path, spec, TUNED_RIGHT)
    numbers = read_tuning(study).numbers
    cross = numbers[(numbers["variant"] == "cross") & (numbers["candidate"] == 2)].iloc[0]
    assert cross["vs chosen"] == pytest.approx(-20.0) and cross["vs chosen high"] < 0
    assert cross["vs chosen method"] == "bootstrap"
    assert choice_note(numbers, study.spec).startswith("**One tuning seed**")
    told = unsettled(numbers, ["train.stage2.lr"])  # so a verdict on either inherits it
    assert set(told) == {"lynx", "cross"} and "one tuning seed" in told["cross"]


def test_findings_mark_each_verdict_that_turns_on_a_choice_its_tuning_did_not_settle(tmp_path):
    """lynx's tuning did not tell 0.001 from 0.01 (a question or so apart); cross's choice
    stands out. Claim 5 sets cross at its choice against lynx at its own, so its verdict
    turns on lynx's unsettled choice and findings.md says so; claim 2 sets two runs at
    lynx's choice against each other (the noisy variant takes it), and is not marked."""
    path = tmp_path / "tuned.yaml"
    noisy = "  noisy: {data.captions: {quality: noisy, images: 5120}}\ntune:"
    path.write_text(TUNED_FILE.replace("tune:", noisy, 1))
    spec = load_sweep(path)
    chosen = record_candidates(tmp_path, spec, TUNED_RIGHT).spec
    assert spec.chooser("noisy") == "lynx" and spec.chooser("cross") == "cross"
    tracker = SweepTracker(chosen, tmp_path / "results")
    plan = make_plan(chosen.expand())
    image = {"lynx": [70, 72], "cross": [40, 45], "noisy": [60, 61]}
    for variant in chosen.expand():
        tracker.variant_run(variant, plan.chains[variant.name])
        score = image[variant.group][variant.seed]
        metrics = {"openvqa/overall": score, "stage2/val_loss_area": 3 - score / 100}
        tracker.finish(variant.name, metrics, None)
    report = build_report(spec, tmp_path / "results")
    text = (report.folder / "findings.md").read_text()
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert rows["| 5"].endswith("‡ |") and not rows["| 2"].endswith("‡ |")
    sections = {s.split(".")[0]: s for s in text.split("\n## ")[1:]}
    assert "| noisy " in sections["2"] and "‡ Turns on tuning" not in sections["2"]
    assert sections["5"].splitlines()[0].endswith("‡")
    claim_5a = sections["5"].split("Claim 5b")[0]
    caveat = next(line for line in claim_5a.splitlines() if line.startswith("‡ Turns"))
    assert "`lynx` chose train.stage2.lr=0.001, within the noise of train.stage2.lr=0.01" in (
        caveat
    )
    assert "`cross`" not in caveat.split(" (`tuning.md`)")[0]  # its choice stood out
    # cross's choice against lynx's two within noise, on the validation split: 60 − 75 and
    # 60.5 − 76 (−15.25), 60 − 73.5 and 60.5 − 75.5 (−14.25)
    assert "ranges from -15.2 to -14.2 over 2 pairs (-15.2 at the two choices" in caveat
    assert caveat.endswith("every pair on the paper's side.")
    # the loss areas, 3 − right/200: cross's 2.4 and 2.395 against lynx's 2.25 and 2.24, and
    # 2.265 and 2.245: higher by 0.1525 and 0.1425, the paper's way for 5b
    claim_5b = sections["5"].split("Claim 5b")[1]
    assert "ranges from +0.142 to +0.152 over 2 pairs" in claim_5b
