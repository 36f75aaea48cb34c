"""`make submit`: the job gets the judge's key and the MLflow server by name through Ray's
runtime environment (the key's value never printed or on the command line), and the upload
leaves out the venv, results, weights and every data folder the sweep reads."""

from __future__ import annotations

import json
from pathlib import Path

from ablations import cli
from tests.caption_data import write_shards

SECRET = "sk-test-do-not-print-0123456789"

SWEEP = """\
name: submitted
scale: tiny
base:
  eval.judge: gpt
  eval.gpt_judge.api_key_env: LYNX_TEST_JUDGE_KEY
  data.train_files: [{path: data/train.jsonl}]
  data.captions.files:
    - {format: webdataset, path: 'shards/pairs-{000..001}.tar'}
"""


def test_submit_passes_the_judge_key_by_name_and_uploads_no_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text(
        json.dumps({"instruction": "say red", "answer": "red"}) + "\n"
    )
    write_shards(tmp_path / "shards", 2, 3)
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "submitted.yaml").write_text(SWEEP)
    monkeypatch.setenv("LYNX_TEST_JUDGE_KEY", SECRET)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    submitted = {}

    def call(command: list[str]) -> int:
        env_file = Path(command[command.index("--runtime-env") + 1])
        submitted.update(command=command, env=json.loads(env_file.read_text()), file=env_file)
        submitted["mode"] = env_file.stat().st_mode & 0o777
        return 0

    monkeypatch.setattr(cli.subprocess, "call", call)
    status = cli.main(
        ["submit", "sweeps/submitted.yaml", "--address", "http://head:8265", "--results", "/r"]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    env = submitted["env"]
    assert env["env_vars"]["LYNX_TEST_JUDGE_KEY"] == SECRET
    assert env["env_vars"]["MLFLOW_TRACKING_URI"] == "http://mlflow.example:5000"
    assert SECRET not in out and SECRET not in " ".join(submitted["command"])
    assert "LYNX_TEST_JUDGE_KEY" in out  # named, so the user knows it travels
    assert submitted["mode"] == 0o600 and not submitted["file"].exists()  # removed after
    assert {"/.venv", "/.git", "/results", "/weights", "/data", "/shards"} <= set(env["excludes"])
    assert not any(e.startswith("/sweeps") for e in env["excludes"])  # the job needs its sweep
    # as Ray reads them (gitignore patterns): the data goes, the package's own data code stays
    from ray._private.runtime_env.packaging import _get_excludes

    excluded = _get_excludes(tmp_path, env["excludes"])
    assert excluded(tmp_path / "data" / "train.jsonl") and excluded(tmp_path / "shards")
    assert not excluded(tmp_path / "lynx_core" / "data" / "batches.py")

    monkeypatch.delenv("LYNX_TEST_JUDGE_KEY")  # refused here, not after an upload
    assert cli.main(["submit", "sweeps/submitted.yaml", "--address", "http://head:8265"]) != 0
    assert "LYNX_TEST_JUDGE_KEY is not set" in " ".join(capsys.readouterr().out.split())
    assert submitted["command"][-4:-2] == ["sweep", "sweeps/submitted.yaml"]
