"""`ray job submit` of a sweep to a cluster: the entrypoint, and what the job takes along.

The job's runtime environment carries, by name, the environment variables its trials need
from this shell: the MLflow server all workers log to, and the GPT judge's API key for
variants judged by GPT. The values travel in a runtime-env file readable only by this user
and removed after submission: never on the command line (which is printed and visible to
other users in the process list), in our logs or in MLflow. Ray itself keeps a job's
`env_vars` in its job record (the dashboard and `ray job list` show them to whoever can reach
the cluster's dashboard).

The working directory is uploaded without the venv, git, results, `weights/` and the data
every variant reads from inside it (training files, caption shards, media roots, the
evaluation suite): a cluster reads those from its own filesystem at the same paths, and a
data set in a zip upload would be gigabytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from lynx_core.checks import local_paths
from lynx_core.config import VariantConfig
from lynx_core.data.files.benchmarks import Benchmarks, configured

# never shipped to a cluster; patterns are gitignore's, so each is anchored at the working
# directory with a leading '/' ('data' alone would also drop lynx_core/data)
UPLOAD_EXCLUDES = ["/.venv", "/.git", "/results", "/weights"]
FORWARDED = ("MLFLOW_TRACKING_URI",)  # all workers must log to the same server


def judge_keys(configs: Sequence[VariantConfig]) -> list[str]:
    """Names of the environment variables holding the GPT judge's API key(s)."""
    return sorted({c.eval.gpt_judge.api_key_env for c in configs if c.eval.judge == "gpt"})


def read_paths(cfg: VariantConfig) -> list[Path]:
    """Every local file or folder a variant reads: weights, training and caption files and
    their media roots, the evaluation suite and the released benchmarks with theirs."""
    paths = [path for _, path in local_paths(VariantConfig, cfg.model_dump())]
    paths += [file.root for file in cfg.data.train_files]
    paths += [b.media_root for b in configured(cfg.eval, Benchmarks()).present().values()]
    for source in cfg.data.captions.files:
        paths += [p.parent if "{" in source.path else p for p in source.paths]
        if source.format == "llava_pretrain":  # its images: media_root, else the json's folder
            paths.append(Path(source.media_root or Path(source.path).parent))
    return [Path(p).expanduser() for p in paths]


def data_excludes(configs: Sequence[VariantConfig], root: Path, keep: Path) -> list[str]:
    """The read paths inside `root`, relative to it, as upload exclude patterns; never one
    that holds `keep` (the sweep file the job runs)."""
    root, keep = root.resolve(), keep.resolve()
    found = set()
    for cfg in configs:
        for path in read_paths(cfg):
            full = (root / path).resolve()
            if full != root and full.is_relative_to(root) and not keep.is_relative_to(full):
                found.add("/" + full.relative_to(root).as_posix())
    shipped = [
        p for p in found if not any(p == e or p.startswith(f"{e}/") for e in UPLOAD_EXCLUDES)
    ]
    return sorted(shipped)


def missing_keys(configs: Sequence[VariantConfig], environ: Mapping[str, str]) -> list[str]:
    """Judge key variables this shell does not set: the job would fail on the cluster."""
    return [name for name in judge_keys(configs) if not environ.get(name)]


def runtime_env(
    configs: Sequence[VariantConfig], root: Path, keep: Path, environ: Mapping[str, str]
) -> dict:
    names = [*FORWARDED, *judge_keys(configs)]
    env_vars = {"RAY_USAGE_STATS_ENABLED": "0"}
    env_vars.update({name: environ[name] for name in names if environ.get(name)})
    return {"env_vars": env_vars, "excludes": UPLOAD_EXCLUDES + data_excludes(configs, root, keep)}


@contextlib.contextmanager
def private_file(content: dict) -> Iterator[Path]:
    """`content` as JSON in a file only this user can read, removed on exit."""
    handle, name = tempfile.mkstemp(prefix="lynx-runtime-env-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as file:  # mkstemp: mode 0600
            json.dump(content, file)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def submit_command(
    source: str, env_file: Path, address: str, results: str, head_python: str, scale: str | None
) -> list[str]:
    """`ray job submit` of the sweep file: options before `--`, the entrypoint after it."""
    ray = str(Path(sys.executable).with_name("ray"))
    return [
        ray, "job", "submit", "--address", address, "--working-dir", ".",
        "--runtime-env", str(env_file),
        "--", head_python, "-m", "ablations", "sweep", source,
        "--results", results, *(["--scale", scale] if scale else []),
    ]  # fmt: skip
