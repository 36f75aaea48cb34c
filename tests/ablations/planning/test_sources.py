"""The study's data at paper scale: the sweep's recipe (sweeps/recipes/lynx-paper-data.yaml)
is the registry's (lynx_core/data/convert/recipe.py), each data variant changes only the data
its claim is about, and a plan lists every source with its status and how to get it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from ablations.planning.sources import data_sources, print_sources
from ablations.spec import load_sweep
from lynx_core.data.convert.recipe import RECIPE_ROLE, SOURCES, role_shares, stage2_mixture

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def paper():
    spec = load_sweep(REPO / "sweeps" / "paper.yaml", check_paths=False, scale="paper")
    return {v.name: v.config for v in spec.expand() if v.seed == 0}


def _captions(cfg) -> dict[str, tuple[str, float, str | None]]:
    return {f.source_name: (f.path, f.ratio, f.quality) for f in cfg.data.captions.files}


def _share(mixture: dict[str, float], role: str) -> float:
    return sum(v for k, v in mixture.items() if RECIPE_ROLE.get(k) == role) / sum(mixture.values())


def test_the_sweeps_recipe_is_the_registrys(paper):
    lynx = paper["lynx-s0"]
    clean = {s.name: (s.path, s.ratio, s.role) for s in SOURCES.values() if s.role == "clean"}
    assert _captions(lynx) == clean and lynx.data.captions.world_ratio == 0
    noisy = {s.name: (s.path, s.ratio, s.role) for s in SOURCES.values() if s.role == "noisy"}
    assert _captions(paper["w-large-scale-noisy-data-s0"]) == noisy
    files = {
        f.task_name: (str(f.path), f.media_root and str(f.media_root), f.role)
        for f in lynx.data.train_files
    }
    assert files == {
        s.name: (s.path, s.media_root, s.role) for s in SOURCES.values() if s.stage == "stage2"
    }
    assert all(f.templates == (f.role in ("vqa", "captioning")) for f in lynx.data.train_files)
    # stage 2 at the paper's share of every role, and nothing of the generated world
    assert {k: v for k, v in lynx.data.mixture.items() if v > 0} == stage2_mixture()
    for role, share in role_shares().items():
        assert _share(lynx.data.mixture, role) == pytest.approx(share / 100, abs=1e-4)


def test_each_data_variant_changes_only_the_data_its_claim_is_about(paper):
    lynx = paper["lynx-s0"].data

    def differs(name: str) -> set[str]:
        data = paper[f"{name}-s0"].data
        fields = ("captions", "train_files", "mixture", "prompts")
        return {f for f in fields if getattr(data, f) != getattr(lynx, f)}

    assert differs("w-o-diverse-prompts") == {"prompts"}
    assert paper["w-o-diverse-prompts-s0"].data.prompts.mode == "single"
    assert differs("w-large-scale-noisy-data") == {"captions"}
    for name in ("no-text-instructions", "caption-heavy", "vqa-heavy"):
        assert differs(name) == {"mixture"}, name
    no_text = paper["no-text-instructions-s0"].data.mixture
    assert _share(no_text, "text_instruction") == 0
    assert {k: v for k, v in no_text.items() if RECIPE_ROLE.get(k) != "text_instruction"} == {
        k: v for k, v in lynx.mixture.items() if RECIPE_ROLE.get(k) != "text_instruction"
    }
    for name, roles in (
        ("caption-heavy", ("image_captioning", "video_captioning")),
        ("vqa-heavy", ("image_vqa", "video_vqa")),
    ):
        heavy = paper[f"{name}-s0"].data.mixture
        for task, ratio in lynx.mixture.items():
            expected = ratio * 4 if RECIPE_ROLE.get(task) in roles else ratio
            assert heavy[task] == pytest.approx(expected, abs=1e-3), (name, task)


def test_the_other_axes_train_on_the_recipe_at_paper_scale(paper):
    """sweeps/axes.yaml includes the recipe without the data variants: every variant reads
    exactly the paper study's baseline data, so its stage-2 amounts are of the real mixture."""
    spec = load_sweep(REPO / "sweeps" / "axes.yaml", check_paths=False, scale="paper")
    axes = {v.name: v.config for v in spec.expand() if v.seed == 0}
    recipe = paper["lynx-s0"].data
    for name, cfg in axes.items():
        assert (cfg.data.captions, cfg.data.train_files, cfg.data.mixture) == (
            recipe.captions,
            recipe.train_files,
            recipe.mixture,
        ), name
    steps = {n: c.train.stage2.steps for n, c in axes.items() if "stage2-training" in n}
    assert steps == {"less-stage2-training-s0": 5000, "more-stage2-training-s0": 40000}
    assert axes["lynx-s0"].train.stage2.steps == 20000


def test_the_toy_scale_reads_no_recipe_source():
    spec = load_sweep(REPO / "sweeps" / "paper.yaml", check_paths=False)
    assert data_sources(spec.expand()) == []


def test_a_plan_lists_every_source_its_status_and_how_to_get_a_missing_one(tmp_path, paper):
    spec = load_sweep(REPO / "sweeps" / "paper.yaml", check_paths=False, scale="paper")
    variants = spec.expand()
    sources = data_sources(variants)
    assert {s.name for s in sources} == set(SOURCES)
    sbu = next(s for s in sources if s.name == "sbu")
    assert sbu.status == "missing (100 of 100 files)" and "w-large-scale-noisy-data" not in (
        sbu.variants
    )
    out = io.StringIO()
    print_sources(variants, Console(file=out, width=4000))
    text = out.getvalue()
    for source in SOURCES.values():
        assert f"to get {source.name} ({source.released_as}): {source.obtain}" in text
    assert "img2dataset --url_list Train_GCC-training.tsv" in text
    assert "python -m ablations data prepare vqav2 --from data/vqav2 --exclude" in text
    assert "│ all but w-large-scale-noisy-data │" in text.replace("  ", " ").replace("  ", " ")

    here = tmp_path / "sbu"  # a source on this machine is listed as here, with nothing to do
    here.mkdir()
    for i in range(100):
        (here / f"{i:05d}.tar").touch()
    for variant in variants:
        for file in variant.config.data.captions.files:
            if file.source_name == "sbu":
                object.__setattr__(file, "path", f"{here}/{{00000..00099}}.tar")
    sbu = next(s for s in data_sources(variants) if s.name == "sbu")
    assert sbu.status == "here" and sbu.files == 100


def test_the_data_command_prints_the_recipe_and_what_it_leaves_out(capsys):
    from ablations.cli import main

    assert main(["data", "recipe"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert all(name in out for name in SOURCES)
    assert "image_vqa 40%" in out and "text_instruction 30%" in out
    assert "Flan V2 15%" in out and "VLN Caption 5%" in out  # the rows no converter reads
    assert "Held out, as the generated world's place task is: Places365 5%" in out
