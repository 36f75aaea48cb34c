"""Checks of what a variant's stages will read: the ones not covered by the fault suite."""

from __future__ import annotations

import json

import open_clip

from lynx_core.checks import open_clip_models


def test_open_clip_names_are_read_as_open_clip_lists_them():
    assert set(open_clip_models()) == set(open_clip.list_models())


def test_a_local_llm_is_fitted_with_its_own_sizes(tmp_path):
    from lynx_core.checks import llm_folder
    from lynx_core.config import VariantConfig
    from tests.tiny import llm_folder_stub

    folder = llm_folder_stub(tmp_path / "llm7", layers=32, hidden=4096, heads=32)
    model = {
        "llm": {"path": str(folder)},
        "adapters": {"enabled": True, "layers": [0, 31, 32]},
        "arch": "cross_attention",
        "cross_attention": {"heads": 3},
    }
    cfg = VariantConfig.model_validate({"model": model})  # the toy LLM's sizes do not apply
    found = {f.field: f.message for f in llm_folder(cfg)}
    assert found["model.adapters.layers"] == (
        "adapters.layers [32] are not layers of llm7 (it has 32: 0 to 31)"
    )
    assert found["model.cross_attention.heads"] == (
        "cross_attention heads (3) must divide llm7's hidden_size (4096)"
    )


def test_every_marked_path_is_looked_for_and_nothing_else(tmp_path):
    """Top-level, optional, listed and nested-in-a-list paths are all found, as written
    (before the rest validates) or as dumped; a cache folder (a plain Path) is not one."""
    from lynx_core.checks import missing_paths
    from lynx_core.config import VariantConfig

    here = tmp_path / "here"
    here.mkdir()
    gone = str(tmp_path / "gone")
    written = {
        "model": {"llm": {"path": gone}, "vision": {"checkpoint": str(here)}},
        "data": {
            "train_files": [{"path": str(here)}, {"path": gone, "media_root": gone}],
            "captions": {
                "files": [
                    {
                        "format": "webdataset",
                        "path": "shards-{0..3}.tar",  # a pattern: caption_files looks at it
                        "clip_filter": {"model": "ViT-B-32", "checkpoint": gone},
                    }
                ]
            },
        },
        "eval": {"mme": {"path": gone}, "gpt_judge": {"cache_dir": gone}},
    }
    expected = [
        "model.llm.path",
        "data.train_files.1.path",
        "data.train_files.1.media_root",
        "data.captions.files.0.clip_filter.checkpoint",
        "eval.mme.path",
    ]
    assert [f.field for f in missing_paths(written)] == expected
    assert all(f"path '{gone}' does not exist" in f.message for f in missing_paths(written))
    dumped = VariantConfig.model_validate(written).model_dump()  # the config only describes
    assert sorted(f.field for f in missing_paths(dumped)) == sorted(expected)
    assert missing_paths({"model": {"llm": {"path": 7}}, "eval": "not a section"}) == []


def test_pooling_more_cells_than_a_named_towers_grid_is_refused_before_compute():
    from lynx_core.checks import vision_tower
    from lynx_core.config import VariantConfig

    def pooled(tokens: int, size: int) -> VariantConfig:
        vision = {"open_clip_name": "ViT-B-16", "image_size": size}
        return VariantConfig(
            model={"connector": "avg_pool", "avg_pool": {"tokens": tokens}, "vision": vision}
        )

    assert vision_tower(pooled(196, 224)) == []  # 224 / 16: a 14×14 grid
    [finding] = vision_tower(pooled(225, 224))
    assert finding.field == "model.avg_pool.tokens"
    assert finding.message == (
        "225 is more than the 14×14 patch grid of ViT-B-16 at 224 px can pool to; use at most 196"
    )
    assert vision_tower(pooled(225, 240)) == []  # the grid is read at the size asked for


def test_a_local_llm_is_built_from_its_config_before_compute(tmp_path):
    """Sizes come from the config as transformers reads it (GPT-2 calls them n_embd and
    n_layer); a config transformers cannot build into a causal LM is refused, with its
    own words, whatever the variant places in it."""
    from lynx_core.checks import llm_folder
    from lynx_core.config import VariantConfig
    from tests.tiny import llm_folder_stub

    def findings(folder, **adapters) -> list[str]:
        model = {"llm": {"path": str(folder)}, "adapters": {"enabled": True, **adapters}}
        return [f.message for f in llm_folder(VariantConfig.model_validate({"model": model}))]

    assert findings(llm_folder_stub(tmp_path / "llama")) == []
    gpt = llm_folder_stub(tmp_path / "gpt")
    sizes = {"model_type": "gpt2", "n_embd": 64, "n_layer": 4, "n_head": 4}
    (gpt / "config.json").write_text(json.dumps(sizes))
    assert findings(gpt, layers=[3]) == []
    assert findings(gpt, layers=[4]) == [
        "adapters.layers [4] are not layers of gpt (it has 4: 0 to 3)"
    ]
    clip = llm_folder_stub(tmp_path / "clip")
    (clip / "config.json").write_text(json.dumps({"model_type": "clip_vision_model"}))
    [message] = findings(clip, enabled=False)  # even a prefix needs a causal LM
    assert message.startswith(
        f"{clip} is not a causal LM transformers can build: Unrecognized configuration class"
    )


def test_a_tower_of_another_family_is_checked_before_compute(tmp_path):
    from lynx_core.checks import vision_tower
    from lynx_core.config import VariantConfig

    def findings(**vision) -> dict[str, str]:
        cfg = VariantConfig.model_validate({"model": {"vision": vision}})
        return {f.field: f.message for f in vision_tower(cfg)}

    weights = tmp_path / "lite0.safetensors"
    weights.write_bytes(b"")
    timm = {"family": "timm", "checkpoint": weights, "image_size": 224}
    assert findings(timm_name="efficientnet_lite0", **timm) == {}
    assert findings(timm_name="efficientnet_lite9", **timm) == {
        "model.vision.timm_name": "'efficientnet_lite9' is not a timm model (timm.list_models(); "
        "close: efficientnet_lite0, efficientnet_lite1, efficientnet_lite2, efficientnet_lite3, "
        "efficientnet_lite4)"
    }
    assert findings(family="hf", hf_path=tmp_path, image_size=224) == {
        "model.vision.hf_path": f"{tmp_path} holds no config.json (a from_pretrained folder)"
    }


def test_a_chat_template_is_cut_into_turns_before_compute(tmp_path):
    """`prompt_template: chat_template` loads the folder's tokenizer in the preflight: one
    without a chat template is refused at the field, one with a template that cuts passes."""
    from lynx_core.checks import llm_folder
    from lynx_core.config import VariantConfig
    from lynx_core.model.llm import build_word_tokenizer
    from lynx_core.model.released import GEMMA3_CHAT_TEMPLATE
    from tests.tiny import llm_folder_stub

    folder = llm_folder_stub(tmp_path / "llm")
    tokenizer = build_word_tokenizer(["red", "user", "model"])
    tokenizer.save_pretrained(folder)
    llm = {"path": str(folder), "prompt_template": "chat_template"}
    cfg = VariantConfig.model_validate({"model": {"llm": llm}})
    [refused] = llm_folder(cfg)
    assert refused.field == "model.llm.prompt_template"
    assert refused.message.endswith("has no chat template; use prompt_template lynx or vicuna_v1.1")
    tokenizer.chat_template = GEMMA3_CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    assert llm_folder(cfg) == []
