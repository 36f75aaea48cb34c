"""GPT judge for open-ended answers, as the Lynx paper scores Open-VQA (GPT-4, 95% agreement).

Each (question, references, prediction) becomes one chat request with a fixed prompt asking
for a strict verdict line. Requests run `concurrency` at a time on one event loop over a
bounded connection pool (`lynx_core.evaluate.chat_client`); 429s, 5xx answers, timeouts,
dropped connections and 200s that are not a completion are retried with exponential backoff
and full jitter. Verdicts are cached on disk by (judge model, prompt), so judging the same
predictions again makes no API call. A reply without a parseable verdict is `invalid`, a
request that keeps failing is `error`: both are counted and never scored as right or wrong
(other harnesses inflated scores by scoring failed judge calls), and an evaluation with
`error`s is not finished (`require_verdicts`): its rerun asks again. The API key is read
from the environment by name and handed only to the client: it is never logged, cached or
returned.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import re
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from tqdm.auto import tqdm

from lynx_core.atomic import write_json
from lynx_core.config import GptJudgeConfig
from lynx_core.evaluate.chat_client import RETRYABLE, ChatClient, ChatError

log = logging.getLogger(__name__)

PROMPT = """You are grading an answer to a question about an image or a video.
Question: {question}
Reference answers (any one is right): {references}
Answer to grade: {prediction}
Is the answer correct? It is correct if it gives the same information as a reference answer,
even in other words; extra detail is fine unless it contradicts the reference.
Reply with exactly one line: "Verdict: correct" or "Verdict: incorrect"."""
VERDICT = re.compile(
    r"^\s*verdict\s*:\s*(correct|incorrect)\s*\.?\s*$", re.IGNORECASE | re.MULTILINE
)


T = TypeVar("T")

Label = Literal["correct", "incorrect", "invalid", "error"]


@dataclass(frozen=True)
class Verdict:
    label: Label
    judge_model: str  # as the server reported it (judge models get retired: record versions)
    reply: str
    cached: bool = False

    @property
    def correct(self) -> bool | None:
        """True/False for a valid verdict, None for invalid or failed (never scored)."""
        return {"correct": True, "incorrect": False}.get(self.label)


def judge_prompt(question: str, references: Sequence[str], prediction: str) -> str:
    refs = "; ".join(references)
    return PROMPT.format(question=question, references=refs, prediction=prediction)


def parse_verdict(reply: str) -> Label:
    found = {m.lower() for m in VERDICT.findall(reply)}
    return found.pop() if len(found) == 1 else "invalid"  # none, or both: not a verdict


class JudgeIncomplete(RuntimeError):
    """The judge's requests kept failing for some answers: an evaluation with answers still
    to judge is not finished. Running it again asks only for those (the cache has the rest)."""


def require_verdicts(verdicts: Sequence[Verdict], cfg: GptJudgeConfig) -> None:
    """Raise `JudgeIncomplete` when a request failed for good (`error`); an `invalid` reply
    is the judge's final word on that answer, counted and cached like a verdict."""
    failed = sum(v.label == "error" for v in verdicts)
    if failed:
        reasons = sorted({v.reply for v in verdicts if v.label == "error"})
        raise JudgeIncomplete(
            f"the GPT judge ({cfg.model} at {cfg.base_url or 'the OpenAI API'}) failed on "
            f"{failed} of {len(verdicts)} answers ({', '.join(reasons)}), after "
            f"{cfg.max_attempts} attempts each; the evaluation is not recorded as finished. "
            "Rerun the sweep when the judge is reachable: only those answers are judged again, "
            "the other verdicts are cached"
        )


class GptJudge:
    def __init__(self, cfg: GptJudgeConfig):
        self.cfg = cfg
        self._key = self._read_key()
        self.calls = 0  # requests sent, retries included (cache hits send none)

    def _read_key(self) -> str:
        key = os.environ.get(self.cfg.api_key_env)
        if not key:
            raise RuntimeError(
                f"the GPT judge needs an API key in ${self.cfg.api_key_env}; set it, or use "
                "the offline rule judge"
            )
        return key

    def _cache_path(self, prompt: str) -> Path | None:
        if self.cfg.cache_dir is None:
            return None
        digest = hashlib.sha256(f"{self.cfg.model}\n{prompt}".encode()).hexdigest()
        return self.cfg.cache_dir / digest[:2] / f"{digest}.json"

    async def _request(self, client: ChatClient, prompt: str) -> tuple[str, str]:
        """(reply, model) with retries on transient failures; raises when attempts run out."""
        for attempt in range(1, self.cfg.max_attempts + 1):
            self.calls += 1
            try:
                found = await client.complete(self.cfg.model, prompt, max_tokens=10)
                return found.text, found.model
            except RETRYABLE as err:
                if attempt == self.cfg.max_attempts:
                    raise
                ceiling = min(self.cfg.max_backoff_s, self.cfg.backoff_s * 2 ** (attempt - 1))
                delay = random.uniform(0, ceiling)
                log.info(
                    "judge request failed (%s); retry %d in %.2f s",
                    type(err).__name__,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _judge(self, client: ChatClient, prompt: str) -> Verdict:
        cache = self._cache_path(prompt)
        if cache is not None and cache.exists():
            saved = json.loads(cache.read_text())
            return Verdict(saved["label"], saved["judge_model"], saved["reply"], cached=True)
        try:
            reply, model = await self._request(client, prompt)
        except ChatError as err:
            log.warning("judge request failed for good: %s", type(err).__name__)
            return Verdict("error", self.cfg.model, type(err).__name__)
        verdict = Verdict(parse_verdict(reply), model, reply)
        if cache is not None:  # failures are not cached: a later run tries them again
            write_json(cache, {"label": verdict.label, "judge_model": model, "reply": reply})
        return verdict

    async def _judge_all(self, prompts: Sequence[str]) -> list[Verdict]:
        """Every prompt's verdict, at most `concurrency` requests in flight (a semaphore over
        one connection pool of that size), with a progress bar."""
        gate = asyncio.Semaphore(self.cfg.concurrency)
        connections, timeout = self.cfg.concurrency, self.cfg.timeout_s
        with tqdm(total=len(prompts), desc="judge", leave=False, disable=None) as bar:
            async with ChatClient(self._key, self.cfg.base_url, connections, timeout) as client:

                async def one(prompt: str) -> Verdict:
                    async with gate:
                        verdict = await self._judge(client, prompt)
                    bar.update()
                    return verdict

                return list(await asyncio.gather(*(one(p) for p in prompts)))

    def judge_one(self, question: str, references: Sequence[str], prediction: str) -> Verdict:
        return self.judge_many([question], [references], [prediction])[0]

    def judge_many(
        self,
        questions: Sequence[str],
        references: Sequence[Sequence[str]],
        predictions: Sequence[str],
    ) -> list[Verdict]:
        """Verdicts in input order, `cfg.concurrency` requests in flight at most.

        Identical judgments (same question, references and prediction) are asked once.
        """
        jobs = list(zip(questions, map(tuple, references), predictions, strict=True))
        unique = list(dict.fromkeys(jobs))
        found = _run(self._judge_all([judge_prompt(*job) for job in unique]))
        by_job = dict(zip(unique, found, strict=True))
        return [by_job[job] for job in jobs]


def _run(work: Coroutine[object, object, T]) -> T:
    """`work` on an event loop of its own; in a thread of its own where this one already
    runs a loop (a caller inside async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result()


def verdict_counts(verdicts: Sequence[Verdict]) -> dict[str, float]:
    """How many of each label, and the judge model versions seen (for the record)."""
    counts = {f"judge/{label}": 0.0 for label in ("correct", "incorrect", "invalid", "error")}
    for verdict in verdicts:
        counts[f"judge/{verdict.label}"] += 1
    counts["judge/cached"] = float(sum(v.cached for v in verdicts))
    return counts
