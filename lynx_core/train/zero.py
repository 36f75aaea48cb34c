"""DeepSpeed ZeRO behind the `Optimization` interface (`train.deepspeed` in a sweep).

The same AdamW, cosine schedule and clipping as `TorchOptimization`, handed to DeepSpeed as a
client optimizer and scheduler, so ZeRO 1/2/3 shard state without changing the optimisation.
The process group comes from the environment a launcher sets (`torchrun`, `deepspeed`: RANK,
WORLD_SIZE, MASTER_ADDR/PORT); without one this process is a group of one. On a machine
without a GPU, DeepSpeed's CPU accelerator is selected (`DS_ACCELERATOR=cpu`, read by
DeepSpeed at import), which is how the tests run it.

Checkpoints are DeepSpeed's own (one shard per rank) in `<checkpoint>.ds/step<N>/`, with a
SHA-256 list of the tag's files written after it; a tag that fails it is not trusted (the
stage resumes from the previous complete tag, which is deleted only once a newer one is
complete, or restarts).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import torch

from lynx_core.atomic import write_text
from lynx_core.checksum import file_sha256
from lynx_core.compute.ranks import SINGLE, Ranks
from lynx_core.compute.runtime import Runtime
from lynx_core.config import DeepSpeedConfig, StageConfig, flatten, nest
from lynx_core.train.optimization import optimizer_and_schedule


def deepspeed_config(stage: StageConfig, ds: DeepSpeedConfig, world: int = 1) -> dict[str, Any]:
    """DeepSpeed's config for a stage whose global micro-batch is split over `world` ranks."""
    zero: dict[str, Any] = {"stage": ds.zero_stage}
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu"}
    generated = {
        "train_micro_batch_size_per_gpu": stage.batch_size // world,
        "gradient_accumulation_steps": stage.grad_accumulation,
        "gradient_clipping": stage.grad_clip,
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": True,  # our torch AdamW, as without DeepSpeed
        "zero_force_ds_cpu_optimizer": False,
        "steps_per_print": 2**31 - 1,
    }
    return nest({**flatten(generated), **flatten(ds.config)})  # the user's keys win


def _import_deepspeed(runtime: Runtime):
    if runtime.device.type == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed

    return deepspeed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _single_process_group() -> None:
    """Without a launcher, make this process rank 0 of 1 (DeepSpeed reads these variables)."""
    if "WORLD_SIZE" in os.environ:
        return
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))


def _tag_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


class DeepSpeedOptimization:
    def __init__(
        self,
        model: torch.nn.Module,
        params: list[torch.nn.Parameter],
        cfg: StageConfig,
        ds: DeepSpeedConfig,
        runtime: Runtime,
        ranks: Ranks = SINGLE,
    ):
        self.deepspeed = _import_deepspeed(runtime)
        _single_process_group()  # a launcher's group (WORLD_SIZE set) is used as it is
        self.model, self.params, self.zero_stage = model, params, ds.zero_stage
        self.world = ranks.world
        optimizer, schedule = optimizer_and_schedule(params, cfg)
        self.engine, *_ = self.deepspeed.initialize(
            model=model,
            model_parameters=params,
            optimizer=optimizer,
            lr_scheduler=schedule,
            config=deepspeed_config(cfg, ds, ranks.world),
        )
        self.is_main = self.engine.global_rank == 0
        self.forward = self.engine  # its forward advances ZeRO-3's micro-step counter

    def backward(self, loss: torch.Tensor) -> None:
        if loss.requires_grad:
            self.engine.backward(loss)  # DeepSpeed divides by the accumulation steps itself
        else:
            # a micro-batch that reaches no trainable weight (text-only data, frozen LLM)
            # still counts towards DeepSpeed's accumulation boundary: back-propagate a zero,
            # with ZeRO-3's shards gathered so the gradients have their parameters' shapes
            with self._gathered(self.params):
                self.engine.backward(loss + 0.0 * sum(p.sum() for p in self.params))
        self.engine.step()  # updates only at the accumulation boundary

    def step(self) -> None:
        pass  # DeepSpeed stepped at the last micro-batch's boundary

    def lr(self) -> float:
        return self.engine.get_lr()[0]

    def _gathered(self, params):
        return self.deepspeed.zero.GatheredParameters(params, enabled=self.zero_stage == 3)

    def weights(self) -> list[torch.Tensor]:
        with self._gathered(self.params):
            return [p.detach().cpu().clone() for p in self.params]

    def save(self, checkpoint: Path, meta: dict[str, Any]) -> None:
        folder, tag = _ds_folder(checkpoint), f"step{meta['step']}"
        self.engine.save_checkpoint(str(folder), tag=tag, client_state={"meta": meta})
        self.deepspeed.comm.barrier()
        if self.is_main:
            write_text(folder / f"{tag}.sha256.json", json.dumps(_tag_digest(folder / tag)))
            for old in folder.glob("step*"):
                if old.is_dir() and old.name != tag:
                    shutil.rmtree(old, ignore_errors=True)
                    (folder / f"{old.name}.sha256.json").unlink(missing_ok=True)
        self.deepspeed.comm.barrier()

    def load(self, checkpoint: Path) -> dict[str, Any] | None:
        """The newest tag whose files match their SHA-256 list: one cut short while saving
        (DeepSpeed's `latest` already names it) or altered since falls back to the one before."""
        folder = _ds_folder(checkpoint)
        tags = sorted(
            (p for p in folder.glob("step*") if p.is_dir() and p.name[4:].isdigit()),
            key=lambda p: int(p.name[4:]),
            reverse=True,
        )
        for tag in tags:
            digest = folder / f"{tag.name}.sha256.json"
            if digest.is_file() and json.loads(digest.read_text()) == _tag_digest(tag):
                _same_world(tag, self.world)
                _, client_state = self.engine.load_checkpoint(str(folder), tag=tag.name)
                return client_state["meta"]
        return None

    def finish(self) -> None:
        """Under ZeRO-3 parameters live in shards: gather them back into the module."""
        if self.zero_stage != 3:
            self.engine.destroy()
            return
        everything = list(self.model.parameters())
        with self._gathered(everything):
            whole = [p.detach().clone() for p in everything]
        self.engine.destroy()
        for param, data in zip(everything, whole, strict=True):
            param.data = data


def _same_world(tag: Path, world: int) -> None:
    """ZeRO's optimizer state is saved one partition per rank; DeepSpeed cannot load it
    into another number of ranks, so a stage continues only on as many workers as saved it."""
    saved = len(list(tag.glob("*zero_pp_rank_*optim_states.pt")))
    if saved and saved != world:
        raise RuntimeError(
            f"{tag} was saved by {saved} DeepSpeed ranks and this stage now runs on {world}: "
            f"ZeRO's sharded optimizer state resumes only at the same world size; give the "
            f"stage {saved} workers again (the sweep's resources), or delete {tag.parent} to "
            "restart the stage from step 0"
        )


def _ds_folder(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".ds")
