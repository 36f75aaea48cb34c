"""GPT-judge throughput: 1,000 judgments against a local fake server with 50 ms latency.

At concurrency 16 the ideal rate is 16 / 0.05 s = 320 judgments/s; the ratio is the achieved
rate over that ideal (client overhead, thread scheduling, HTTP). No cache, no retries needed.
The server runs in its own process, as a remote API would.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake server lives in tests/

from lynx_core.evaluate.gpt_judge import GptJudge, GptJudgeConfig  # noqa: E402
from tests.fake_openai import FakeOpenAIProcess  # noqa: E402

TARGET, N, CONCURRENCY, LATENCY_S = 0.8, 1000, 16, 0.05


def main() -> None:
    os.environ["LYNX_BENCH_JUDGE_KEY"] = "sk-bench"
    with FakeOpenAIProcess(latency_s=LATENCY_S) as server:  # a remote server, as in use
        cfg = GptJudgeConfig(
            base_url=server.base_url, api_key_env="LYNX_BENCH_JUDGE_KEY", concurrency=CONCURRENCY
        )
        judge = GptJudge(cfg)
        questions = [f"question {i}?" for i in range(N)]
        references = [[f"answer {i}"] for i in range(N)]
        predictions = [f"answer {i if i % 3 else -i}" for i in range(N)]
        judge.judge_many(questions[:32], references[:32], predictions[:32])  # warm connections
        started = time.perf_counter()
        verdicts = judge.judge_many(questions, references, predictions)
        elapsed = time.perf_counter() - started
    assert all(v.label in {"correct", "incorrect"} for v in verdicts)
    rate, ideal = N / elapsed, CONCURRENCY / LATENCY_S
    print(f"{N} judgments in {elapsed:.2f} s: {rate:.0f}/s (ideal {ideal:.0f}/s)")
    print(f"judge_throughput ratio={rate / ideal:.2f} target>={TARGET}")


if __name__ == "__main__":
    main()
