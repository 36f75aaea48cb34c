"""Stage keys: variants share exactly the stage runs whose inputs (and ancestors) are equal."""

from __future__ import annotations

import pytest

from ablations.planning.plan import make_plan
from ablations.sweep.variant import Variant
from lynx_core.config import VariantConfig, config_hash, flatten, nest
from lynx_core.stages import INTRODUCED_AT, STAGES, stage_inputs, stage_of, unread_prefixes


def variant(name: str, **dotted) -> Variant:
    config = VariantConfig.model_validate(nest(dotted))
    return Variant(name, config, dotted, config.train.seed)


def shared_stages(a: Variant, b: Variant) -> list[str]:
    plan = make_plan([a, b])
    return [s for s in STAGES if plan.chains[a.name][s] == plan.chains[b.name][s]]


def test_every_config_field_belongs_to_a_stage():
    lora = VariantConfig.model_validate({"model": {"llm": {"lora": {"rank": 4}}}})
    for config in (VariantConfig(), lora):
        for field in flatten(config.model_dump(mode="json")):
            stage_of(field)  # raises for a field no stage claims
    with pytest.raises(KeyError, match="FIELD_STAGE"):
        stage_of("optimizer.betas")


def test_stage_inputs_partition_the_config():
    config = VariantConfig()
    fields = [f for stage in STAGES for f in stage_inputs(config, stage)]
    assert len(fields) == len(set(fields))
    no_result = {
        "train.checkpoint_every",
        "train.log_every",
        "train.device",
        "train.precision",
        "train.deepspeed",
        "train.feature_cache",
        "train.data_workers",
        "train.sample_log",
        "train.max_bad_share",
        "train.gradient_checkpointing",
        "model.llm.attn_implementation",
    }
    at_introduction = set(INTRODUCED_AT)  # keyed only where set to another value
    flat = set(flatten(config.model_dump()))
    unread = {f for f in flat if f.startswith(unread_prefixes(config))}  # other connectors'
    assert unread == {f for f in flat if f.startswith(("model.mlp.", "model.avg_pool."))}
    assert set(fields) | no_result | at_introduction | unread == flat
    assert not set(fields) & (no_result | at_introduction | unread)


@pytest.mark.parametrize(
    ("change", "shared"),
    [
        ({"train.stage2.lr": 1e-3}, ["bases", "stage1"]),
        ({"eval.num_beams": 3}, ["bases", "stage1", "stage2"]),
        ({"data.eval_images": 16}, ["bases", "stage1", "stage2"]),
        ({"model.arch": "cross_attention"}, ["bases"]),
        ({"model.llm.trainable": True}, ["bases"]),
        ({"model.vision.image_size": 48}, []),  # the toy tower is CLIP-pretrained per size
        ({"model.llm.toy_base": "llama"}, []),
        ({"data.captions.quality": "noisy"}, ["bases"]),
        ({"data.prompts.mode": "single"}, ["bases", "stage1"]),
        ({"data.mixture": {"caption": 1.0, "text": 2.0}}, ["bases", "stage1"]),
        ({"train.bases.steps": 10}, []),
        ({"train.seed": 1}, ["bases"]),  # seeds vary what the variant trains, not its bases
        ({"train.bases_seed": 1}, []),
        ({"train.checkpoint_every": 10}, ["bases", "stage1", "stage2", "eval"]),
        ({"train.feature_cache": False}, ["bases", "stage1", "stage2", "eval"]),
        ({"train.log_every": 10}, ["bases", "stage1", "stage2", "eval"]),  # keys nothing
        ({"train.precision": "fp32"}, ["bases", "stage1", "stage2", "eval"]),  # auto: fp32 here
        ({"train.precision": "bf16"}, ["bases"]),  # another runtime: another result
        ({"train.device": "cpu"}, ["bases", "stage1", "stage2", "eval"]),
    ],
)
def test_variants_share_the_stages_before_their_first_difference(change, shared):
    assert shared_stages(variant("a"), variant("b", **change)) == shared


def test_plan_holds_each_unique_run_once_and_counts_naive_runs():
    variants = [variant(f"lr{i}", **{"train.stage2.lr": lr}) for i, lr in enumerate((1e-3, 2e-3))]
    variants.append(variant("beams", **{"eval.num_beams": 2}))
    plan = make_plan(variants)
    assert plan.counts() == {"bases": (1, 3), "stage1": (1, 3), "stage2": (3, 3), "eval": (3, 3)}
    stage1 = plan.level("stage1")[0]
    assert plan.users(stage1.id) == ["lr0", "lr1", "beams"]
    assert stage1.parent_id == f"bases/{stage1.chain['bases']}"
    assert list(stage1.chain) == ["bases", "stage1"]
    assert plan.run_of("beams", "stage2").parent_id == stage1.id


def test_part_of_a_plan_is_the_plan_of_those_variants():
    variants = [
        variant("a"),
        variant("b", **{"train.stage2.lr": 1e-3}),
        variant("c", **{"data.seed": 3}),
    ]
    part = make_plan(variants).only({"a", "c"})
    alone = make_plan([variants[0], variants[2]])
    assert part.chains == alone.chains and list(part.runs) == list(alone.runs)
    assert [v.name for v in part.variants] == ["a", "c"]
    assert part.counts()["stage2"] == (2, 2)


def test_keys_are_stable_across_processes():
    """Keys address folders in a shared store: they must not depend on the Python process."""
    plan = make_plan([variant("a")])
    assert len(plan.chains["a"]["stage1"]) == 12
    assert plan.chains["a"] == make_plan([variant("b")]).chains["b"]
    assert config_hash(VariantConfig()) == config_hash(VariantConfig.model_validate({}))


def test_editing_the_users_data_in_place_rekeys_the_stages_that_read_it(tmp_path):
    import os

    suite = tmp_path / "suite"
    (suite / "openvqa").mkdir(parents=True)
    questions = suite / "openvqa" / "image.jsonl"
    questions.write_text("")
    train = tmp_path / "mine.jsonl"
    train.write_text('{"instruction": "say hi", "answer": "hi"}\n')
    config = VariantConfig.model_validate(
        {"eval": {"suite": str(suite)}, "data": {"train_files": [{"path": str(train)}]}}
    )

    def chain() -> dict:
        return make_plan([Variant("a", config, {}, 0)]).chains["a"]

    before = chain()
    assert chain() == before  # stable while nothing changes
    questions.write_text('{"question": "q"}\n')
    os.utime(questions, ns=(1, 1))
    after_suite = chain()
    assert after_suite["eval"] != before["eval"] and after_suite["stage2"] == before["stage2"]
    train.write_text('{"instruction": "say bye", "answer": "bye"}\n')
    after_train = chain()
    assert after_train["stage2"] != after_suite["stage2"]
    assert after_train["stage1"] == before["stage1"]


def test_a_gpu_trial_never_reuses_a_cpu_result():
    """The key holds the runtime a stage resolves to (from the trial's GPUs), not `auto`."""
    on_cpu = make_plan([variant("a")], gpus=0).chains["a"]
    on_gpu = make_plan([variant("a")], gpus=1).chains["a"]
    assert on_cpu["bases"] == on_gpu["bases"]  # the toy bases train on the CPU either way
    assert all(on_cpu[s] != on_gpu[s] for s in ("stage1", "stage2", "eval"))
    run = make_plan([variant("a")], gpus=1).run_of("a", "stage2")
    assert run.inputs["runtime"] == "cuda bf16"
    forced = make_plan([variant("a", **{"train.device": "cpu"})], gpus=1).chains["a"]
    assert forced == on_cpu  # a GPU trial told to compute on the CPU computes what a CPU does


@pytest.mark.parametrize(
    ("device", "precision", "cuda", "bf16"),
    [
        ("auto", "auto", False, False),
        ("auto", "auto", True, True),
        ("cpu", "auto", True, True),
        ("auto", "fp32", True, True),
        ("cuda", "bf16", True, True),
    ],
)
def test_the_planned_runtime_is_the_one_a_worker_resolves(
    monkeypatch, device, precision, cuda, bf16
):
    import torch

    from lynx_core.compute.runtime import resolve_runtime
    from lynx_core.config import TrainConfig
    from lynx_core.stages import planned_runtime

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
    train = TrainConfig(device=device, precision=precision)
    assert planned_runtime(train, gpus=cuda) == resolve_runtime(train).name


def test_a_worker_that_resolves_another_runtime_refuses_the_run(monkeypatch):
    """An 'auto' trial planned for a GPU that lands on a GPU without bf16 must not store an
    fp32 result under a 'cuda bf16' key."""
    import torch

    from ablations.execute.workers import check_runtime

    run = make_plan([variant("a")], gpus=1).run_of("a", "stage1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    with pytest.raises(RuntimeError, match="planned to run as 'cuda bf16'.*'cuda fp32'"):
        check_runtime(run)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    check_runtime(run)
