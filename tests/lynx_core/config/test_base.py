"""A section given in part keeps the rest of its field's default, at any depth."""

from __future__ import annotations

from lynx_core.config import StageConfig, TrainConfig, VariantConfig, nest


def test_a_stage_given_one_field_keeps_the_stages_own_defaults():
    """Setting stage 1's learning rate must not also cut it from 600 steps to StageConfig's
    40, nor the bases' batch of 32 to 16: the sweep would run another experiment."""
    config = VariantConfig.model_validate(nest({"train.stage1.lr": 0.01, "train.bases.steps": 100}))
    defaults = TrainConfig()
    assert config.train.stage1 == defaults.stage1.model_copy(update={"lr": 0.01})
    assert config.train.bases == defaults.bases.model_copy(update={"steps": 100})
    assert defaults.stage1.steps != StageConfig().steps  # (the case the rule is for)


def test_what_a_section_sets_wins_and_untouched_sections_are_the_defaults():
    config = VariantConfig.model_validate(
        nest({"train.stage2.steps": 7, "train.stage2.batch_size": 4, "model.arch": "prefix"})
    )
    assert (config.train.stage2.steps, config.train.stage2.batch_size) == (7, 4)
    assert config.train.clip == TrainConfig().clip and config.data == VariantConfig().data
