"""GPT-judge throughput: 1,000 judgments against a local fake server with 50 ms latency.

At concurrency 16 the ideal rate is 16 / 0.05 s = 320 judgments/s. Two ratios, measured in the
same run against the same server (in its own process, as a remote API would be):
- `judge_throughput`: the judge's rate over that ideal (prompts, retries ready, verdicts
  parsed; no cache);
- `judge_throughput_of_floor`: the judge's rate over the floor, the rate of the leanest
  client there is sending the same requests (plain aiohttp POSTs at the same concurrency,
  nothing parsed): what this machine, its HTTP stack and the fake server allow at all.
Each is the median of 3 alternating rounds.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake server lives in tests/

from lynx_core.evaluate.gpt_judge import GptJudge, GptJudgeConfig, judge_prompt  # noqa: E402
from tests.fake_openai import FakeOpenAIProcess  # noqa: E402

TARGET, TARGET_OF_FLOOR = 0.9, 0.95
N, CONCURRENCY, LATENCY_S, ROUNDS = 1000, 16, 0.05, 3
QUESTIONS = [f"question {i}?" for i in range(N)]
REFERENCES = [[f"answer {i}"] for i in range(N)]
PREDICTIONS = [f"answer {i if i % 3 else -i}" for i in range(N)]


async def floor_round(base_url: str) -> float:
    """Seconds for the same N requests from a bare client: no retries, no parsing."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    headers = {"Authorization": "Bearer sk-bench"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(prompt: str) -> bytes:
            message = {"role": "user", "content": prompt}
            body = {"model": "gpt-4-0613", "messages": [message], "max_tokens": 10}
            async with gate, session.post(f"{base_url}/chat/completions", json=body) as reply:
                return await reply.read()

        prompts = [
            judge_prompt(*job) for job in zip(QUESTIONS, REFERENCES, PREDICTIONS, strict=True)
        ]
        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in prompts))
        return time.perf_counter() - started


def judge_round(judge: GptJudge) -> float:
    started = time.perf_counter()
    verdicts = judge.judge_many(QUESTIONS, REFERENCES, PREDICTIONS)
    elapsed = time.perf_counter() - started
    assert all(v.label in {"correct", "incorrect"} for v in verdicts)
    return elapsed


def main() -> None:
    os.environ["LYNX_BENCH_JUDGE_KEY"] = "sk-bench"
    ideal = CONCURRENCY / LATENCY_S
    with FakeOpenAIProcess(latency_s=LATENCY_S) as server:
        cfg = GptJudgeConfig(
            base_url=server.base_url, api_key_env="LYNX_BENCH_JUDGE_KEY", concurrency=CONCURRENCY
        )
        judge = GptJudge(cfg)
        judge.judge_many(QUESTIONS[:32], REFERENCES[:32], PREDICTIONS[:32])  # the server warm
        rounds = [
            (judge_round(judge), asyncio.run(floor_round(server.base_url))) for _ in range(ROUNDS)
        ]
    judged = statistics.median(N / j for j, _ in rounds)
    floor = statistics.median(N / f for _, f in rounds)
    print(f"judge {judged:.0f}/s, floor {floor:.0f}/s (a bare client), ideal {ideal:.0f}/s")
    print(f"judge_throughput_of_floor ratio={judged / floor:.2f} target>={TARGET_OF_FLOOR}")
    print(f"judge_throughput ratio={judged / ideal:.2f} target>={TARGET}")


if __name__ == "__main__":
    main()
