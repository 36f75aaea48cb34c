"""The stage keys of every shipped sweep, at every scale it names, stay what they were.

A key names a stage's result in every user's store: a key that changes when code moves (a
module renamed, a package split) throws away runs already paid for, and one that stays put
when a result would change reuses a stale run. `stage_keys.json` was written before the
tree was reorganised; regenerate it only on purpose, when a stage's result really changes
(`python -m tests.ablations.planning.test_stage_keys`), and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ablations.planning.plan import make_plan
from ablations.spec import load_sweep  # the public API, kept at its old path

ROOT = Path(__file__).resolve().parents[3]
RECORDED = Path(__file__).with_name("stage_keys.json")


def shipped_keys() -> dict[str, dict[str, dict[str, str]]]:
    """`<sweep>@<scale>` → variant (tuning candidates included) → stage → key, as the sweep
    command plans them (each stage on the GPUs the file's resources give it)."""
    keys = {}
    for path in sorted((ROOT / "sweeps").glob("*.yaml")):
        written = yaml.safe_load(path.read_text())
        for scale in sorted({written.get("scale", "toy"), *written.get("scales", {})}):
            spec = load_sweep(path, check_paths=False, scale=scale)
            variants = spec.expand() + (spec.tuning().expand() if spec.tune else [])
            plan = make_plan(variants, spec.resources.gpus_by_stage())
            keys[f"{path.stem}@{scale}"] = plan.chains
    return keys


def test_every_shipped_sweeps_stage_keys_are_unchanged():
    recorded = json.loads(RECORDED.read_text())
    now = shipped_keys()
    assert sorted(now) == sorted(recorded)
    for sweep, chains in recorded.items():
        changed = {v for v, chain in chains.items() if now[sweep].get(v) != chain}
        assert not changed, f"{sweep}: the stage keys of {sorted(changed)} changed"
        assert sorted(now[sweep]) == sorted(chains), f"{sweep}: other variants than recorded"


if __name__ == "__main__":
    RECORDED.write_text(json.dumps(shipped_keys(), indent=1, sort_keys=True) + "\n")
