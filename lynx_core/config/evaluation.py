"""How a variant is evaluated: decoding, the judge, and the benchmarks it reads."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from lynx_core.config.base import LocalPath, StrictModel


class GptJudgeConfig(StrictModel):
    """Which model judges, where, and how hard to try. The key itself never appears here."""

    model: str = Field("gpt-4-0613", description="judge model; its reported version is recorded")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None = OpenAI")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable with the key")
    concurrency: int = Field(16, gt=0)
    max_attempts: int = Field(6, gt=0, description="tries per request before 'error'")
    backoff_s: float = Field(1.0, gt=0, description="first retry delay; doubles, full jitter")
    max_backoff_s: float = Field(30.0, gt=0)
    timeout_s: float = Field(60.0, gt=0)
    cache_dir: Path | None = Field(
        None, description="verdict cache; None = cache/judge_cache/ in the stage store"
    )


class BenchmarkConfig(StrictModel):
    """A released benchmark where you keep it, as distributed: nothing renamed or moved."""

    path: LocalPath = Field(description="its question file (Open-VQA, OwlEval) or folder (MME)")
    media_root: LocalPath | None = Field(
        None,
        description="what its media paths are relative to; None = the file's folder (MME: the "
        "folder itself)",
    )


RELEASED = ("openvqa_image", "openvqa_video", "mme", "owleval", "pope")  # EvalConfig's benchmarks


class EvalConfig(StrictModel):
    max_new_tokens: int = Field(8, gt=0)
    num_beams: int = Field(1, gt=0, description="Lynx decodes with 5 beams")
    batch_size: int = Field(32, gt=0)
    judge: Literal["rule", "gpt"] = Field(
        "rule", description="who decides right/wrong: the offline rule judge or a GPT judge"
    )
    gpt_judge: GptJudgeConfig = GptJudgeConfig()
    suite: LocalPath | None = Field(
        None,
        description="your evaluation folder, laid out like the generated one: openvqa/image.jsonl "
        "and openvqa/video.jsonl (Open-VQA format, media under openvqa/), mme/ (MME release "
        "layout), owleval/questions.jsonl (OwlEval format, images under owleval/); any part "
        "may be missing. None = the generated suite",
    )
    openvqa_image: BenchmarkConfig | None = Field(
        None,
        description="Open-VQA's released image file (Open_VQA_images.jsonl; 'image' paths such "
        "as images/…); None = the suite's",
    )
    openvqa_video: BenchmarkConfig | None = Field(
        None,
        description="Open-VQA's released video file (Open_VQA_videos.jsonl; 'video' paths to "
        "mp4 clips); None = the suite's",
    )
    mme: BenchmarkConfig | None = Field(
        None, description="MME's release folder (one folder per subtask); None = the suite's"
    )
    owleval: BenchmarkConfig | None = Field(
        None, description="OwlEval's questions.jsonl, images under its folder; None = the suite's"
    )
    pope: BenchmarkConfig | None = Field(
        None,
        description="POPE's question files (coco_pope_random.json, …: one, or their folder), "
        "media_root its images (COCO val2014); None = the suite's",
    )
    detailed_min_words: int = Field(
        4, gt=0, description="an answer to 'explain in detail' complies from this many words"
    )
    split: Literal["test", "validation"] = Field(
        "test",
        description="which questions: the test benchmarks, or the validation split kept apart "
        "from them (and from training) for choices a sweep makes before the test is read "
        "(`tune:`)",
    )
    validation_suite: LocalPath | None = Field(
        None,
        description="split validation: your folder of validation benchmarks, laid out as "
        "`suite`; None = the generated world's validation split",
    )

    @property
    def released(self) -> dict[str, BenchmarkConfig]:
        """The released benchmarks this config names, by field."""
        return {name: b for name in RELEASED if (b := getattr(self, name)) is not None}

    compliance_questions: int = Field(
        200,
        gt=0,
        description="image questions asked again with each held-out length instruction",
    )
