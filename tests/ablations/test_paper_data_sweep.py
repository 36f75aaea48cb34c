"""The Lynx study's shape on the paper's data, end to end: tiny releases of every source the
recipe names, in their published formats, converted as a user converts them; sweeps/paper.yaml's
variants with the recipe's data (sweeps/recipes/lynx-paper-data*.yaml) at the tiny scale, every
variant through stage 2 and eval; the sample logs say that each variant trained on exactly
the sources its recipe names, phrased as its prompt mode says."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from PIL import Image

from ablations.planning.plan import make_plan
from ablations.spec import load_sweep
from lynx_core.data.convert.prepare import prepare
from lynx_core.data.convert.recipe import SOURCES
from lynx_core.data.convert.sources import CONVERTERS
from lynx_core.data.files.file_prompts import LENGTH_WORDINGS, TEMPLATES
from lynx_core.data.stage_data import file_pools, sample_seed
from lynx_core.train.sample_log import log_path, read_log
from tests.caption_data import pairs, shard_bytes
from tests.lynx_core.data.convert.releases import RELEASES
from tests.sweeps import REPO, run_cli

SHARDS = 2  # per stage-1 pair set


def _real_media(folder: Path) -> None:
    """The tiny releases' media files are placeholders: make each a decodable image or clip."""
    for i, path in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        colour = (i * 53 % 256, i * 97 % 256, i * 29 % 256)
        if path.suffix in (".jpg", ".png"):
            Image.fromarray(np.full((20, 24, 3), colour, np.uint8)).save(path, format="PNG")
        elif path.suffix in (".mp4", ".webm", ".avi"):
            with av.open(str(path), mode="w", format=path.suffix[1:]) as container:
                stream = container.add_stream(
                    "libvpx" if path.suffix == ".webm" else "mpeg4", rate=4
                )
                stream.width = stream.height = 16
                stream.pix_fmt = "yuv420p"
                for shift in range(4):
                    frame = np.roll(np.full((16, 16, 3), colour, np.uint8), shift, axis=1)
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                container.mux(stream.encode())


def _data(root: Path) -> dict[str, str]:
    """Every recipe source under `root` as a user prepares it; name → the path a sweep reads."""
    paths = {}
    for source in SOURCES.values():
        folder = root / source.name
        if source.stage == "stage1":
            folder.mkdir(parents=True)
            for s in range(SHARDS):
                samples = pairs(8, start=s * 8)
                (folder / f"{s:05d}.tar").write_bytes(shard_bytes(samples))
            paths[source.name] = f"{folder}/{{00000..{SHARDS - 1:05d}}}.tar"
            continue
        converter = CONVERTERS[source.name]
        RELEASES[source.name](folder, 12)
        _real_media(folder / converter.media)
        prepare(converter, folder, folder / "train.jsonl")
        paths[source.name] = str(folder / "train.jsonl")
    return paths


def _sweep(tmp_path: Path, paths: dict[str, str]) -> Path:
    """sweeps/paper.yaml at the tiny scale, its paper-scale data section (the recipe) laid
    over the tiny scale instead, paths pointing at the converted fixtures; one seed, no
    tuning (a tuned rate is no data axis), every sample logged, stage 2 long enough to draw
    every source but the rarest."""
    paper = yaml.safe_load((REPO / "sweeps" / "paper.yaml").read_text())
    recipes = REPO / "sweeps" / "recipes"
    base = yaml.safe_load((recipes / "lynx-paper-data.yaml").read_text())["scales"]["paper"]
    changes = yaml.safe_load((recipes / "lynx-paper-data-variants.yaml").read_text())
    section = {**base, "variants": changes["scales"]["paper"]["variants"]}
    files = [
        *section["base"]["data.captions"]["files"],
        *section["variants"]["w-large-scale-noisy-data"]["data.captions"]["files"],
        *section["base"]["data.train_files"],
    ]
    for entry in files:
        entry["path"] = paths[entry.get("name") or entry["task"]]
        if "media_root" in entry:  # data/<source>/<media> there, the fixture's folder here
            entry["media_root"] = str(Path(entry["path"]).parent / Path(entry["media_root"]).name)
    for drop in ("include", "tune"):
        paper.pop(drop)
    # one seed, and no tuning (its toy section's `tune:` only adds tuning seeds)
    toy = {k: v for k, v in paper["scales"]["toy"].items() if k not in ("seeds", "tune")}
    paper["scales"] = {"toy": toy, "tiny": section}
    paper.update(name="paperdata", scale="tiny", seeds=[0])
    # a batch is one source's: enough small batches that each source over 2% is drawn
    paper["base"].update({"train.sample_log": True, "train.stage2.steps": 240})
    paper["base"].update({"train.stage2.batch_size": 4, "train.checkpoint_every": 120})
    sweep = tmp_path / "paperdata.yaml"
    sweep.write_text(yaml.safe_dump(paper, sort_keys=False))
    return sweep


def _trained(results: Path, sweep: Path) -> dict[str, dict[str, list[str]]]:
    """variant → stage → the `<pool>:<sample>` keys its sample log holds."""
    spec = load_sweep(sweep)
    plan = make_plan(spec.expand(), spec.resources.gpus_by_stage())
    store = results / "store"
    return {
        variant: {
            stage: [
                k for _, keys in read_log(log_path(store / stage / chain[stage], 0)) for k in keys
            ]
            for stage in ("stage1", "stage2")
        }
        for variant, chain in plan.chains.items()
    }


def _phrasing(prompt: str) -> str:
    """The template a prompt was phrased with, its question and length instruction taken off."""
    for wording in (w for ws in LENGTH_WORDINGS.values() for w in ws):
        prompt = prompt.removesuffix(f" {wording}")
    forms = [
        (template, *template.format(question="\0", media=media).partition("\0")[::2])
        for template in (t for ts in TEMPLATES.values() for t in ts)
        for media in ("image", "video")
    ]
    for template, head, tail in sorted(forms, key=lambda f: -len(f[1] + f[2])):  # "{question}" last
        if prompt.startswith(head) and prompt.endswith(tail):
            return template
    raise AssertionError(f"{prompt!r} is no template's")


@pytest.mark.slow
def test_every_variant_trains_on_exactly_its_recipes_sources_and_prompts(tmp_path):
    sweep = _sweep(tmp_path, _data(tmp_path / "data"))
    results = tmp_path / "results"
    done = run_cli("sweep", str(sweep), results=results, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trained = _trained(results, sweep)

    clean = {s.name for s in SOURCES.values() if s.role == "clean"}
    noisy = {s.name for s in SOURCES.values() if s.role == "noisy"}
    every_task = {s.name for s in SOURCES.values() if s.stage == "stage2"}
    assert len(text := {s.name for s in SOURCES.values() if s.role == "text_instruction"}) == 3
    spec = load_sweep(sweep)
    for variant in spec.expand():
        logged = trained[variant.name]
        # a tiny run draws a few hundred samples: a source under 2% of its stage may not be
        sources = {k.split(":")[0] for k in logged["stage1"]}
        named = {f.source_name for f in variant.config.data.captions.files}
        assert named == (noisy if "noisy" in variant.name else clean), variant.name
        assert sources and sources <= named, (variant.name, sources)
        pools = {k.split(":")[0].split("/")[0] for k in logged["stage2"]}
        mixture = variant.config.data.mixture
        named = {t for t, r in mixture.items() if r > 0}
        rare = {t for t in named if mixture[t] < 0.02 * sum(mixture.values())}
        assert pools <= named and named - pools <= rare, (variant.name, pools, named)
        assert named == every_task - (text if variant.group == "no-text-instructions" else set())

        # the prompts each trained example had, phrased as the variant's own data draws them
        data = variant.config.data
        drawn = sample_seed(data, variant.config.train.seed_of("stage2"))
        pools_of = file_pools(data, seed=drawn)
        phrasings = set()
        for key in logged["stage2"]:
            pool, _, sample = key.partition(":")
            file = next(f for f in data.train_files if f.task_name == pool.split("/")[0])
            if not file.templates:
                continue
            examples = pools_of[pool][1]
            row = next(r for r in range(len(examples)) if examples.key(r) == sample)
            example = examples[row]
            if not example.history:
                phrasings.add(_phrasing(example.prompt))
        single = {ts[0] for ts in TEMPLATES.values()}
        if data.prompts.mode == "single":
            assert phrasings <= single, (variant.name, phrasings)
        else:
            assert len(phrasings - single) >= 5, (variant.name, phrasings)
