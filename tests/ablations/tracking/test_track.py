"""The sweep's MLflow experiment (found or created, tagged as model training, described with
the link to its variants) and its runs, recorded without duplicates however often."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from ablations.sweep.spec import load_sweep
from ablations.tracking.track import EXPERIMENT_KIND, NOTE, experiment_id
from ablations.tracking.ui import variants_url
from tests.conftest import REPO


def test_an_experiment_made_before_the_kind_tag_gets_it(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    spec = load_sweep(REPO / "sweeps" / "smoke.yaml")
    old = client.create_experiment(spec.experiment)  # as an earlier version made it
    assert "mlflow.experimentKind" not in client.get_experiment(old).tags
    assert experiment_id(client, spec, tmp_path) == old
    tags = client.get_experiment(old).tags
    assert tags.items() >= EXPERIMENT_KIND.items()
    assert variants_url(old) in tags[NOTE]  # its description links to the variants' charts


def test_recording_a_variant_twice_duplicates_nothing(tmp_path):
    """A driver killed while recording: the rerun records the same variant again from the
    same manifests, and MLflow ends up holding each step and final value once."""
    from ablations.planning.plan import make_plan
    from ablations.tracking.track import SweepTracker

    spec = load_sweep(REPO / "sweeps" / "smoke.yaml")
    variant = spec.expand()[0]
    chain = make_plan([variant]).chains[variant.name]
    curve = [
        {"stage": "stage2", "step": s, "loss": 1.0 / s, "lr": 0.1, "samples_per_s": 9.0}
        for s in range(5, 2000, 5)
    ]  # more than one batch of steps
    final = {"openvqa/overall": 40.0, "mme/perception": float("nan")}
    for attempt in ("killed before finishing", "rerun"):
        tracker = SweepTracker(spec, tmp_path, uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        run_id, done = tracker.variant_run(variant, chain)
        assert not done, attempt
        tracker.log_records(variant.name, curve[:100])
        tracker.log_records(variant.name, curve)
        if attempt == "rerun":
            tracker.finish(variant.name, final, None)
    assert tracker.variant_run(variant, chain) == (run_id, True)
    client = tracker.client
    for key in ("stage2/loss", "stage2/lr", "stage2/samples_per_s"):
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert sorted(steps) == [r["step"] for r in curve], key
    held = {key: len(client.get_metric_history(run_id, key)) for key in final}
    assert held == {"openvqa/overall": 1, "mme/perception": 0}  # a NaN is never recorded
    tracker.finish(variant.name, final, None)  # once more, finished already
    assert {key: len(client.get_metric_history(run_id, key)) for key in final} == held


def test_a_variant_whose_chain_changed_gets_a_new_run(tmp_path):
    """Same config, another eval key (its data edited, or another runtime): a new run, not
    the finished one of the old chain."""
    from ablations.planning.plan import make_plan
    from ablations.tracking.track import SweepTracker

    spec = load_sweep(REPO / "sweeps" / "smoke.yaml")
    variant = spec.expand()[0]
    tracker = SweepTracker(spec, tmp_path, uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    on_cpu = make_plan([variant], gpus=0).chains[variant.name]
    first, _ = tracker.variant_run(variant, on_cpu)
    tracker.finish(variant.name, {"openvqa/overall": 40.0}, None)
    assert tracker.variant_run(variant, on_cpu) == (first, True)
    on_gpu = make_plan([variant], gpus=1).chains[variant.name]
    second, done = tracker.variant_run(variant, on_gpu)
    assert second != first and not done


def test_the_description_keeps_the_report_link_until_a_new_report_replaces_it(tmp_path):
    from ablations.tracking.ui import description

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    spec = load_sweep(REPO / "sweeps" / "smoke.yaml")
    found = experiment_id(client, spec, tmp_path)
    linked = description(spec.experiment, spec.source, found, report_run="abc123")
    client.set_experiment_tag(found, NOTE, linked)  # as building the report does
    assert experiment_id(client, spec, tmp_path) == found  # the next sweep on it
    assert client.get_experiment(found).tags[NOTE] == linked
    assert "runs/abc123/artifacts/report/index.html" in linked


def test_the_experiment_holds_the_study_view_its_link_opens(tmp_path):
    """The view the printed link names (by `viewStateShareKey`) is an experiment tag: the
    variants grouped by the tag every variant run carries, the study's metrics charted
    first and tabled as columns, every group shown."""
    import json

    from ablations.results.tables import HEADLINES
    from ablations.tracking.study_view import STUDY_METRICS, study_key, study_view
    from ablations.tracking.track import GROUP

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    spec = load_sweep(REPO / "sweeps" / "smoke.yaml")
    found = experiment_id(client, spec, tmp_path)
    tag, value = study_view()
    assert client.get_experiment(found).tags[tag] == value
    assert f"viewStateShareKey={study_key()}" in variants_url(found)
    state = json.loads(value)
    assert state["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": GROUP}]
    assert state["runsHiddenMode"] == "SHOW_ALL"
    first = state["compareRunSections"][0]
    assert first["name"] == "study" and first["display"]
    charted = [c["metricKey"] for c in state["compareRunCharts"]]
    assert {c["metricSectionId"] for c in state["compareRunCharts"]} == {first["uuid"]}
    assert charted[0] == "openvqa/overall" and set(charted) == set(STUDY_METRICS)
    headlines = {h.metric for h in HEADLINES}
    assert headlines - set(charted) == set(), "a headline of the tables is not charted first"
    closed = {s["name"] for s in state["compareRunSections"] if not s["display"]}
    assert {"bases", "instruct", "clip"} <= closed
    assert state["selectedColumns"] == [f"metrics.`{m}`" for m in STUDY_METRICS]
