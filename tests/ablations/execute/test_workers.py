"""Per-stage resources and stages on 2 Ray Train workers, end to end on a Ray cluster that
offers a fake accelerator (the custom resource `accel`): the bases and eval ask for none,
stages 1 and 2 for half of one per worker; eval shares its questions among 2 workers.
Stage 1 reads webdataset shards for one epoch: the two workers' sample logs hold every
sample once. One of stage 2's workers is SIGKILLed mid-stage; Tune's retry resumes the stage
from its checkpoint, MLflow holds one curve, and each rank's sample log holds every batch
once. (That 2 ranks train the weights 1 process
trains, and evaluate as it does: tests/lynx_core/train/test_data_parallel.py,
tests/lynx_core/evaluate/test_sharded_eval.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lynx_core.config import CaptionFileConfig
from lynx_core.data.files.caption_files import open_caption_file
from lynx_core.train.sample_log import log_path, read_log
from tests.ablations.execute.test_cluster import BIN, ENV, free_port, pids_naming
from tests.caption_data import write_shards
from tests.processes import kill_until_gone
from tests.sweeps import REPO, local_env, variant_runs

SHARDS, PER_SHARD = 3, 32  # stage 1: 12 batches of 8, one epoch
SWEEP = """\
name: workers
scale: tiny
base:
  model.arch: prefix
  data.captions.files: [{{format: webdataset, path: '{shards}'}}]
  data.captions.world_ratio: 0
  train.stage1.steps: 12
  train.stage1.batch_size: 8
  train.stage2.steps: 12
  train.stage2.batch_size: 8
  train.checkpoint_every: 2
  train.log_every: 2
  train.sample_log: true
resources:
  cpus: 1
  stage1: {{workers: 2, cpus: 0.5, custom: {{accel: 0.5}}}}
  stage2: {{workers: 2, cpus: 0.5, custom: {{accel: 0.5}}}}
  eval: {{workers: 2, cpus: 0.5}}
"""


@pytest.fixture
def accel_cluster(tmp_path):
    """A one-node Ray cluster with 2 CPUs and one fake accelerator, whose processes pause
    (`lynx_core.faults`) the first time one of them finishes step 6 of stage 2 (a cluster's
    workers take their environment from the node, not from the sweep's driver)."""
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {**ENV, "LYNX_FAULT": "pause@step:stage2:6", "LYNX_FAULT_DIR": str(markers)}
    temp = Path(tempfile.mkdtemp(prefix="lynxray", dir="/tmp"))  # short: socket paths
    port = free_port()
    start = [str(BIN / "ray"), "start", "--head", "--port", str(port), "--temp-dir", str(temp),
             "--num-cpus", "2", "--resources", json.dumps({"accel": 1}),
             "--include-dashboard", "false", "--disable-usage-stats"]  # fmt: skip
    try:
        subprocess.run(start, env=env, check=True, capture_output=True, timeout=180)
        yield f"127.0.0.1:{port}", markers
    finally:
        kill_until_gone(lambda: pids_naming(str(temp)))  # its workers go with its raylet
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_stage_on_two_workers_survives_a_killed_worker_and_is_recorded_once(
    accel_cluster, tmp_path
):
    address, markers = accel_cluster
    sweep, results = tmp_path / "workers.yaml", tmp_path / "results"
    shards = write_shards(tmp_path / "shards", SHARDS, PER_SHARD)
    sweep.write_text(SWEEP.format(shards=shards))
    env = {**local_env(), **{k: v for k, v in ENV.items() if k.startswith("RAY")}}
    command = [sys.executable, "-m", "ablations", "sweep", str(sweep), "--results", str(results),
               "--address", address]  # fmt: skip
    run = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 900
    while not (markers / "paused.pid").exists():  # one worker paused at step 6
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0][-3000:]
        time.sleep(0.2)
    worker = int((markers / "paused.pid").read_text())
    assert "RayTrainWorker" in Path(f"/proc/{worker}/cmdline").read_text(), "a Train worker"
    os.kill(worker, signal.SIGKILL)
    output = run.communicate(timeout=900)[0]
    assert run.returncode == 0, output[-3000:]

    store = results / "store"
    (stage2,) = (store / "stage2").iterdir()
    attempts = [json.loads(line) for line in (stage2 / "attempts.jsonl").read_text().splitlines()]
    assert [a["workers"] for a in attempts] == [2, 2]
    # killed after step 6's update, before its checkpoint: the retry resumes from step 4's
    assert attempts[1]["checkpoints"] == {"train": 4}
    manifest = json.loads((stage2 / "manifest.json").read_text())
    assert [r["step"] for r in manifest["history"]] == [2, 4, 6, 8, 10, 12]
    assert manifest["tags"]["lynx_stage2_runtime"] == "cpu fp32 x2"

    # scheduled as asked: the fake accelerator only where a stage asked for it
    resources = {
        stage: json.loads(next((store / stage).glob("*/manifest.json")).read_text())["tags"][
            f"lynx_{stage}_resources"
        ]
        for stage in ("bases", "stage1", "stage2", "eval")
    }
    assert resources == {
        "bases": "CPU 1",
        "stage1": "2 workers x CPU 0.5, accel 0.5",
        "stage2": "2 workers x CPU 0.5, accel 0.5",
        "eval": "2 workers x CPU 0.5",
    }

    # recorded inside the Ray Train workers: stage 1's epoch gives every sample once, half
    # of each batch to each rank; stage 2's ranks logged every batch once, in order, though
    # the killed attempt had logged batches its checkpoint did not hold
    (stage1,) = (store / "stage1").iterdir()
    logs = [read_log(log_path(stage1, rank)) for rank in (0, 1)]
    assert all([n for n, _ in log] == list(range(12)) for log in logs)
    assert all(len(keys) == 4 for log in logs for _, keys in log)
    seen = [key for log in logs for _, keys in log for key in keys]
    file = CaptionFileConfig(format="webdataset", path=shards)
    source = open_caption_file(file)
    every = [f"{file.source_name}:{source.key(i)}" for i in range(SHARDS * PER_SHARD)]
    assert sorted(seen) == sorted(every)  # none twice, none left out
    for rank in (0, 1):
        assert [n for n, _ in read_log(log_path(stage2, rank))] == list(range(12))

    # one variant run, one stage-2 curve: every step once, as one process logs it
    client, (variant,) = variant_runs(results, "workers")
    steps = [m.step for m in client.get_metric_history(variant.info.run_id, "stage2/loss")]
    assert sorted(steps) == [2, 4, 6, 8, 10, 12]
    assert variant.data.tags["lynx_stage2_runtime"] == "cpu fp32 x2"
    assert variant.data.tags["lynx_eval_runtime"] == "cpu fp32 x2"
    assert "openvqa/overall" in variant.data.metrics  # rank 0's metrics reached MLflow
