"""Stage outputs damaged on disk after a sweep (a flipped byte in trained weights, a cut-off
manifest) are found by their checksums before anything loads them, and those stage runs are
computed again: a later sweep that builds on them finishes with sound inputs."""

from __future__ import annotations

import json

import pytest

from tests.sweeps import REPO, run_cli, variant_runs


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_damaged_outputs_are_rejected_and_recomputed(tmp_path):
    results = tmp_path / "results"
    first = run_cli("sweep", "smoke", results=results)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    _, runs = variant_runs(results)
    keys = {r.data.tags["lynx_variant"]: r.data.tags for r in runs}
    prefix_stage1 = results / "store" / "stage1" / keys["prefix"]["lynx_key_stage1"]
    weights = prefix_stage1 / "trainable.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the checksum can tell
    weights.write_bytes(bytes(data))
    cross_stage2 = results / "store" / "stage2" / keys["cross-attention"]["lynx_key_stage2"]
    manifest = cross_stage2 / "manifest.json"
    manifest.write_text(manifest.read_text()[:100])  # cut off

    # a second sweep on this store: smoke's variants again, and one more on prefix's stage 1
    sweep = tmp_path / "more.yaml"
    sweep.write_text(
        (REPO / "sweeps" / "smoke.yaml").read_text().replace("name: smoke", "name: more")
        + "variants:\n  prefix-slow: {model.arch: prefix, train.stage2.lr: 0.0005}\n"
    )
    again = run_cli("sweep", str(sweep), results=results)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-3000:]
    assert f"{weights} does not match its checksum" in out.replace("\n", "")
    rejected = json.loads((prefix_stage1 / ".rejected-manifest.json").read_text())
    assert "does not match its checksum" in rejected["reason"]
    for folder in (prefix_stage1, cross_stage2):  # computed again, once each
        assert len((folder / "attempts.jsonl").read_text().splitlines()) == 2, folder
        assert (folder / "manifest.json").is_file()
    _, runs = variant_runs(results, "more")
    names = sorted(r.data.tags["lynx_variant"] for r in runs)
    assert names == ["cross-attention", "prefix", "prefix-slow"]
    assert all(r.info.status == "FINISHED" for r in runs)
