"""The GPT judge against a local fake OpenAI server: verdicts, retries, cache, invalid, key."""

from __future__ import annotations

import logging

import pytest

from lynx_core.evaluate.gpt_judge import (
    GptJudge,
    GptJudgeConfig,
    JudgeIncomplete,
    parse_verdict,
    require_verdicts,
    verdict_counts,
)
from tests.fake_openai import FakeOpenAI

SECRET = "sk-test-DO-NOT-LEAK-1234"


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def make_judge(server, monkeypatch, tmp_path):
    monkeypatch.setenv("LYNX_TEST_JUDGE_KEY", SECRET)

    def make(**overrides) -> GptJudge:
        cfg = GptJudgeConfig(
            base_url=server.base_url,
            api_key_env="LYNX_TEST_JUDGE_KEY",
            backoff_s=0.01,
            max_backoff_s=0.05,
            timeout_s=0.5,
            cache_dir=tmp_path / "cache",
            **overrides,
        )
        return GptJudge(cfg)

    return make


QUESTIONS = ["what colour is the square?", "how many circles?", "what is written?"]
REFERENCES = [["red"], ["3", "three"], ["cat"]]


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ("Verdict: correct", "correct"),
        ("verdict: Incorrect.", "incorrect"),
        ("The answer is close.\nVerdict: correct", "correct"),
        ("correct", "invalid"),
        ("Verdict: correct\nVerdict: incorrect", "invalid"),
        ("", "invalid"),
    ],
)
def test_only_a_strict_verdict_line_is_parsed(reply, label):
    assert parse_verdict(reply) == label


def test_verdicts_follow_the_server_and_keep_the_judge_version(make_judge, server):
    verdicts = make_judge().judge_many(QUESTIONS, REFERENCES, ["Red", "four", "cat"])
    assert [v.label for v in verdicts] == ["correct", "incorrect", "correct"]
    assert {v.judge_model for v in verdicts} == {"gpt-4-0613"}
    assert server.requests == 3


def test_transient_failures_are_retried(make_judge, server):
    server.failures.extend([429, 500, "hang", 503])
    judge = make_judge(concurrency=1)
    verdicts = judge.judge_many(QUESTIONS[:1], REFERENCES[:1], ["red"])
    assert verdicts[0].label == "correct"
    assert judge.calls == 5 and server.requests == 5


def test_a_request_that_keeps_failing_is_an_error_not_a_score(make_judge, server):
    server.failures.extend([500] * 3)
    judge = make_judge(concurrency=1, max_attempts=3)
    verdict = judge.judge_one("q", ["red"], "red")
    assert verdict.label == "error" and verdict.correct is None
    assert judge.calls == 3
    assert not list(judge.cfg.cache_dir.rglob("*.json")), "a failure is not cached"


def test_unparseable_verdicts_are_counted_as_invalid(make_judge):
    verdicts = make_judge().judge_many(QUESTIONS, REFERENCES, ["GIBBERISH", "3", "dog"])
    assert [v.label for v in verdicts] == ["invalid", "correct", "incorrect"]
    assert verdicts[0].correct is None
    counts = verdict_counts(verdicts)
    assert counts["judge/invalid"] == 1 and counts["judge/correct"] == 1


def test_rejudging_the_same_predictions_hits_the_cache_only(make_judge, server):
    predictions = ["red", "three", "GIBBERISH"]
    make_judge().judge_many(QUESTIONS, REFERENCES, predictions)
    before = server.requests
    again = make_judge().judge_many(QUESTIONS, REFERENCES, predictions)
    assert server.requests == before, "a cached verdict costs no request"
    assert all(v.cached for v in again)
    assert [v.label for v in again] == ["correct", "correct", "invalid"]
    other_model = make_judge(model="gpt-4o").judge_one(QUESTIONS[0], REFERENCES[0], "red")
    assert not other_model.cached, "the cache is keyed by the judge model too"


def test_the_key_reaches_the_server_and_nothing_else(make_judge, server, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    server.failures.append(429)
    judge = make_judge()
    verdicts = judge.judge_many(QUESTIONS, REFERENCES, ["red", "3", "GIBBERISH"])
    assert all(h == f"Bearer {SECRET}" for h in server.auth_headers)
    outputs = [caplog.text, repr(judge.cfg), judge.cfg.model_dump_json(), repr(verdicts)]
    outputs += [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert all(SECRET not in text for text in outputs)


def test_a_missing_key_is_a_clear_error(monkeypatch, server):
    monkeypatch.delenv("NO_SUCH_JUDGE_KEY", raising=False)
    cfg = GptJudgeConfig(base_url=server.base_url, api_key_env="NO_SUCH_JUDGE_KEY")
    with pytest.raises(RuntimeError, match=r"\$NO_SUCH_JUDGE_KEY"):
        GptJudge(cfg)


@pytest.mark.parametrize(
    "fault", [429, 500, 503, "hang", "drop", "malformed", "no-choices"], ids=str
)
def test_every_kind_of_failed_request_is_retried_then_counted_as_an_error(
    make_judge, server, capfd, caplog, fault
):
    """No fault of the server crashes the judge: it retries a bounded number of times, then
    the answer is an `error` (not scored, not cached), and the key is never shown."""
    caplog.set_level(logging.DEBUG)
    judge = make_judge(concurrency=1, max_attempts=3)
    server.failures.extend([fault] * 2)
    assert judge.judge_one("q", ["red"], "red").label == "correct"  # recovered on attempt 3
    server.failures.extend([fault] * 3)
    verdict = judge.judge_one("q2", ["red"], "red")
    assert verdict.label == "error" and verdict.correct is None
    assert judge.calls == 6 and server.requests == 6
    assert not [p for p in judge.cfg.cache_dir.rglob("*.json") if "q2" in p.read_text()]
    out, err = capfd.readouterr()
    assert SECRET not in out + err + caplog.text


def test_a_reply_with_no_text_is_invalid_not_a_crash(make_judge, server):
    server.failures.append("null-content")
    assert make_judge().judge_one("q", ["red"], "red").label == "invalid"


def test_a_storm_of_429s_stays_bounded_and_the_rest_are_judged(make_judge, server):
    """Many answers at once under a rate-limit storm: every request gets at most
    `max_attempts` tries, the answers the storm outlasts are errors, the others verdicts."""
    predictions = [f"answer {i}" for i in range(30)]
    server.failures.extend([429] * 60)
    judge = make_judge(concurrency=8, max_attempts=3)
    verdicts = judge.judge_many(["q"] * 30, [["answer 0"]] * 30, predictions)
    assert server.requests <= 30 * 3 and judge.calls == server.requests
    labels = [v.label for v in verdicts]
    assert set(labels) <= {"error", "correct", "incorrect"} and "error" in labels
    assert labels.count("error") <= 60 // 3


def test_the_server_going_away_mid_evaluation_leaves_errors_not_a_crash(make_judge, server):
    judge = make_judge(concurrency=1, max_attempts=2)
    first = judge.judge_many(QUESTIONS[:1], REFERENCES[:1], ["red"])
    server.go_away()  # connections refused or closed from now on
    rest = judge.judge_many(QUESTIONS[1:], REFERENCES[1:], ["3", "cat"])
    assert first[0].label == "correct" and [v.label for v in rest] == ["error", "error"]
    with pytest.raises(JudgeIncomplete, match="failed on 2 of 3 answers"):
        require_verdicts(first + rest, judge.cfg)
    require_verdicts(first, judge.cfg)  # all decided: nothing to say


def test_the_proxy_the_environment_names_is_used_unless_the_host_is_exempt(monkeypatch):
    """Read once per client (aiohttp's per-request `trust_env` cost a tenth of the rate)."""
    from lynx_core.evaluate.chat_client import proxy_for

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "judge.internal")
    assert proxy_for("https://api.openai.com/v1/chat/completions") == "http://proxy.example:3128"
    assert proxy_for("https://judge.internal/v1/chat/completions") is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert proxy_for("https://api.openai.com/v1/chat/completions") is None


@pytest.mark.parametrize(
    "body",
    [b'{"choices": {"0": {}}}', b'{"choices": 3}', b'{"choices": [3]}', b"[1]", b'{"cho'],
)
def test_a_reply_of_another_shape_is_malformed_not_a_crash(body):
    """Counted as a retryable malformed reply, never an exception that ends the batch."""
    from lynx_core.evaluate.chat_client import MalformedReply, parse_completion

    with pytest.raises(MalformedReply):
        parse_completion(body, "gpt-4-0613")


def test_the_judge_works_from_a_thread_and_from_inside_a_running_event_loop(make_judge):
    """Called from a worker thread (a Ray trial's) or from async code (its own loop then
    runs in a thread of its own): the same verdicts."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    judge = make_judge()

    async def from_async_code():
        return judge.judge_many(QUESTIONS, REFERENCES, ["red", "3", "dog"])

    with ThreadPoolExecutor(1) as thread:
        threaded = thread.submit(judge.judge_many, QUESTIONS, REFERENCES, ["red", "3", "dog"])
        labels = [v.label for v in threaded.result()]
    assert labels == ["correct", "correct", "incorrect"]
    assert [v.label for v in asyncio.run(from_async_code())] == labels
