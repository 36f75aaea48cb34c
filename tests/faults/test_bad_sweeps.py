"""The fault suite's fast part: malformed and hostile sweep files, each refused before any
compute with exit status 2, naming the file, the line and the field, creating nothing (no
results folder, no MLflow store, no Ray).

Each case is a sweep written the way a careless (or hostile) user would, against the README
and `lynx_core/config/`; `hypothesis` adds random mutations of the shipped sweeps. A case
that were accepted would reach Ray, which the fixture replaces by a failure.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ablations import cli, driver
from ablations.sweep.spec import SweepError, load_sweep
from tests.caption_data import pairs, shard_bytes

REPO = Path(__file__).resolve().parents[2]
TIMES: dict[str, float] = {}
CLUSTER_CASES = (  # refused by `capacity`
    "cpus-beyond-machine",
    "cuda-without-gpus",
    "custom-resource-no-node-has",
    "more-workers-than-the-machine-holds",
)


@dataclass(frozen=True)
class Case:
    """A sweep file (and the files it names), and where its refusal must point."""

    id: str
    text: str | bytes
    field: str  # a substring of the problem's field
    line: int | None
    needle: str  # a substring of its message
    files: dict[str, str | bytes] = field(default_factory=dict)  # name → content, beside it
    problem_file: str | None = None  # the file the problem sits in, when not the sweep
    command: str = "sweep"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


ALIAS_BOMB = "\n".join(
    ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
)

GRID_FIELDS = (  # eight fields that take any positive number: 10 values each
    "train.stage1.steps", "train.stage2.steps", "train.stage1.batch_size",
    "train.stage2.batch_size", "model.resampler.num_queries", "model.resampler.depth",
    "eval.max_new_tokens", "train.stage2.lr",
)  # fmt: skip

CASES = [
    # 1. what used to crash with a traceback
    Case("not-utf8", b"name: sweep\ndescription: caf\xe9\n", "file", 2, "not UTF-8"),
    Case(
        "included-not-utf8",
        "name: sweep\ninclude: other.yaml\n",
        "file",
        1,
        "not UTF-8",
        {"other.yaml": b"\xff\xfe"},
        "other.yaml",
    ),
    Case("include-integer", "name: sweep\ninclude: 5\n", "include", 2, "list of file paths"),
    Case("include-null", "name: sweep\ninclude: [null]\n", "include", 2, "list of file paths"),
    Case(
        "include-folder",
        "name: sweep\ninclude: [sub]\n",
        "include[0]",
        2,
        "not a regular file",
        {"sub/x.yaml": "name: x\n"},
    ),
    Case(
        "include-passwd",
        "name: sweep\n\ninclude: /etc/passwd\n",
        "file",
        1,
        "must be a mapping",
        problem_file="/etc/passwd",
    ),
    Case(
        "train-file-bare-string",
        "name: sweep\nbase:\n  data.train_files: [mine.jsonl]\n",
        "base.data.train_files",
        3,
        "must be a mapping of path",
    ),
    Case(
        "train-file-is-a-folder",
        "name: sweep\nbase:\n  data.train_files: [{path: data}]\n",
        "base.data.train_files",
        3,
        "not a regular file",
        {"data/readme.txt": "x"},
    ),
    Case("deep-nesting", f"name: sweep\nbase: {nested(3000)}\n", "yaml", 2, "nested deeper"),
    Case(
        "deep-mapping",
        "name: sweep\nbase:\n"
        + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(40))
        + "  " * 41
        + "v: 1\n",
        "yaml",
        None,
        "nested deeper",
    ),
    # 2. memory
    Case("alias-bomb", f"name: sweep\n{ALIAS_BOMB}\n", "yaml", None, "more than 50,000"),
    Case("alias-loop", "name: sweep\nbase: &b\n  x: *b\n", "yaml", 2, "contains it"),
    Case(
        "train-file-dev-zero",
        "name: sweep\nbase:\n  data.train_files: [{path: /dev/zero}]\n",
        "base.data.train_files",
        3,
        "not a regular file",
    ),
    Case("sweep-is-dev-zero", "", "file", None, "not a regular file", command="dev-zero"),
    # 3. accepted, then failing inside Ray
    Case("lr-inf", "name: sweep\nbase:\n  train.stage1.lr: .inf\n", "train.stage1.lr", 3, "finite"),
    Case("cpus-inf", "name: sweep\nresources: {cpus: .inf}\n", "resources.cpus", 2, "finite"),
    Case("seed-huge", "name: sweep\nseeds: [18446744073709551617]\n", "seeds", 2, "64 bits"),
    Case("seed-32-bit", "name: sweep\nseeds: [4294967296]\n", "seeds", 2, "0 to 4294967295"),
    Case("seed-negative", "name: sweep\nseeds: [0, -3]\n", "seeds", 2, "0 to 4294967295"),
    Case(
        "steps-huge",
        "name: sweep\nbase:\n  train:\n    stage2:\n      steps: 99999999999999999999\n",
        "train.stage2.steps",
        5,
        "64 bits",
    ),
    Case(
        "mixture-nan",
        "name: sweep\nbase:\n  data.mixture: {caption: .nan, color: 1}\n",
        "data.mixture.caption",
        3,
        "finite",
    ),
    Case(
        "quote-in-axis-value",
        "name: sweep\naxes:\n  model.image_token: ['<img>', 'it''s']\n",
        "axes.model.image_token[0]",
        3,
        "give the values labels",
    ),
    Case(
        "quote-in-label",
        "name: sweep\naxes:\n  model.arch: {'pre\"fix': prefix, ca: cross_attention}\n",
        "axes.model.arch",
        3,
        "letters, digits",
    ),
    Case(
        "name-300-characters",
        f"name: sweep\nvariants:\n  {'v' * 300}: {{model.arch: prefix}}\n",
        "variants.vvv",
        3,
        "at most 80",
    ),
    Case(
        "eval-suite-bad-json-row",
        "name: sweep\nbase:\n  eval.suite: suite\n",
        "base.eval.suite",
        3,
        "line 2: not valid JSON",
        {
            "suite/openvqa/image.jsonl": '{"question": "q", "answer": ["a"], "class": "c", '
            '"index": 1, "image": "a.png"}\n{oops\n',
            "suite/openvqa/a.png": b"",
        },
    ),
    Case(
        "unknown-open-clip-model",
        "name: sweep\nbase:\n  model.vision.open_clip_name: EVA01-g-15\n",
        "model.vision.open_clip_name",
        3,
        "not an open_clip model",
    ),
    Case(
        "adapter-layer-outside-llm",
        "name: sweep\nbase:\n  model.adapters: {enabled: true, layers: [1, 7]}\n",
        "base.model.adapters",
        3,
        "[7] are not layers of the LLM (it has 4",
    ),
    Case(
        "llm-width-not-divisible",
        "name: sweep\nvariants:\n  odd:\n    model.llm: {hidden_size: 100, heads: 3}\n",
        "variants.odd.model.llm",
        4,
        "must divide its hidden_size (100)",
    ),
    Case(
        "resampler-width-not-divisible",
        "name: sweep\nbase:\n  model.resampler.heads: 5\n",
        "model.resampler.heads",
        3,
        "must divide its dim (64)",
    ),
    Case(
        "cuda-without-gpus",
        "name: sweep\nbase:\n  train.device: cuda\n",
        "train.device",
        None,
        "trials get no GPU",
    ),
    Case(
        "vision-checkpoint-a-folder",
        "name: sweep\nbase:\n  model.vision.checkpoint: tower\n",
        "model.vision.checkpoint",
        3,
        "is not a file",
        {"tower/readme.txt": "x"},
    ),
    Case(
        "llm-folder-without-a-model",
        "name: sweep\nbase:\n  model.llm.path: llm\n",
        "model.llm.path",
        3,
        "holds no usable model: config.json is missing",
        {"llm/notes.txt": "weights go here"},
    ),
    Case(
        "llm-folder-with-broken-config",
        "name: sweep\nbase:\n  model.llm.path: llm\n",
        "model.llm.path",
        3,
        "config.json cannot be read",
        {"llm/config.json": "{not json"},
    ),
    # 4. hanging forever
    Case(
        "cpus-beyond-machine",
        "name: sweep\nresources: {cpus: 4096}\n",
        "resources",
        2,
        "wait forever",
    ),
    # 5. silently another experiment
    Case(
        "two-base-blocks",
        "name: sweep\nbase:\n  model.arch: prefix\nbase:\n  train.stage1.steps: 3\n",
        "base",
        4,
        "written twice",
    ),
    Case(
        "two-variants-one-name",
        "name: sweep\nvariants:\n  ca: {model.arch: prefix}\n  ca: {model.arch: cross_attention}\n",
        "variants.ca",
        4,
        "written twice",
    ),
    Case(
        "empty-axis", "name: sweep\naxes:\n  model.arch: []\n", "axes.model.arch", 3, "at least one"
    ),
    Case("empty-zip-group", "name: sweep\nzip:\n  - {}\n", "zip[0]", 3, "non-empty"),
    Case(
        "empty-zip-list",
        "name: sweep\nzip:\n  - {model.arch: [], train.stage1.steps: []}\n",
        "zip[0].model.arch",
        3,
        "at least one",
    ),
    Case(
        "seeds-over-seed-axis",
        "name: sweep\nseeds: [0, 1]\naxes:\n  train.seed: [5, 6]\n",
        "axes.train.seed",
        4,
        "list the seeds under `seeds:`",
    ),
    Case(
        "seed-in-a-variant",
        "name: sweep\nvariants:\n  a:\n    train: {seed: 3}\n",
        "variants.a.train.seed",
        3,
        "`seeds:` sets",
    ),
    Case("duplicate-seeds", "name: sweep\nseeds: [1, 2, 1]\n", "seeds", 2, "lists 1 twice"),
    Case(
        "dotted-and-nested",
        "name: sweep\nvariants:\n  a:\n    model.arch: prefix\n"
        "    model:\n      arch: cross_attention\n",
        "variants.a.model.arch",
        6,  # the second of the two
        "dotted and nested",
    ),
    Case(
        "whole-and-part",
        "name: sweep\nbase:\n  data.mixture: {caption: 1}\n  data.mixture.color: 2\n",
        "base.data.mixture",
        3,
        "whole and also in part",
    ),
    Case(
        "axis-and-zip-same-field",
        "name: sweep\naxes:\n  model.arch: [prefix, cross_attention]\nzip:\n"
        "  - model.arch: [prefix, cross_attention]\n    train.stage1.steps: [1, 2]\n",
        "zip[0].model.arch",
        5,
        "also set by axes.model.arch",
    ),
    Case(
        "yaml-1.1-yes",
        "name: sweep\nbase:\n  train.stage1.batch_size: yes\n",
        "base.train.stage1.batch_size",
        3,
        "expects a number, not text",
    ),
    Case(
        "true-as-a-number",
        "name: sweep\nbase:\n  train.stage1.steps: true\n",
        "base.train.stage1.steps",
        3,
        "not a switch",
    ),
    Case(
        "number-as-a-switch",
        "name: sweep\nbase:\n  model.adapters.enabled: 1\n",
        "base.model.adapters.enabled",
        3,
        "true or false",
    ),
    Case(
        "suite-without-benchmark",
        "name: sweep\nbase:\n  eval.suite: /etc\n",
        "base.eval.suite",
        3,
        "holds no benchmark",
    ),
    Case(  # it would train every stage and record "Open-VQA overall nan%"
        "benchmark-without-questions",
        "name: sweep\nbase:\n  eval.openvqa_image: {path: released/image.json}\n",
        "eval.openvqa_image",
        3,
        "image.json holds no questions",
        {"released/image.json": "[]"},
    ),
    Case(  # subtask folders, none with a question file
        "mme-without-questions",
        "name: sweep\nbase:\n  eval.mme: {path: mme}\n",
        "eval.mme",
        3,
        "mme holds no questions",
        {"mme/existence/images/readme.txt.keep": ""},
    ),
    Case(
        "empty-training-file",
        "name: sweep\nbase:\n  data.train_files: [{path: empty.jsonl}]\n",
        "base.data.train_files",
        3,
        "holds no examples",
        {"empty.jsonl": ""},
    ),
    Case(
        "media-not-images",
        "name: sweep\nbase:\n  data.train_files: [{path: t.jsonl}]\n",
        "base.data.train_files",
        3,
        "is not an image",
        {
            "t.jsonl": '{"image": "a.png", "instruction": "what?", "answer": "x"}\n',
            "a.png": "this is text",
        },
    ),
    Case(
        "name-of-another-sweep",
        "name: arch\n",
        "name",
        1,
        "also the sweep of",
        {"arch.yaml": "name: arch\n"},
    ),
    # 6. refused, but pointing elsewhere
    Case(
        "error-inside-include",
        "name: sweep\ninclude: common.yaml\n",
        "base.train.stage1.stepz",
        3,
        "unknown field",
        {"common.yaml": "base:\n  train:\n    stage1: {stepz: 3}\n"},
        "common.yaml",
    ),
    Case(
        "duplicate-inside-include",
        "name: sweep\ninclude: [common.yaml]\n",
        "base",
        3,
        "written twice",
        {"common.yaml": "base: {}\n\nbase: {}\n"},
        "common.yaml",
    ),
    Case(
        "mixture-names-its-line",
        "name: sweep\nbase:\n  train.stage1.steps: 3\n  data.mixture: {nope: 1}\n",
        "data.mixture",
        4,
        "unknown task",
    ),
    Case(
        "scalar-for-a-section",
        "name: sweep\nbase:\n  train.stage2: 300\n",
        "base.train.stage2",
        3,
        "is a section, not a value",
    ),
    Case(
        "axis-not-a-list",
        "name: sweep\naxes:\n  model.arch: prefix\n",
        "axes.model.arch",
        3,
        "must list at least one value",
    ),
    Case("axes-a-list", "name: sweep\naxes: [model.arch]\n", "axes", 2, "must be a mapping"),
    Case("seeds-a-number", "name: sweep\nseeds: 3\n", "seeds", 2, "must be a list"),
    Case(
        "missing-data-file",
        "name: sweep\nbase:\n  data.train_files: [{path: nowhere.jsonl}]\n",
        "base.data.train_files",
        3,
        "does not exist",
    ),
    Case("not-a-mapping", "- just\n- a list\n", "file", 1, "must be a mapping"),
    # found by review
    Case("list-as-a-key", "name: sweep\n? [a, b]\n: 1\n", "key", 2, "a key is a list"),
    Case("number-as-a-key", "name: sweep\nbase:\n  1: x\n", "base.1", 3, "quote it"),
    Case("empty-key", "name: sweep\n'': arch\n", "''", 2, "empty key"),
    # found by the mutation test: a trailing `?` is a null key with no text to name it by
    Case("bare-question-mark", "name: sweep\n?", "''", 2, "nothing written"),
    Case("control-character", 'name: sweep\ndescription: "a\x01b"\n', "yaml", 2, "control"),
    Case("explicit-int-tag", "name: sweep\nseeds: [!!int 0b101]\n", "yaml", None, "not valid"),
    Case(
        "name-ending-in-newline",
        'name: sweep\nvariants:\n  "abc\\n": {}\n',
        "variants",
        3,
        "may hold",
    ),
    Case(
        "include-overridden-in-the-other-spelling",
        "name: sweep\ninclude: common.yaml\nbase:\n  model:\n    arch: bogus\n",
        "base.model.arch",
        5,
        "'prefix' or 'cross_attention'",
        {"common.yaml": "base:\n  model.arch: cross_attention\n"},
    ),
    Case(
        "scale-section-overridden-in-the-other-spelling",
        "name: sweep\nbase:\n  model.vision.image_size: 64\nscales:\n  tiny:\n    base:\n"
        "      model: {vision: {image_size: -4}}\n",
        "base.model.vision.image_size",
        7,
        "(at scale tiny)",
    ),
    Case(
        "labelled-axis-value-line",
        "name: sweep\naxes:\n  model.vision.image_size:\n    low: -1\n    high: 64\n",
        "axes.model.vision.image_size[0]",
        4,
        "greater than 0",
    ),
    Case(
        "axis-section-and-zip-field",
        "name: sweep\naxes:\n  model.adapters: {on: {enabled: true}, off: {enabled: false}}\n"
        "zip:\n  - model.adapters.enabled: [true, false]\n    train.stage1.steps: [1, 2]\n",
        "zip[0].model.adapters.enabled",
        5,
        "also set by axes.model.adapters",
    ),
    Case(
        "preflight-names-the-base-not-a-variant",
        "name: sweep\nbase:\n  model.llm.path: llm1\nvariants:\n  a: {}\n"
        "  b: {model.llm.path: llm2}\n",
        "base.model.llm.path",
        3,
        "llm1 holds no usable model",
        {"llm1/x": "", "llm2/x": ""},
    ),
    Case("broken-yaml", "name: sweep\nbase: {a: [1, 2}\n", "yaml", 2, "not valid YAML"),
    Case(  # transformers would fail only when a trial builds the model
        "flash-attention-not-installed",
        "name: sweep\nvariants:\n  a: {}\n  b:\n"
        "    model.llm.attn_implementation: flash_attention_2\n    model.arch: cross_attention\n",
        "model.llm.attn_implementation",
        5,
        "flash-attn package is not installed",
    ),
    # stage 1's caption files: every shard present and readable, a sample of pairs decodable
    Case(
        "caption-shard-missing",
        "name: sweep\nbase:\n  data.captions.files:\n"
        "    - {format: webdataset, path: 'pairs-{0..1}.tar'}\n",
        "data.captions.files",
        4,
        "pairs-1.tar",
        files={"pairs-0.tar": shard_bytes(pairs(2))},
    ),
    Case(  # counted before it is expanded: the pattern names ten billion shards
        "caption-pattern-unbounded",
        "name: sweep\nbase:\n  data.captions.files:\n"
        "    - {format: webdataset, path: 'pairs-{0000000000..9999999999}.tar'}\n",
        "data.captions.files",
        3,  # a schema problem inside a list is told at the list's line
        "names 10,000,000,000 files, more than 1,000,000 (checked before it is expanded)",
    ),
    Case(  # 10^8 variants: counted before the grid is made, not after it fills memory
        "axes-grid-unbounded",
        "name: sweep\naxes:\n"
        + "".join(
            f"  {field}: [{', '.join(str(v + 1) for v in range(10))}]\n" for field in GRID_FIELDS
        ),
        "axes",
        2,
        "10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 = 100,000,000 from the axes) × 1 seed(s) = "
        "100,000,000 trials: more than 10,000",
    ),
    Case(  # refused alone: not also "baseline is not a variant" of a grid never made
        "axes-grid-unbounded-with-baseline",
        "name: sweep\nbaseline: 1-1-1-1-1-1-1-1\naxes:\n"
        + "".join(
            f"  {field}: [{', '.join(str(v + 1) for v in range(10))}]\n" for field in GRID_FIELDS
        ),
        "axes",
        3,
        "100,000,000 trials",
    ),
    Case(  # a seed list a script wrote too long
        "seeds-unbounded",
        f"name: sweep\nseeds: [{', '.join(map(str, range(20_000)))}]\n",
        "seeds",
        2,
        "1 variant(s) (the base) × 20,000 seed(s) = 20,000 trials: more than 10,000",
    ),
    Case(
        "caption-shard-corrupt",
        "name: sweep\nbase:\n  data.captions.files:\n"
        "    - {format: webdataset, path: 'pairs-{0..1}.tar'}\n",
        "data.captions.files",
        4,
        "pairs-1.tar: not a readable tar shard",
        files={"pairs-0.tar": shard_bytes(pairs(2)), "pairs-1.tar": b"\x00garbage" * 200},
    ),
    Case(
        "caption-image-missing",
        "name: sweep\nbase:\n  data.captions.world_ratio: 0\n  data.captions.files:\n"
        "    - {format: llava_pretrain, path: pretrain.json}\n",
        "data.captions.files",
        5,
        "gone.png does not exist",
        files={
            "pretrain.json": '[{"id": "1", "image": "gone.png", "conversations": '
            '[{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "a red box"}]}]'
        },
    ),
    # per-stage resources: workers only where a stage can use them, batches they can share
    Case(  # the bases only read or train small frozen parts: one process
        "workers-on-the-bases",
        "name: sweep\nresources:\n  cpus: 1\n  bases: {workers: 2}\n",
        "resources.bases.workers",
        4,
        "workers",
    ),
    Case(
        "workers-do-not-divide-the-batch",
        "name: sweep\nbase:\n  train.stage2.batch_size: 10\nresources:\n"
        "  stage2:\n    workers: 4\n",
        "resources.stage2.workers",
        6,
        "multiple of 4",
    ),
    Case(
        "workers-sharing-a-gpu",
        "name: sweep\nresources:\n  stage1: {workers: 2, gpus: 0.5}\n",
        "resources.stage1.gpus",
        3,
        "each data-parallel worker drives one GPU",
    ),
    Case(
        "eval-workers-sharing-a-gpu",
        "name: sweep\nresources:\n  eval: {workers: 3, gpus: 0.5}\n",
        "resources.eval.gpus",
        3,
        "each data-parallel worker drives one GPU",
    ),
    Case(  # each worker fits this machine, not all of them beside their trial's token cpu
        "more-workers-than-the-machine-holds",
        "name: sweep\nbase: {train.stage2.batch_size: 4096}\nresources:\n"
        "  stage2: {workers: 4096}\n",
        "resources.stage2",
        4,
        "4096 workers of cpus 1 each (and the trial's 0.01 cpu)",
    ),
    Case(
        "custom-resource-no-node-has",
        "name: sweep\nresources:\n  stage1: {custom: {accel: 1}}\n",
        "resources.stage1",
        3,
        "accel 1 (the largest node has 0)",
    ),
]


@pytest.fixture()
def no_compute(monkeypatch):
    """Anything past validation is a failure of the test: Ray and the MLflow driver."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a bad sweep reached Ray or MLflow")

    monkeypatch.setattr("ablations.execute.backends.ray_session", forbidden)
    monkeypatch.setattr(driver, "open_driver", forbidden)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def write_case(folder: Path, case: Case) -> Path:
    for name, content in case.files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.write_bytes if isinstance(content, bytes) else target.write_text)(content)
    path = folder / "sweep.yaml"
    (path.write_bytes if isinstance(case.text, bytes) else path.write_text)(case.text)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_sweep_is_refused_before_compute_naming_file_line_and_field(
    case, tmp_path, monkeypatch, no_compute, capsys
):
    path = write_case(tmp_path, case) if case.command != "dev-zero" else Path("/dev/zero")
    results = tmp_path / "results"
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    status = cli.main(["sweep", str(path), "--results", str(results)])
    TIMES[case.id] = time.perf_counter() - started
    out = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert status == cli.EXIT_BAD_SPEC, out
    assert not results.exists(), "a refused sweep created its results folder"
    assert "nothing was run" in out
    if case.id in CLUSTER_CASES:  # the file is valid; the machine cannot run it
        assert case.needle in out and case.field in out and str(path) in out
        return
    with pytest.raises(SweepError) as caught:
        load_sweep(path)
    problems = caught.value.problems
    match = [p for p in problems if case.field in p.field and case.needle in p.message]
    assert match, f"no problem with field ~{case.field!r} and {case.needle!r}: {problems}"
    assert len({(p.field, p.message) for p in problems}) == len(problems), "told twice"
    problem = match[0]
    if case.line is not None:
        assert problem.line == case.line, problem
    expected_file = case.problem_file or str(path)
    where = problem.where or caught.value.source
    assert Path(where).name == Path(expected_file).name, (where, problems)
    assert Path(expected_file).name in out


def test_the_slowest_refusal_takes_seconds_not_a_trial():
    """Run after the cases (pytest keeps file order): every refusal well under a trial's
    imports and first steps."""
    if len(TIMES) < len(CASES):
        pytest.skip("needs the cases above to have run first (run the whole file)")
    slowest = max(TIMES, key=TIMES.get)
    print(f"{len(TIMES)} refusals; slowest {slowest}: {TIMES[slowest]:.2f} s")
    assert TIMES[slowest] < 10, TIMES


# ---- random mutations of the shipped sweeps ---------------------------------------------------

SHIPPED = sorted((REPO / "sweeps").glob("*.yaml"))
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["", "yes", "no", "on", "0x1F", "1:30", 'a"b', "x" * 300, "../..", "/dev/zero"]
    ),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["a", "model.arch", "steps"]), st.integers(0, 3), max_size=2),
)


def paths_of(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from paths_of(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from paths_of(v, (*prefix, i))


HOSTILE_KEYS = st.sampled_from([1, None, True, "", "a\nb", 'q"uote', "x" * 200, "model..arch"])


@st.composite
def mutated_sweeps(draw):
    """A shipped sweep with one or two of: a value replaced by a hostile one, a key renamed
    to a hostile one, a key removed, a line repeated (a duplicate key), the text cut short."""
    source = draw(st.sampled_from(SHIPPED))
    text = source.read_text()
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["replace", "rename", "delete", "repeat-line", "truncate"]))
        if kind in ("replace", "rename", "delete"):
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                continue  # cut short already: nothing to walk
            paths = [p for p in paths_of(data) if p] if isinstance(data, dict) else []
            if not paths:
                continue
            path = draw(st.sampled_from(paths))
            parent = data
            for part in path[:-1]:
                parent = parent[part]
            if kind == "delete":
                del parent[path[-1]]
            elif kind == "rename" and isinstance(parent, dict):
                parent[draw(HOSTILE_KEYS)] = parent.pop(path[-1])
            else:
                parent[path[-1]] = draw(HOSTILE)
            text = yaml.safe_dump(data, sort_keys=False)
        elif kind == "repeat-line":
            lines = text.splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                text = "".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
        else:
            text = text[: draw(st.integers(0, len(text)))]
    return source.name, text


@settings(
    max_examples=int(os.environ.get("FAULT_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutated_sweeps())
def test_a_mutated_sweep_is_accepted_or_refused_cleanly(tmp_path, capsys, mutation):
    """Never a traceback: `make plan` on the file either plans it or exits 2 with every
    problem on a line of the file (or none), and creates nothing either way."""
    name, text = mutation
    folder = tmp_path / "mutated"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    results = folder / "results"
    status = cli.main(["plan", str(path), "--results", str(results)])
    assert status in (0, cli.EXIT_BAD_SPEC) and not results.exists()
    capsys.readouterr()
    if status == 0:
        assert load_sweep(path, check_paths=False).expand()
        return
    with pytest.raises(SweepError) as caught:
        load_sweep(path, check_paths=False)
    count = text.count("\n") + 1
    for problem in caught.value.problems:
        assert problem.field and problem.message
        assert problem.line is None or 1 <= problem.line <= count, problem


# ---- errors that cross a process, and commands on a store that does not exist ----------------


def test_errors_survive_the_trip_back_from_a_ray_worker():
    import pickle

    from ray.exceptions import RayTaskError

    from ablations.execute.run import error_summary
    from ablations.sweep.errors import Problem
    from lynx_core.data.files.formats import FormatError

    format_error = FormatError(Path("suite/openvqa/image.jsonl"), ["line 2: not valid JSON"])
    sweep_error = SweepError("a.yaml", [Problem("base", "bad", 3)], via="included from b.yaml")
    for err in (format_error, sweep_error):
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err) and str(again) == str(err)
    wrapped = RayTaskError(
        "run_stage_trial", "Traceback (most recent call last): ...", format_error
    )
    summary = error_summary(wrapped)
    assert summary.startswith("FormatError: suite/openvqa/image.jsonl: 1 problem(s)")
    assert "line 2: not valid JSON" in summary and "Traceback" not in summary


@pytest.mark.parametrize("command", [["tables"], ["owleval", "export"]])
def test_reading_commands_on_a_sweep_never_run_create_no_store(tmp_path, command, capsys):
    results = tmp_path / "results"
    status = cli.main([*command, str(REPO / "sweeps" / "smoke.yaml"), "--results", str(results)])
    assert status == 1 and not results.exists()
    assert "make sweep NAME=smoke" in capsys.readouterr().out


def test_a_ratings_sheet_without_its_rating_column_is_refused_by_name(tmp_path):
    from lynx_core.evaluate.owleval import RatingError, import_ratings

    sheet = tmp_path / "sheet.csv"
    sheet.write_text("question_id,slot,answer\nq1,A,a cat\n")
    (tmp_path / "key.json").write_text('{"q1/A": "prefix"}')
    with pytest.raises(RatingError, match="no column rating"):
        import_ratings(sheet, tmp_path / "key.json")


def test_a_cluster_is_given_time_to_grow_then_the_sweep_is_refused_with_what_is_missing(tmp_path):
    from ablations.execute.capacity import Node, wait_for_fit

    path = tmp_path / "sweep.yaml"
    path.write_text("name: sweep\nresources: {cpus: 8, gpus: 1}\n")
    spec = load_sweep(path)
    said: list[str] = []
    grown = iter([[Node(4, 0)], [Node(4, 0)], [Node(4, 0), Node(16, 2)]])
    assert wait_for_fit(spec, lambda: next(grown), "the cluster", 5, said.append, 0.01) == []
    assert said == [
        "the cluster: a trial asks for cpus 8 (the largest node has 4), gpus 1 (the largest "
        "node has 0); waiting up to 5 s for a node"
    ]
    [problem] = wait_for_fit(spec, lambda: [Node(4, 0)], "the cluster", 0.05, said.append, 0.01)
    assert problem.field == "resources" and problem.line == 2
    assert "gpus 1 (the largest node has 0)" in problem.message


@pytest.mark.parametrize("option", [["--max-concurrent", "0"], ["--max-failures", "-1"]])
def test_command_line_counts_out_of_range_are_refused(option, tmp_path, no_compute):
    results = tmp_path / "results"
    with pytest.raises(SystemExit) as exited:
        cli.main(["sweep", "smoke", "--results", str(results), *option])
    assert exited.value.code == 2 and not results.exists()


def test_a_grid_too_large_is_the_only_problem_told(tmp_path):
    """Counted first and told alone: the checks after it would name variants (the
    baseline, tuned ones) that a grid never made does not have."""
    case = next(c for c in CASES if c.id == "axes-grid-unbounded-with-baseline")
    with pytest.raises(SweepError) as caught:
        load_sweep(write_case(tmp_path, case))
    (problem,) = caught.value.problems
    assert problem.field == "axes" and "pair values with `zip:`" in problem.message
