"""One training step of the paper-shaped prefix model on a GPU: tokens/s, memory peak, MFU.

The model is the `paper` preset's (EVA ViT-g/14 at 420 px, resampler depth 3 with 32
tokens, a LLaMA-7B-shaped LLM with adapters after every 2nd layer), randomly initialised on
the GPU (no weights are read), trained as the paper recipe trains it: bf16 autocast, fp32
trainable weights, AdamW, gradient checkpointing. MFU = model FLOPs of a step (the formula
of `lynx_core.flops`, recomputation not counted) / step time / the GPU's dense bf16 peak;
the last line is `gpu_step ratio=<MFU> target>=0.40`. Without CUDA a toy-shaped model takes
one step on the CPU so the script itself stays checked, and the ratio is `n/a`.

    python bench/gpu_step.py [--batch 32]   # under 5 minutes on one H100-class GPU
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ablations.planning.cost import GPU_PEAK_BF16
from lynx_core.config import VariantConfig, nest
from lynx_core.flops import TEXT_TOKENS, count_flops, sample_inputs
from lynx_core.model.connectors import visual_tokens
from lynx_core.model.lynx import LynxModel, build_lynx
from lynx_core.presets import PRESETS

TARGET = 0.40
WARMUP, TIMED = 2, 5


def paper_model_config(on_gpu: bool) -> VariantConfig:
    """The paper preset without its weights' paths (random weights), or the tiny preset."""
    scale = "paper" if on_gpu else "tiny"
    overrides = {**PRESETS[scale].overrides, "model.llm.vocab_size": 32000}
    if on_gpu:
        overrides |= {"model.llm.path": None, "model.vision.checkpoint": None}
    return VariantConfig.model_validate(nest(overrides))


def peak_flops(device: torch.device) -> tuple[float | None, str]:
    """The GPU's dense bf16 peak, from its name; None where it is not one we know."""
    name = torch.cuda.get_device_name(device)
    for gpu, peak in GPU_PEAK_BF16.items():
        if gpu in name.lower():
            return peak, name
    return None, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="samples per step (one GPU)")
    args = parser.parse_args()
    on_gpu = torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")
    cfg = paper_model_config(on_gpu)
    torch.manual_seed(0)
    with device:  # random weights made where they are used: nothing is read or copied
        model: LynxModel = build_lynx(cfg.model, None).train()
    one = sample_inputs(cfg.model, "image", TEXT_TOKENS["stage1"], device=device)
    batch = {k: v.expand(args.batch, *v.shape[1:]).contiguous() for k, v in one.items()}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_gpu)
    with autocast:  # the formula's FLOPs of a step, read off its forward (before
        flops = count_flops(model, lambda: model(**batch))[0]  # checkpointing replays layers)
    if cfg.train.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-5, fused=on_gpu)

    def step() -> None:
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(WARMUP):
        step()
    if on_gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(TIMED if on_gpu else 1):
        started = time.perf_counter()
        step()
        if on_gpu:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    visual = visual_tokens(cfg.model, model.vision.grid[0] * model.vision.grid[1])
    tokens = args.batch * (TEXT_TOKENS["stage1"] + visual)
    print(f"model: {model.parameter_counts()['total'] / 1e9:.2f}B parameters, batch {args.batch}")
    print(f"step: {seconds:.3f} s (median of {len(times)}), {tokens / seconds:,.0f} LLM tokens/s")
    print(f"model FLOPs per step: {flops.total:.3g}")
    if not on_gpu:
        print(
            f"gpu_step ratio=n/a target>={TARGET:.2f} (no CUDA GPU: a toy-shaped step on the CPU)"
        )
        return
    print(f"memory peak: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    peak, name = peak_flops(device)
    if peak is None:
        print(f"gpu_step ratio=n/a target>={TARGET:.2f} (no bf16 peak known for {name})")
        return
    print(f"{name}: {flops.total / seconds / 1e12:.0f} TFLOP/s of {peak / 1e12:.0f}")
    print(f"gpu_step ratio={flops.total / seconds / peak:.3f} target>={TARGET:.2f}")


if __name__ == "__main__":
    main()
