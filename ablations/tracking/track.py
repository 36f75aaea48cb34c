"""MLflow tracking: one experiment and parent run per sweep, one child run per variant.

Runs are found again by tags (sweep name, variant name, config hash and the key of its eval
stage run, which holds the whole chain's keys: the user's data as it is now and the runtime
its stages resolve to), so rerunning a sweep updates the same runs instead of duplicating
them, and a finished variant is not run twice.
The keys of the variant's stage runs are tags too (`lynx_key_stage1`, ...), so the UI can group
variants that share a stage. Params are logged once, when a run is created (MLflow refuses
changed params); per-step values are metrics. A step already logged is never logged again (a
resumed stage or a reused one replays its curve; steps a trial died before sending come with
its manifest), nor a final metric the run already holds: a driver killed while recording
leaves nothing that the rerun duplicates. Only the driver talks to MLflow; a new sqlite store
is created under a lock, as two drivers migrating one database at once fail.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.time import get_current_time_millis

from ablations.planning.locks import exclusive
from ablations.planning.plan import Plan
from ablations.planning.store import Manifest
from ablations.sweep.spec import SweepSpec
from ablations.sweep.variant import Variant
from ablations.tracking.study_view import GROUP_TAG, study_view
from ablations.tracking.ui import description
from ablations.tracking.uri import tracking_uri
from lynx_core.config import flatten
from lynx_core.faults import fault_point
from lynx_core.stages import Stage

ROLE, SWEEP, VARIANT, KEY = "lynx_role", "lynx_sweep", "lynx_variant", "lynx_config_hash"
GROUP, SEED = GROUP_TAG, "lynx_seed"  # the variant without its seed, and the seed
PARENT = "mlflow.parentRunId"
MAX_PARAM_CHARS = 6000
CURVE = ("loss", "lr", "samples_per_s", "val_loss")  # per-step metrics, <stage>/<field>


def stage_tags(chain: dict[Stage, str]) -> dict[str, str]:
    return {f"lynx_key_{stage}": key for stage, key in chain.items()}


EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # a training study
NOTE = "mlflow.note.content"  # the experiment's description in the UI


def experiment_id(client: MlflowClient, spec: SweepSpec, results: Path) -> str:
    """The sweep's experiment, created on first use, tagged as model training (MLflow 3's
    UI then offers its runs, not a GenAI trace overview) and described with the link that
    opens it on its variants (`ablations.tracking.ui`). An older experiment gets both tags too."""
    experiment = client.get_experiment_by_name(spec.experiment)
    if experiment is None:
        local_store = client.tracking_uri.startswith("sqlite:")
        artifacts = (results / "mlartifacts").resolve().as_uri() if local_store else None
        found = client.create_experiment(spec.experiment, artifact_location=artifacts)
        held = {}
    else:
        found, held = experiment.experiment_id, experiment.tags
    view, state = study_view()  # the view the description's link opens
    wanted = {
        **EXPERIMENT_KIND,
        NOTE: description(spec.experiment, spec.source, found),
        view: state,
    }
    for key, value in wanted.items():
        linked = key == NOTE and held.get(key, "").startswith(value.removesuffix("."))
        if held.get(key) != value and not linked:  # a report's link stays until the next
            client.set_experiment_tag(found, key, value)
    return found


def _fresh(held: dict[str, float], key: str, value: float) -> bool:
    """Whether this final value is to be logged: a finite number (no NaN or infinity is
    ever recorded as a result; evaluation fails on a headline that is not one) that the run
    does not hold yet."""
    return math.isfinite(value) and held.get(key) != value


class SweepTracker:
    """Finds or creates the sweep's runs and records what the executor reports."""

    def __init__(self, spec: SweepSpec, results: Path, uri: str | None = None):
        self.spec = spec
        with exclusive(results / ".locks" / "mlflow.lock"):  # a new store is created here
            self.client = MlflowClient(uri or tracking_uri(results))
            self.experiment_id = experiment_id(self.client, spec, results)
        self.parent_id = self._parent_run()
        self.run_ids: dict[str, str] = {}
        self.logged: dict[tuple[str, str], set[int]] = {}  # (variant, curve) → steps held

    def _find(self, filter_string: str):
        runs = self.client.search_runs(
            [self.experiment_id], filter_string, order_by=["attributes.start_time DESC"]
        )
        return runs[0] if runs else None

    def _parent_run(self) -> str:
        found = self._find(f"tags.{ROLE} = 'sweep' and tags.{SWEEP} = '{self.spec.experiment}'")
        if found is not None:
            return found.info.run_id
        tags = {ROLE: "sweep", SWEEP: self.spec.experiment, "source": self.spec.source}
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=self.spec.experiment)
        self.client.log_text(run.info.run_id, self.spec.model_dump_json(indent=2), "sweep.json")
        return run.info.run_id

    def variant_run(
        self, variant: Variant, chain: dict[Stage, str], role: str = "variant"
    ) -> tuple[str, bool]:
        """(run id, already finished) for a variant (or, `role` 'tuning', a tuning
        candidate); creates the run with its params and its stage keys (`chain`, from the
        sweep's plan) if new."""
        found = self._find(
            f"tags.{ROLE} = '{role}' and tags.{VARIANT} = '{variant.name}' "
            f"and tags.{KEY} = '{variant.key}' and tags.`{PARENT}` = '{self.parent_id}' "
            f"and tags.lynx_key_eval = '{chain['eval']}'"
        )
        if found is not None:
            self.run_ids[variant.name] = found.info.run_id
            return found.info.run_id, found.info.status == "FINISHED"
        tags = {
            ROLE: role,
            SWEEP: self.spec.experiment,
            VARIANT: variant.name,
            GROUP: variant.group,
            SEED: str(variant.seed),
            KEY: variant.key,
            PARENT: self.parent_id,
            **stage_tags(chain),
        }
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=variant.name)
        run_id = run.info.run_id
        params = flatten(variant.config.model_dump(mode="json"))
        self.client.log_batch(
            run_id, params=[Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in params.items()]
        )
        config_yaml = yaml.safe_dump(variant.config.model_dump(mode="json"), sort_keys=False)
        self.client.log_text(run_id, config_yaml, "config.yaml")
        self.run_ids[variant.name] = run_id
        return run_id, False

    def started(self, name: str) -> None:
        self.client.update_run(self.run_ids[name], status="RUNNING")

    def log_plan(self, plan: Plan) -> None:
        """The stage runs behind this sweep's pending variants, as an artifact of the parent."""
        text = yaml.safe_dump(
            {
                "variants": {name: dict(chain) for name, chain in plan.chains.items()},
                "runs": {run_id: run.inputs for run_id, run in plan.runs.items()},
            },
            sort_keys=False,
        )
        self.client.log_text(self.parent_id, text, "plan.yaml")

    def _logged_steps(self, name: str, stage: str) -> set[int]:
        """The steps of a curve this run holds (read from MLflow once, then kept up to date)."""
        if (name, stage) not in self.logged:
            history = self.client.get_metric_history(self.run_ids[name], f"{stage}/loss")
            self.logged[name, stage] = {m.step for m in history}
        return self.logged[name, stage]

    def log_records(self, name: str, records: list[dict[str, Any]]) -> None:
        """Per-step curve records (of one or more curves, e.g. the bases' phases); steps this
        run already holds are skipped."""
        for stage, group in itertools.groupby(records, key=lambda r: str(r["stage"])):
            self._log_curve(name, stage, list(group))

    def _log_curve(self, name: str, stage: str, records: list[dict[str, Any]]) -> None:
        logged = self._logged_steps(name, stage)
        fresh = [r for r in records if int(r["step"]) not in logged]
        if not fresh:
            return
        now = get_current_time_millis()
        per_batch = 1000 // len(CURVE)  # MLflow takes at most 1000 metrics per batch
        for start in range(0, len(fresh), per_batch):  # whole steps: a batch is all or nothing
            metrics = [
                Metric(f"{stage}/{field}", float(r[field]), now, int(r["step"]))
                for r in fresh[start : start + per_batch]
                for field in CURVE
                if field in r  # the held-out loss is measured at some logged steps only
                and math.isfinite(float(r[field]))  # nothing that is not a number is recorded
            ]
            self.client.log_batch(self.run_ids[name], metrics=metrics)
            logged.update(int(r["step"]) for r in fresh[start : start + per_batch])

    def record(
        self, name: str, manifests: list[Manifest], outputs: Path | None
    ) -> dict[str, float]:
        """Finish a variant from its stage manifests: curves, final metrics, predictions."""
        metrics: dict[str, float] = {}
        for manifest in manifests:
            self.log_records(name, manifest.history)
            metrics.update(manifest.metrics)
            for key, value in manifest.tags.items():  # e.g. lynx_judge: which judge scored
                self.client.set_tag(self.run_ids[name], key, value)
        self.finish(name, metrics, outputs)
        return metrics

    def finish(self, name: str, metrics: dict[str, float], outputs: Path | None) -> None:
        """Final metrics (those the run does not hold yet), predictions, then FINISHED."""
        run_id = self.run_ids[name]
        held = self.client.get_run(run_id).data.metrics
        now = get_current_time_millis()
        fresh = [
            Metric(k, float(v), now, 0) for k, v in metrics.items() if _fresh(held, k, float(v))
        ]
        for start in range(0, len(fresh), 1000):
            self.client.log_batch(run_id, metrics=fresh[start : start + 1000])
        if outputs is not None and (outputs / "predictions.jsonl").exists():
            self.client.log_artifact(run_id, str(outputs / "predictions.jsonl"))
        fault_point("mlflow:finish", self.client.tracking_uri)  # the fault suite acts here
        self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))

    def fail(self, name: str, error: str) -> None:
        run_id = self.run_ids[name]
        self.client.log_batch(run_id, tags=[RunTag("lynx_error", error[-5000:])])
        self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))

    def log_choices(self, tag: str, text: str, scores: dict[str, float]) -> None:
        """The tuned variants' choices (a tag of the sweep's parent run) and each
        candidate's validation score (its metrics)."""
        self.client.set_tag(self.parent_id, tag, text)
        now = get_current_time_millis()
        metrics = [Metric(k, float(v), now, 0) for k, v in scores.items() if math.isfinite(v)]
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(self.parent_id, metrics=metrics[start : start + 1000])

    def close(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_id, status)
