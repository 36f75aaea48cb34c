"""Bases: the frozen LLM, its tokenizer and the frozen vision tower every variant builds on.

At toy scale they are trained here, in phases that each log their own curve:
- `bases`: the tiny LLaMA pretrained on plain world sentences (the toy "LLaMA");
- `instruct`: that model instruction-tuned on dialogue-format text (the toy "Vicuna"), only
  when `model.llm.toy_base` is 'vicuna';
- `clip`: the tiny vision tower CLIP-pretrained on image–caption pairs with open_clip's
  contrastive loss, so that a frozen tower separates what the questions ask about.
With `llm.path` / `vision.checkpoint` (or a named open_clip model) the user's weights are the
bases and the matching phases are skipped. Each phase resumes from its own checkpoint.

A sweep's bases runs differ in one half only (the LLaMA and Vicuna comparison shares the
tower, the resolution comparison the LLM), so each half is trained once per the fields it
reads and kept in a shared folder; the bases runs that need it again copy it, waiting on a
lock while another process trains it. Training is seeded and the same code runs either way,
so a copy is the tensors a second training would give.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from filelock import FileLock, Timeout
from open_clip.loss import ClipLoss
from safetensors.torch import load_file, save
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from lynx_core.atomic import write_bytes, write_dir
from lynx_core.config import StageConfig, VariantConfig
from lynx_core.data.batches import batch_indices, collate, plain_batch, to_pixels
from lynx_core.data.dialogue import TEMPLATES
from lynx_core.data.stage_data import instruct_corpus, vocabulary
from lynx_core.data.world import toyworld as tw
from lynx_core.data.world.worldset import WORLD_VERSION, image_set
from lynx_core.digests import digest_of
from lynx_core.model.llm import build_llm, build_word_tokenizer, load_tokenizer
from lynx_core.model.vision import VisionTower, build_clip
from lynx_core.stages import bases_phases
from lynx_core.train.loop import LogFn, Record, train_stage
from lynx_core.train.optimization import TorchOptimization

log = logging.getLogger(__name__)
CORPUS_LINES = 4096
INSTRUCT_SCENES = 1024
CLIP_IMAGES = 1024
TOWER = "tower.safetensors"
HISTORY = "history.json"
SHARED_VERSION = 1  # bump when what a shared half holds, or how it is trained, changes
# (a half is also kept by the world's version: a new world is new pretraining data)


def _phase(
    name: str,
    cfg: VariantConfig,
    step_loss: Callable[[int], torch.Tensor],
    params: list[torch.nn.Parameter],
    out: Path,
    on_log: LogFn | None,
) -> list[Record]:
    stage_cfg: StageConfig = getattr(cfg.train, name)
    return train_stage(
        step_loss,
        TorchOptimization(params, stage_cfg),
        stage_cfg,
        stage=name,
        log_every=cfg.train.log_every,
        on_log=on_log,
        checkpoint=out / f"{name}.ckpt",
        checkpoint_every=cfg.train.checkpoint_every,
    )


def train_toy_llm(
    cfg: VariantConfig, out: Path, on_log: LogFn | None = None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, list[Record]]:
    """Tokenizer and tiny LLaMA pretrained on world text, then (vicuna) instruction-tuned."""
    torch.manual_seed(cfg.train.bases_seed)
    template = TEMPLATES[cfg.model.llm.prompt_template]
    tokenizer = build_word_tokenizer(vocabulary(template))
    llm = build_llm(cfg.model.llm, tokenizer)
    llm.train()
    phases = bases_phases(cfg)
    history: list[Record] = []
    if "bases" in phases:
        lines = tw.world_text(cfg.data.seed, CORPUS_LINES)
        batch_size = cfg.train.bases.batch_size

        def text_loss(step: int) -> torch.Tensor:
            rows = batch_indices(len(lines), batch_size, step, cfg.train.bases_seed)
            return llm(**plain_batch(tokenizer, [lines[i] for i in rows])).loss

        history += _phase("bases", cfg, text_loss, list(llm.parameters()), out, on_log)
    if "instruct" in phases:
        corpus = instruct_corpus(cfg.data.seed, INSTRUCT_SCENES, cfg.data.prompts.held_out_task)
        batch_size = cfg.train.instruct.batch_size

        def dialogue_loss(step: int) -> torch.Tensor:
            rows = batch_indices(len(corpus), batch_size, step, cfg.train.bases_seed)
            return llm(**collate([corpus[i] for i in rows], tokenizer, template)).loss

        history += _phase("instruct", cfg, dialogue_loss, list(llm.parameters()), out, on_log)
    return tokenizer, llm, history


def _caption_ids(tokenizer: PreTrainedTokenizerBase, captions: list[str], length: int, eot: int):
    """open_clip text input: word ids, then an end token with the largest id (argmax pooling)."""
    ids = torch.zeros(len(captions), length, dtype=torch.long)
    for row, text in enumerate(captions):
        words = tokenizer(text, add_special_tokens=False).input_ids[: length - 1]
        ids[row, : len(words) + 1] = torch.tensor([*words, eot])
    return ids


def train_toy_tower(
    cfg: VariantConfig, tokenizer: PreTrainedTokenizerBase, world: Path, out: Path, on_log
) -> tuple[dict[str, torch.Tensor], list[Record]]:
    """The tower's weights after CLIP-pretraining on clean captions of the world's images."""
    torch.manual_seed(cfg.train.bases_seed)
    clip = build_clip(cfg.model.vision)
    length, vocab = clip.context_length, clip.vocab_size
    if len(tokenizer) >= vocab:
        raise ValueError(f"toy CLIP text vocab {vocab} is smaller than the tokenizer's")
    images = image_set(world, cfg.data.seed, CLIP_IMAGES, "clip")
    texts = _caption_ids(tokenizer, [s.caption() for s in images.scenes], length, vocab - 1)
    pixels = to_pixels(images.images, cfg.model.vision.image_size)
    loss_fn, batch_size = ClipLoss(), cfg.train.clip.batch_size

    def clip_loss(step: int) -> torch.Tensor:
        rows = batch_indices(len(texts), batch_size, step, cfg.train.bases_seed)
        image_features = clip.encode_image(pixels[rows], normalize=True)
        text_features = clip.encode_text(texts[rows], normalize=True)
        return loss_fn(image_features, text_features, clip.logit_scale.exp())

    clip.train()
    history = _phase("clip", cfg, clip_loss, list(clip.parameters()), out, on_log)
    return {k: v.detach().contiguous() for k, v in clip.visual.state_dict().items()}, history


class Half(NamedTuple):
    """One half of the bases: where it goes, the fields it depends on, how it is trained."""

    target: Path
    fields: dict
    build: Callable[[Path], list[Record]]


def prepare_bases(
    cfg: VariantConfig,
    out: Path,
    world: Path,
    on_log: LogFn | None = None,
    shared: Path | None = None,
) -> list[Record]:
    """Train the toy bases into `out/llm` and `out/tower.safetensors` (what the config leaves
    to train); the world's datasets are cached under `world`. With `shared`, each half is
    trained once per the fields it reads and copied from there (see the module's docstring).
    Returns every phase's curve."""
    halves: list[Half] = []
    if cfg.model.llm.path is None:

        def train_llm(folder: Path) -> list[Record]:
            log.info("training the toy LLM (%s) into %s", cfg.model.llm.toy_base, folder)
            tokenizer, llm, curve = train_toy_llm(cfg, out, on_log)
            tokenizer.save_pretrained(folder)
            llm.save_pretrained(folder)
            return curve

        halves.append(Half(out / "llm", _llm_fields(cfg), train_llm))
    if "clip" in bases_phases(cfg):

        def train_tower(folder: Path) -> list[Record]:
            tokenizer = build_word_tokenizer(vocabulary(*_tower_template(cfg)))
            weights, curve = train_toy_tower(cfg, tokenizer, world, out, on_log)
            write_bytes(folder / TOWER, save(weights))
            return curve

        halves.append(Half(out / "tower", _tower_fields(cfg), train_tower))
    curves: dict[Path, list[Record]] = {}
    waiting = list(halves)
    while waiting:  # a half another process is training now comes last: no idle wait first
        half = next((h for h in waiting if not _in_training(shared, h.fields)), waiting[0])
        curves[half.target] = _built_once(half.target, shared, half.fields, half.build)
        waiting.remove(half)
    if (out / "tower" / TOWER).exists():
        shutil.copyfile(out / "tower" / TOWER, out / TOWER)
    return [record for half in halves for record in curves[half.target]]


def _llm_fields(cfg: VariantConfig) -> dict:
    """What the toy LLM's weights and curves depend on."""
    llm = cfg.model.llm.model_dump(mode="json", exclude={"trainable", "lora"})
    return {
        "part": "llm",
        "llm": llm,
        "data_seed": cfg.data.seed,
        "held_out_task": cfg.data.prompts.held_out_task,
        "seed": cfg.train.bases_seed,
        "bases": cfg.train.bases.model_dump(mode="json"),
        "instruct": cfg.train.instruct.model_dump(mode="json"),
        "log_every": cfg.train.log_every,
    }


def _tower_template(cfg: VariantConfig) -> tuple:
    """The template whose vocabulary numbers the tower's caption words: the toy LLM's (the
    tower then shares its tokenizer), none beside a user's LLM."""
    return (TEMPLATES[cfg.model.llm.prompt_template],) if cfg.model.llm.path is None else ()


def _tower_fields(cfg: VariantConfig) -> dict:
    """What the toy tower's weights and curve depend on (its captions' word ids too)."""
    # (a toy tower is always open_clip's custom ViT: the other families' fields are unset)
    other_families = {"family", "timm_name", "hf_path"}
    vision = cfg.model.vision.model_dump(
        mode="json", exclude={"frozen", "lr_scale", "max_frames", *other_families}
    )
    template = cfg.model.llm.prompt_template if cfg.model.llm.path is None else None
    return {
        "part": "tower",
        "vision": vision,
        "template": template,
        "data_seed": cfg.data.seed,
        "seed": cfg.train.bases_seed,
        "clip": cfg.train.clip.model_dump(mode="json"),
        "log_every": cfg.train.log_every,
    }


def _kept(shared: Path, fields: dict) -> Path:
    return shared / f"{fields['part']}-{digest_of(SHARED_VERSION, WORLD_VERSION, fields)}"


def _in_training(shared: Path | None, fields: dict) -> bool:
    """Whether another process holds the half's lock (is training it) at this moment."""
    if shared is None or _kept(shared, fields).exists():
        return False
    shared.mkdir(parents=True, exist_ok=True)
    lock = FileLock(_kept(shared, fields).with_suffix(".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _built_once(
    target: Path, shared: Path | None, fields: dict, build: Callable[[Path], list[Record]]
) -> list[Record]:
    """Fill `target` with `build` (which returns its curve), or copy what an earlier call
    with the same `fields` built into `shared`; the curve is returned either way."""
    if shared is None:
        curve: list[Record] = []

        def fill(tmp: Path) -> None:
            curve.extend(build(tmp))

        write_dir(target, fill)
        return curve
    kept = _kept(shared, fields)
    kept.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(kept.with_suffix(".lock")):  # one process trains it; the others wait
        if not kept.exists():

            def fill_kept(tmp: Path) -> None:
                (tmp / HISTORY).write_text(json.dumps(build(tmp)))

            write_dir(kept, fill_kept)
    write_dir(target, lambda tmp: shutil.copytree(kept, tmp, dirs_exist_ok=True))
    return json.loads((target / HISTORY).read_text())


def load_bases(cfg: VariantConfig, out: Path) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tokenizer and frozen LLM that `prepare_bases` left in `out` (or the user's path)."""
    if cfg.model.llm.path is not None:
        return load_tokenizer(cfg.model.llm.path), build_llm(cfg.model.llm, None)
    return load_tokenizer(out / "llm"), AutoModelForCausalLM.from_pretrained(out / "llm")


def load_tower(tower: VisionTower, out: Path) -> None:
    """Put the CLIP-pretrained trunk from `out` into `tower`, if the bases trained one."""
    if (out / TOWER).exists():
        tower.visual.load_state_dict(load_file(out / TOWER))
