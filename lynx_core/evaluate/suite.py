"""A variant's whole evaluation on benchmark files, read through the real formats.

Each benchmark is given by its path and media root (`lynx_core.data.files.benchmarks`): the
released files a sweep names, else the generated world's held-out suite or the user's own
folder in its layout. Media are read a batch at a time, never the whole benchmark at once.

Open-VQA image and video files (judged by the rule judge or a GPT judge, scored per class as
the paper counts), length-instruction compliance on held-out instructions (with the
correctness of those answers beside it: the paper's trade-off), by the variant and, where the
suite describes its images in words, by its bare frozen LLM reading the descriptions
(`lynx_core.evaluate.following`), MME-form yes/no questions
(official acc / acc+), hallucination (`lynx_core.evaluate.hallucination`: absent things named
in the answers asked for detail, where the suite annotates what its images show, and POPE's
probes), and answers to OwlEval-form open prompts for people to rate. Every answer goes to
`predictions.jsonl` with its split; the metrics come back as one flat dict of finite
numbers (`lynx_core.evaluate.finite`: a headline that is not one fails the stage).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path

import torch
from transformers import PreTrainedModel

from lynx_core.atomic import write_text
from lynx_core.compute.ranks import SINGLE, Ranks
from lynx_core.compute.runtime import CPU, Runtime
from lynx_core.config import VariantConfig
from lynx_core.data.batches import read_pixels
from lynx_core.data.dialogue import DialogueTemplate, dialogue_template
from lynx_core.data.examples import Example
from lynx_core.data.files.benchmarks import Benchmark, Benchmarks
from lynx_core.data.files.formats import (
    OpenVQAItem,
    load_mme,
    load_openvqa,
    load_owleval,
    load_pope,
)
from lynx_core.digests import digest_files
from lynx_core.evaluate import hallucination, mme, openvqa, rule_judge
from lynx_core.evaluate.finite import finite_metrics
from lynx_core.evaluate.following import length_instructed, llm_answers, score_following
from lynx_core.evaluate.gpt_judge import GptJudge, Verdict, require_verdicts, verdict_counts
from lynx_core.evaluate.instructions import length_stats
from lynx_core.faults import fault_point
from lynx_core.model.features import (
    Encoder,
    TokenFiles,
    cached_trunk,
    kept_tokens,
    token_files,
)
from lynx_core.model.lynx import LynxModel

log = logging.getLogger(__name__)
PREDICTIONS = "predictions.jsonl"
OWL_MAX_NEW_TOKENS = 16


class MediaTable:
    """Each distinct media file of an evaluation, images and videos apart: an example's
    `media` is its file's row among its kind. Files are read when a batch asks for them
    (`read`), so memory is bounded by the batch, not the benchmark; with an `encode` (the
    frozen trunk, see `lynx_core.model.features`) a batch gets the trunk's tokens."""

    def __init__(
        self,
        image_size: int,
        frames: int,
        encode: Encoder | None = None,
        keep: TokenFiles | None = None,
    ):
        self.image_size, self.frames, self.encode = image_size, frames, encode
        self.keep = keep  # where a batch's tokens are kept (`token_files`), named by its files
        self.key = "pixels" if encode is None else "patches"  # how the model takes a row
        self.rows: dict[tuple[Path, str], int] = {}
        self.paths: dict[str, list[Path]] = {"image": [], "video": []}

    def index(self, path: Path, kind: str) -> int:
        if (path, kind) not in self.rows:
            self.paths[kind].append(path)
            self.rows[path, kind] = len(self.paths[kind]) - 1
        return self.rows[path, kind]

    def read(self, kind: str, rows: list[int]) -> torch.Tensor:
        """The model's media input for `rows` of `kind`, each distinct file read (and run
        through the trunk) once: a benchmark asks its questions about one image one after
        another, so a batch holds a few files several times each."""
        distinct = list(dict.fromkeys(rows))
        paths = [self.paths[kind][r] for r in distinct]
        encode = self.encode
        if encode is None:
            media = read_pixels(paths, kind, self.image_size, self.frames)
        else:
            file = None
            if self.keep is not None:
                files = [(str(path), digest_files(path)) for path in paths]
                file = self.keep(kind, self.image_size, self.frames, files)
            media = kept_tokens(
                file, lambda: encode(read_pixels(paths, kind, self.image_size, self.frames))
            )
        where = {row: i for i, row in enumerate(distinct)}
        return media[[where[row] for row in rows]]


def _examples(items: Sequence[OpenVQAItem], table: MediaTable) -> list[Example]:
    return [
        Example(
            table.index(item.media, item.kind),
            item.kind,
            item.question,
            item.answer[0],
            item.category,
            item.origin_dataset,
            references=tuple(item.answer),
        )
        for item in items
    ]


def _judge(cfg: VariantConfig, cache: Path, examples, answers) -> list[Verdict] | None:
    """The GPT judge's verdicts, or None when the rule judge decides."""
    if cfg.eval.judge != "gpt":
        return None
    judge_cfg = cfg.eval.gpt_judge
    if judge_cfg.cache_dir is None:
        judge_cfg = judge_cfg.model_copy(update={"cache_dir": cache / "judge_cache"})
    return GptJudge(judge_cfg).judge_many(
        [e.prompt for e in examples], [e.accepted for e in examples], answers
    )


@dataclass(frozen=True)
class Answerer:
    """Answers examples with one model: its tokenizer, decoding settings, media and device;
    with several ranks, each decodes its hand of the batches and all get every answer."""

    model: LynxModel
    tokenizer: object
    cfg: VariantConfig
    table: MediaTable
    runtime: Runtime
    ranks: Ranks = SINGLE

    @cached_property
    def template(self) -> DialogueTemplate:
        """Cut once: a chat template is the tokenizer's, rendered (`chat_dialogue`)."""
        return dialogue_template(self.cfg.model.llm.prompt_template, self.tokenizer)

    def __call__(self, examples: Sequence[Example], max_new_tokens: int | None = None):
        """Answers to examples of one media kind."""
        if not examples:
            return []
        return openvqa.generate_answers(
            self.model,
            self.tokenizer,
            self.template,
            examples,
            partial(self.table.read, examples[0].kind),
            self.cfg.eval,
            max_new_tokens,
            self.runtime,
            self.table.key,
            self.ranks,
        )


def evaluate_suite(
    model: LynxModel,
    tokenizer,
    cfg: VariantConfig,
    benchmarks: Benchmarks,
    cache: Path,
    out: Path,
    runtime: Runtime = CPU,
    base_llm: BaseLLM | None = None,
    ranks: Ranks = SINGLE,
) -> tuple[dict[str, float], str]:
    """All metrics of the `benchmarks` and the name of the judge that scored Open-VQA.
    `base_llm` loads the variant's frozen LLM alone, for the instruction-following comparison.

    On several `ranks` every rank answers its share of each set of questions and gets all
    the answers; rank 0 alone asks the GPT judge and writes the predictions, and its
    metrics are the stage's (another rank's lack the GPT judge's verdicts)."""
    encode = cached_trunk(model.vision, cfg.train.feature_cache, runtime.device, runtime.autocast)
    # every variant on the same bases asks the same batches of the same suite: each batch's
    # tokens are computed once per sweep
    fp32 = runtime.autocast_dtype is None
    keep = None
    if encode is not None:
        keep = token_files(model.vision, cache, "eval_trunk_tokens", runtime.name, fp32)
    table = MediaTable(cfg.model.vision.image_size, cfg.model.vision.max_frames, encode, keep)
    answer = Answerer(model, tokenizer, cfg, table, runtime, ranks)
    # every answer first (collectives on several ranks), then the judge (rank 0 alone): the
    # other ranks never wait inside a collective while a GPT judge takes its time
    answered: dict[str, tuple[list[Example], list[str]]] = {}
    openvqa_files = {"openvqa": benchmarks.openvqa_image, "openvqa_video": benchmarks.openvqa_video}
    for split, benchmark in openvqa_files.items():
        if benchmark is None:
            continue
        examples = _examples(load_openvqa(benchmark.path, benchmark.media_root), table)
        if examples:
            answered[split] = (examples, answer(examples))
            fault_point(f"eval:{split}")  # the fault suite stops an evaluation here
    image_examples, image_answers = answered.get("openvqa", ([], []))
    metrics: dict[str, float] = dict(length_stats(image_answers))
    later: list[dict] = []  # records after Open-VQA's, in the order they are written
    if cfg.eval.split == "validation":  # a tuning pass: its Open-VQA score is what it is for
        image_examples = []
    asked, kinds = length_instructed(image_examples, cfg.eval.compliance_questions)
    judge = openvqa.rule_judge_of(image_examples)
    found, rows = score_following(
        "compliance", asked, kinds, answer(asked), cfg.eval.detailed_min_words, judge
    )
    metrics.update(found)
    later += rows
    annotated = _annotations(benchmarks, table)
    metrics.update(_chair(rows, annotated))
    described = _described(annotated, asked)
    if described and base_llm is not None:
        found, rows = _bare_llm_following(
            base_llm, tokenizer, described, kinds, cfg, answer, judge, cache
        )
        metrics.update(found)
        later += rows
    metrics.update(_mme(answer, benchmarks.mme, later))
    metrics.update(_pope(answer, benchmarks.pope, later))
    later += _owleval(answer, benchmarks.owleval)

    records: list[dict] = []
    verdicts: list[Verdict] = []
    judge_name = rule_judge.JUDGE_NAME
    for split, (examples, answers) in answered.items():
        judged = _judge(cfg, cache, examples, answers) if ranks.is_main else None
        if judged is None:
            scores, rows = openvqa.score(examples, answers)
        else:
            judge_name = "gpt:" + ",".join(sorted({v.judge_model for v in judged}))
            correct = [v.correct for v in judged]
            scores, rows = openvqa.score(examples, answers, correct, judge_name)
            for row, verdict in zip(rows, judged, strict=True):
                row["verdict"], row["judge_reply"] = verdict.label, verdict.reply
            scores.update(verdict_counts(judged))
            verdicts += judged
        metrics.update({f"{split}/{k}": v for k, v in scores.items()})
        records += [{"split": split, **r} for r in rows]
    records += later
    if ranks.is_main:
        write_text(out / PREDICTIONS, "".join(json.dumps(r) + "\n" for r in records))
    require_verdicts(verdicts, cfg.eval.gpt_judge)  # a judge that failed leaves us unfinished
    log.info("evaluated %s (judge %s)", ", ".join(benchmarks.present()), judge_name)
    return finite_metrics(metrics), judge_name  # a NaN headline fails the stage


@dataclass(frozen=True)
class BaseLLM:
    """A variant's frozen LLM alone: how to load it, and what it is (its bases' folder), so
    that its answers, the same for every variant and seed on those bases, are computed
    once and kept in the store's cache."""

    load: Callable[[], PreTrainedModel]
    identity: str


def _bare_llm_following(
    base: BaseLLM, tokenizer, described, kinds, cfg: VariantConfig, answer, judge, cache: Path
):
    """The frozen LLM's compliance on the described questions, judged as the model's are,
    on the ranks and device the model's `answer`s use (its copy freed on return: at paper
    scale a second 7B LLM), or from the cache when these bases answered them before."""
    template = dialogue_template(cfg.model.llm.prompt_template, tokenizer)
    asked = [template.prompt(e.prompt, e.context, e.history) for e in described]
    settings = (cfg.eval.max_new_tokens, cfg.eval.num_beams, cfg.eval.batch_size)
    digest = hashlib.sha256(json.dumps([base.identity, asked, settings]).encode()).hexdigest()
    kept = cache / "bare_llm" / f"{digest[:24]}.json"
    if kept.is_file():
        answers = json.loads(kept.read_text())
    else:
        llm = base.load().to(answer.runtime.device)
        answers = llm_answers(
            llm, tokenizer, template, described, cfg.eval, answer.runtime, answer.ranks
        )
        if answer.ranks.is_main:
            write_text(kept, json.dumps(answers))
    words = cfg.eval.detailed_min_words
    return score_following("llm_compliance", described, kinds, answers, words, judge)


@dataclass(frozen=True)
class Annotation:
    """An Open-VQA image in words (for the bare LLM) and the words naming what it shows."""

    description: str
    mentions: frozenset[str]


def _annotations(benchmarks: Benchmarks, table: MediaTable) -> dict[int, Annotation]:
    """The suite's annotation of each Open-VQA image, by its row in `table` (empty when the
    suite has none)."""
    file, images = benchmarks.descriptions, benchmarks.openvqa_image
    if file is None or images is None:
        return {}
    by_path = {
        (images.media_root / row["image"]).resolve(): Annotation(
            row["description"], frozenset(row.get("mentions", ()))
        )
        for row in map(json.loads, file.read_text().splitlines())
    }
    rows = {row: p.resolve() for (p, kind), row in table.rows.items() if kind == "image"}
    return {row: by_path[path] for row, path in rows.items() if path in by_path}


def _chair(records: list[dict], annotated: dict[int, Annotation]) -> dict[str, float]:
    """CHAIR on the answers asked for detail, where every one's image is annotated; each
    record gets the absent things its answer names."""
    detailed = [r for r in records if r["instruction"] == "detailed"]
    if not detailed or any(r["media"] not in annotated for r in detailed):
        return {}
    vocabulary = frozenset().union(*(a.mentions for a in annotated.values()))
    shown = [annotated[r["media"]].mentions for r in detailed]
    for record, seen in zip(detailed, shown, strict=True):
        record["absent"] = hallucination.absent_mentions(record["prediction"], seen, vocabulary)
    found = hallucination.chair([r["prediction"] for r in detailed], shown, vocabulary)
    return {f"hallucination/{k}": v for k, v in found.items()}


def _described(annotated: dict[int, Annotation], asked: Sequence[Example]) -> list[Example]:
    """The length-instructed questions with each image's description as text context, for
    the bare LLM; empty unless the suite describes every one of those images."""
    if not asked or any(e.media not in annotated for e in asked):
        return []
    return [replace(e, context=f"{annotated[e.media].description} .") for e in asked]


def _pope(answer: Answerer, benchmark: Benchmark | None, records) -> dict[str, float]:
    if benchmark is None:
        return {}
    questions = load_pope(benchmark.path, benchmark.media_root)
    examples = [
        Example(answer.table.index(q.image, "image"), "image", q.question, q.label, "POPE")
        for q in questions
    ]
    found, rows = hallucination.score_pope(questions, answer(examples))
    records += [{"split": "pope", **r} for r in rows]
    return {f"pope/{k}": v for k, v in found.items()}


def _mme(answer: Answerer, benchmark: Benchmark | None, records) -> dict[str, float]:
    if benchmark is None:
        return {}
    questions = load_mme(benchmark.path)
    examples = [
        Example(
            answer.table.index(q.image, "image"), "image", q.question, q.answer.lower(), q.subtask
        )
        for q in questions
    ]
    answers = answer(examples)
    graded = [
        mme.MMEAnswer(
            subtask=q.subtask,
            image=str(q.image),
            question=q.question,
            answer=q.answer,
            prediction=a,
        )
        for q, a in zip(questions, answers, strict=True)
    ]
    records += [{"split": "mme", **g.model_dump()} for g in graded]
    return {f"mme/{k}": v for k, v in mme.score(graded).items()}


def _owleval(answer: Answerer, benchmark: Benchmark | None) -> list[dict]:
    """Answers to the open prompts, for `lynx_core.evaluate.owleval.export_sheets`."""
    if benchmark is None:
        return []
    questions = load_owleval(benchmark.path, benchmark.media_root)
    examples = [
        Example(answer.table.index(q.image, "image"), "image", q.question, "", "OwlEval")
        for q in questions
    ]
    answers = answer(examples, OWL_MAX_NEW_TOKENS)
    return [
        {
            "split": "owleval",
            "id": q.id,
            "image": str(q.image),
            "question": q.question,
            "prediction": a,
        }
        for q, a in zip(questions, answers, strict=True)
    ]
