"""Content-addressed stage outputs: `<root>/<stage>/<key>/`, done when its manifest says so.

A stage run works in its folder (keeping a resumable checkpoint there) and, when it finishes,
the store writes `manifest.json` atomically: the stage's inputs, metrics, logged curve and the
size and SHA-256 of every output file. A folder with a valid manifest is a finished stage and is
never run again; one without is resumed from its checkpoint (or started) by the next attempt.
The checkpoint is deleted once the manifest exists: the outputs are all a child needs.

Two sweeps on one store (or a retried trial beside a slow one) never compute a run twice: a
run is computed under an exclusive lock on its folder (`claim`), and whoever gets the lock
second finds the manifest. Outputs that no longer match their checksums are `reject`ed: their
manifest is set aside and the run computes again. On a cluster, the root must be a
filesystem every worker sees (and that supports `flock`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ablations.planning.locks import exclusive
from ablations.planning.plan import StageRun
from lynx_core.atomic import write_text
from lynx_core.checksum import file_sha256
from lynx_core.evaluate.finite import nonfinite_headlines
from lynx_core.stages import READS, Stage

log = logging.getLogger(__name__)
MANIFEST, ATTEMPTS = "manifest.json", "attempts.jsonl"
LOCK, REJECTED = ".lock", ".rejected-manifest.json"  # hidden: never counted as outputs
BOOKKEEPING = {MANIFEST, ATTEMPTS}
SCRATCH_SUFFIXES = (".ckpt", ".sha256", ".tmp", ".ds")  # working state (.ds: DeepSpeed's)


class FileRecord(BaseModel):
    size: int
    sha256: str


class Manifest(BaseModel):
    # a NaN metric (e.g. a score with nothing to score) is written as NaN, never as null:
    # a finished run must read back as finished
    model_config = ConfigDict(ser_json_inf_nan="constants")

    stage: Stage
    key: str
    chain: dict[str, str]
    inputs: dict[str, Any]
    metrics: dict[str, float]
    history: list[dict[str, Any]]
    tags: dict[str, str] = {}
    files: dict[str, FileRecord]  # path relative to the folder → record
    host: str
    finished_at: float


class StoreError(RuntimeError):
    pass


class Store:
    def __init__(self, root: Path):
        self.root = root

    @property
    def cache(self) -> Path:
        """Content-keyed data shared by all runs: the generated world, the judge's verdicts."""
        return self.root / "cache"

    def folder(self, stage: Stage, key: str) -> Path:
        return self.root / stage / key

    def folders(self, run: StageRun) -> dict[Stage, Path]:
        """The run's folder and its ancestors', as `lynx_core.pipeline.run_stage` takes them."""
        return {stage: self.folder(stage, key) for stage, key in run.chain.items()}

    def manifest(self, stage: Stage, key: str) -> Manifest | None:
        """The finished run's manifest; None when unfinished, unreadable or its files are gone."""
        path = self.folder(stage, key) / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = Manifest.model_validate_json(path.read_text())
        except (ValidationError, OSError) as err:
            log.warning("ignoring unreadable manifest %s (%s); the stage will run again", path, err)
            return None
        for name, record in manifest.files.items():
            file = path.parent / name
            if not file.exists() or file.stat().st_size != record.size:
                log.warning("%s: output %s is missing or resized; rerunning the stage", path, name)
                return None
        nan = nonfinite_headlines(manifest.metrics)
        if nan:  # recorded before evaluation refused it (lynx_core.evaluate.finite)
            log.warning("%s: %s not a number; evaluating again", path, ", ".join(nan))
            return None
        return manifest

    def damaged(self, stage: Stage, key: str) -> str | None:
        """What is wrong with a run's outputs (unfinished, or a file that fails its checksum),
        or None when every output is as its manifest recorded it."""
        manifest = self.manifest(stage, key)
        folder = self.folder(stage, key)
        if manifest is None:
            return f"{folder} is not a finished {stage} run (no valid {MANIFEST})"
        for name, record in manifest.files.items():
            if file_sha256(folder / name) != record.sha256:
                return f"{folder / name} does not match its checksum in {folder / MANIFEST}"
        return None

    def verify(self, stage: Stage, key: str) -> None:
        """Check every output's checksum before a child consumes it; raises `StoreError`."""
        problem = self.damaged(stage, key)
        if problem is not None:
            folder = self.folder(stage, key)
            raise StoreError(f"{problem}; delete {folder} and rerun the sweep to recompute it")

    def verify_inputs(self, run: StageRun) -> None:
        """Verify the ancestors' outputs this run loads (not every ancestor's: at 7B scale an
        eval needlessly re-hashing stage 1's weights costs seconds); raises `StoreError`."""
        for stage in READS[run.stage]:
            self.verify(stage, run.chain[stage])

    def reject(self, stage: Stage, key: str, reason: str) -> None:
        """Unfinish a run whose outputs are damaged: its manifest is kept aside (with the
        reason) and its listed outputs are deleted, so the run computes them again."""
        folder = self.folder(stage, key)
        manifest = self.manifest(stage, key)
        if manifest is None:
            return
        record = {"reason": reason, "rejected_at": time.time(), **manifest.model_dump()}
        write_text(folder / REJECTED, json.dumps(record, default=str, indent=2))
        (folder / MANIFEST).unlink()
        for name in manifest.files:
            (folder / name).unlink(missing_ok=True)

    def claim(self, run: StageRun) -> contextlib.AbstractContextManager[None]:
        """The run's exclusive lock, for the block that computes it: a second claimant
        (another sweep on this store) waits, then finds the manifest."""
        folder = self.folder(run.stage, run.key)

        def waiting(holder: str) -> None:
            log.warning("%s is being computed by %s; waiting for it", folder, holder)

        return exclusive(folder / LOCK, waiting)

    def begin(self, run: StageRun, **facts: Any) -> int:
        """Record an attempt (an audit trail of how often a stage really ran, with `facts`
        such as the checkpoints it starts from); its number."""
        folder = self.folder(run.stage, run.key)
        folder.mkdir(parents=True, exist_ok=True)
        entry = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": time.time(),
            **facts,
        }
        with (folder / ATTEMPTS).open("a") as f:
            f.write(json.dumps(entry) + "\n")
        return len(self.attempts(run.stage, run.key))

    def attempts(self, stage: Stage, key: str) -> list[dict[str, Any]]:
        path = self.folder(stage, key) / ATTEMPTS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def complete(
        self,
        run: StageRun,
        metrics: dict[str, float],
        history: list[dict[str, Any]],
        tags: dict[str, str] | None = None,
    ) -> Manifest:
        """Mark the run finished: checksum its outputs, write the manifest, drop scratch state."""
        folder = self.folder(run.stage, run.key)
        outputs = sorted(
            p
            for p in folder.rglob("*")
            if p.is_file()
            and p.name not in BOOKKEEPING
            and not any(
                part.startswith(".") or part.endswith(SCRATCH_SUFFIXES)
                for part in p.relative_to(folder).parts
            )
        )
        manifest = Manifest(
            stage=run.stage,
            key=run.key,
            chain=dict(run.chain),
            inputs=run.inputs,
            metrics=metrics,
            history=history,
            tags=tags or {},
            files={
                str(p.relative_to(folder)): FileRecord(size=p.stat().st_size, sha256=file_sha256(p))
                for p in outputs
            },
            host=socket.gethostname(),
            finished_at=time.time(),
        )
        write_text(folder / MANIFEST, manifest.model_dump_json(indent=2))
        for scratch in folder.glob("*"):
            if scratch.name.endswith(SCRATCH_SUFFIXES):
                shutil.rmtree(scratch) if scratch.is_dir() else scratch.unlink()
        return manifest
