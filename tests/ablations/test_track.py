"""The sweep's MLflow experiment: found or created, and always tagged as model training."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from ablations.spec import load_sweep
from ablations.track import EXPERIMENT_KIND, experiment_id
from tests.conftest import REPO


def test_an_experiment_made_before_the_kind_tag_gets_it(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    spec = load_sweep(REPO / "sweeps" / "smoke.yaml")
    old = client.create_experiment(spec.experiment)  # as an earlier version made it
    assert "mlflow.experimentKind" not in client.get_experiment(old).tags
    assert experiment_id(client, spec, tmp_path) == old
    assert client.get_experiment(old).tags.items() >= EXPERIMENT_KIND.items()
