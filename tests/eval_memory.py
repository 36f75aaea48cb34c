"""One evaluation of a tiny variant on `eval_images` generated images (≈ 5.8 questions each)
at 224 px, run as its own process so its peak RSS is its own: `python -m tests.eval_memory
<root> <eval_images>` prints the peak in MiB. The stages before eval are trained (0 steps)
into <root> once by `prepare`."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from lynx_core.stages import STAGES
from tests.tiny import tiny_config

AT_224 = {  # 224 px images: 0.6 MB each as model input, so holding them all would show
    "model.vision.image_size": 224,
    "model.vision.patch_size": 32,
    "train.bases.steps": 1,
    **{f"train.{s}.steps": 0 for s in ("instruct", "clip", "stage1", "stage2")},
    "data.eval_videos": 0,
    "data.eval_mme_images": 1,
    "eval.compliance_questions": 8,
    "eval.max_new_tokens": 4,
    "train.feature_cache": False,  # pixels, as where trunk tokens would not fit
}


def config(eval_images: int):
    return tiny_config(**AT_224, **{"data.eval_images": eval_images})


def folders(root: Path) -> dict:
    return {stage: root / stage for stage in STAGES}


def prepare(root: Path) -> None:
    from lynx_core.pipeline import run_stage

    for stage in ("bases", "stage1", "stage2"):
        run_stage(stage, config(1), folders(root), root / "cache")


def main(root: Path, eval_images: int) -> None:
    import torch

    from lynx_core.pipeline import run_stage

    torch.set_num_threads(1)
    out = folders(root) | {"eval": root / f"eval-{eval_images}"}
    metrics = run_stage("eval", config(eval_images), out, root / "cache").metrics
    questions = sum(
        v for k, v in metrics.items() if k.startswith("openvqa/") and k.endswith("/total")
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"questions={questions} peak_mib={peak:.1f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
