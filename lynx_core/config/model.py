"""The model a variant builds: vision tower, connector (`model.connector`: resampler, MLP
projector or pooled patches), LLM (with LoRA), cross-attention, adapters, and how visual tokens
enter the LLM (`model.arch`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lynx_core.config.base import LocalPath, StrictModel, must_divide


class VisionConfig(StrictModel):
    """The vision tower (`lynx_core.model.towers`): from open_clip (a named model config, or a
    tiny custom ViT for toy scale), from timm (a named architecture and its weights file) or a
    Hugging Face vision model (CLIP, SigLIP, DINOv2, ... from a local folder). Never downloaded."""

    family: Literal["open_clip", "timm", "hf"] = Field(
        "open_clip",
        description="where the tower comes from: 'open_clip' (open_clip_name, checkpoint), "
        "'timm' (timm_name, checkpoint) or 'hf' (hf_path)",
    )
    open_clip_name: str | None = Field(
        None, description="open_clip model config name, e.g. 'EVA01-g-14'; None = custom ViT below"
    )
    timm_name: str | None = Field(
        None, description="timm architecture, e.g. 'efficientnet_lite0' (family: timm)"
    )
    hf_path: LocalPath | None = Field(
        None,
        description="a Hugging Face vision model's from_pretrained folder: a CLIP, SigLIP, "
        "DINOv2 or other vision model, or a whole CLIP/SigLIP whose vision half is used "
        "(family: hf)",
    )
    checkpoint: LocalPath | None = Field(
        None, description="the tower's weights file: open_clip's .pt, or timm's state dict"
    )
    image_size: int = Field(32, gt=0, description="input resolution in pixels")
    patch_size: int = Field(8, gt=0)
    width: int = Field(64, gt=0)
    layers: int = Field(2, gt=0)
    head_width: int = Field(32, gt=0)
    max_frames: int = Field(
        4,
        gt=0,
        description="frames per video, sampled evenly over the clip (a shorter clip repeats "
        "frames); one learned embedding each. Toy clips have 4; Lynx uses 5",
    )
    frozen: bool = True
    lr_scale: float = Field(
        1.0,
        gt=0,
        description="a trainable tower's learning rate as a multiple of the stage's (e.g. 0.1: "
        "pretrained weights moved ten times more gently than the new connector); frozen: "
        "false only",
    )
    frame_embed_std: float = Field(
        1.0,
        gt=0,
        description="the frame embeddings' initial standard deviation: the scale of the trunk's "
        "tokens (~1 after its final norm), as open_flamingo's std-1 frame embeddings, so a "
        "clip's frames differ from the first step (at 0.02 they were 2% of a token, and "
        "whether a seed learned frame order or motion was chance)",
    )

    @model_validator(mode="after")
    def _scaled_only_if_trained(self) -> VisionConfig:
        if self.frozen and self.lr_scale != 1.0:
            raise ValueError(
                f"model.vision.lr_scale {self.lr_scale} has no effect on a frozen tower; set "
                "model.vision.frozen: false to train it at that scale, or remove lr_scale"
            )
        return self

    @model_validator(mode="after")
    def _one_source(self) -> VisionConfig:
        """Each family's own fields, and no other's: a timm name beside an open_clip tower
        would be silently ignored, running another tower than the file says. A pretrained
        tower of another family is used at the size the sweep names, never a default."""
        own = {"open_clip": {"open_clip_name"}, "timm": {"timm_name"}, "hf": {"hf_path"}}
        for family, fields in own.items():
            stray = sorted(f for f in fields if getattr(self, f) is not None)
            if family != self.family and stray:
                raise ValueError(
                    f"model.vision.{stray[0]} is for family: {family}, and this tower's is "
                    f"{self.family}; set model.vision.family: {family}, or remove {stray[0]}"
                )
        needs = {
            "timm": ("timm_name", "checkpoint"),  # a random frozen tower would learn nothing
            "hf": ("hf_path",),
        }
        missing = [f for f in needs.get(self.family, ()) if getattr(self, f) is None]
        if missing:
            raise ValueError(
                f"family: {self.family} needs model.vision.{missing[0]} (timm: the "
                "architecture's name and its weights file; hf: the from_pretrained folder)"
            )
        if self.family == "hf" and self.checkpoint is not None:
            raise ValueError("family: hf reads its weights from hf_path; remove checkpoint")
        if self.family != "open_clip" and "image_size" not in self.model_fields_set:
            raise ValueError(
                f"family: {self.family} needs model.vision.image_size: the resolution to run "
                "the tower at (its own is in its config; another one interpolates its "
                "position embeddings)"
            )
        return self

    @property
    def toy(self) -> bool:
        """The tiny custom ViT, CLIP-pretrained on the world by the bases stage."""
        return self.family == "open_clip" and self.open_clip_name is None

    @property
    def given(self) -> bool:
        """The user's pretrained weights (no CLIP pretraining runs)."""
        return not self.toy or self.checkpoint is not None

    @model_validator(mode="after")
    def _patches_tile_image(self) -> VisionConfig:
        if not self.toy:
            return self
        if self.open_clip_name is None and self.image_size % self.patch_size:
            raise ValueError(
                f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )
        if self.open_clip_name is None and self.width % self.head_width:
            raise ValueError(
                f"width {self.width} is not a multiple of head_width {self.head_width} "
                "(the toy tower's heads split its width)"
            )
        return self


class ResamplerConfig(StrictModel):
    """Perceiver resampler: `num_queries` learned latents cross-attend to the patch tokens."""

    num_queries: int = Field(8, gt=0, description="visual tokens handed to the LLM")
    depth: int = Field(1, gt=0)
    heads: int = Field(4, gt=0)
    dim: int = Field(64, gt=0)

    @model_validator(mode="after")
    def _heads_split_dim(self) -> ResamplerConfig:
        must_divide(self.heads, self.dim, "resampler heads", "its dim")
        return self


class MlpProjectorConfig(StrictModel):
    """LLaVA-1.5's connector: a two-layer MLP (linear, GELU, linear) on every patch token, so
    the LLM sees one visual token per patch (per frame for a video)."""

    dim: int = Field(64, gt=0, description="width of the visual tokens (the MLP's hidden width)")


class AvgPoolConfig(StrictModel):
    """Patch tokens average-pooled to a fixed count (as MM1 and Prismatic ablate): each frame's
    patch grid pooled to a square of `tokens` cells, then one linear map to `dim`."""

    tokens: int = Field(
        4, gt=0, description="visual tokens per image or frame: a square (1, 4, 9, 16, ...)"
    )
    dim: int = Field(64, gt=0, description="width of the visual tokens")

    @model_validator(mode="after")
    def _square(self) -> AvgPoolConfig:
        below = int(self.tokens**0.5)
        if below * below != self.tokens:
            raise ValueError(
                f"avg_pool tokens {self.tokens} is not a square: each frame's patch grid is "
                f"pooled to side × side cells; use {below * below} or {(below + 1) ** 2}"
            )
        return self

    @property
    def side(self) -> int:
        return int(self.tokens**0.5)

    def misfit(self, grid: tuple[int, int], tower: str) -> str | None:
        """Why pooling cannot make `tokens` cells of a `tower`'s patch grid (more cells than
        patches along a side), or None: one check for the config, the connector and the
        preflight."""
        if self.side <= min(grid):
            return None
        return (
            f"model.avg_pool.tokens {self.tokens} is more than the {grid[0]}×{grid[1]} patch "
            f"grid of {tower} can pool to; use at most {min(grid) ** 2}"
        )


class LoraConfig(StrictModel):
    """LoRA on the LLM's projections (via peft): a cheap 'trainable LLM'."""

    rank: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "v_proj"]


class LLMConfig(StrictModel):
    """The causal LM: a local HF checkpoint, or a randomly initialised LLaMA of the given size."""

    path: LocalPath | None = Field(None, description="folder for from_pretrained; None = random")
    hidden_size: int = Field(128, gt=0)
    layers: int = Field(4, gt=0)
    heads: int = Field(4, gt=0)
    intermediate_size: int = Field(256, gt=0)
    vocab_size: int | None = Field(None, gt=0, description="None: the tokenizer's size")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    trainable: bool = Field(False, description="unfreeze all of the LLM (paper: 'trainable LLM')")
    lora: LoraConfig | None = Field(None, description="train LoRA weights instead of the LLM")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa",
        description="the LLM's attention kernel (transformers' `attn_implementation`): the "
        "same result up to float rounding; flash_attention_2 needs the flash-attn package "
        "and a CUDA GPU",
    )
    prompt_template: Literal["lynx", "vicuna_v1.1", "chat_template"] = Field(
        "lynx",
        description="how conversations are written for this LLM (lynx_core.data.dialogue): "
        "'lynx' is the released Lynx prompt 'User: {q}\\nBot: {a}'; 'vicuna_v1.1' is the "
        "format Vicuna v1.1+ was fine-tuned on (system message, 'USER: {q} ASSISTANT: {a}</s>'); "
        "'chat_template' is the local model's tokenizer's own chat template, each answer "
        "ended by its end-of-turn token",
    )
    toy_base: Literal["llama", "vicuna"] = Field(
        "vicuna",
        description="toy bases only (ignored with `path`): 'llama' is pretrained on plain world "
        "text; 'vicuna' is that model instruction-tuned on dialogue-format text",
    )

    @model_validator(mode="after")
    def _one_way_to_train(self) -> LLMConfig:
        if self.trainable and self.lora is not None:
            raise ValueError("set either trainable: true (full fine-tuning) or lora, not both")
        return self

    @model_validator(mode="after")
    def _chat_template_is_a_tokenizers(self) -> LLMConfig:
        if self.prompt_template == "chat_template" and self.path is None:
            raise ValueError(
                "prompt_template chat_template is read from a local model's tokenizer; the toy "
                "LLM's word tokenizer has none: set model.llm.path, or use lynx or vicuna_v1.1"
            )
        return self

    @model_validator(mode="after")
    def _heads_split_width(self) -> LLMConfig:
        if self.path is None:  # a local model's sizes are its own (lynx_core.checks reads them)
            must_divide(self.heads, self.hidden_size, "llm heads", "its hidden_size")
        return self


class CrossAttentionConfig(StrictModel):
    """Flamingo-style gated cross-attention before every `every`-th LLM layer."""

    every: int = Field(1, gt=0)
    heads: int = Field(4, gt=0)


class AdapterConfig(StrictModel):
    """Bottleneck adapters after frozen LLM layers (zero-initialised, so they start as identity).

    Placed after `layers` when given, else after layers 0, every, 2·every, … (Lynx: every 2nd).
    """

    enabled: bool = False
    every: int = Field(2, gt=0)
    layers: list[int] | None = Field(None, description="explicit layer indices; overrides every")
    bottleneck: int = Field(32, gt=0)


class ModelConfig(StrictModel):
    arch: Literal["prefix", "cross_attention"] = "prefix"
    connector: Literal["resampler", "mlp", "avg_pool"] = Field(
        "resampler",
        description="how patch tokens become visual tokens (lynx_core.model.connectors): "
        "'resampler' (Lynx's perceiver resampler, `model.resampler`), 'mlp' (LLaVA's "
        "two-layer projector, one token per patch, `model.mlp`) or 'avg_pool' (the patch grid "
        "average-pooled to a fixed count, `model.avg_pool`)",
    )
    image_token: str = Field(
        "<image>", description="prompt placeholder marking where the media go, if present"
    )
    vision: VisionConfig = VisionConfig()
    resampler: ResamplerConfig = ResamplerConfig()
    mlp: MlpProjectorConfig = MlpProjectorConfig()
    avg_pool: AvgPoolConfig = AvgPoolConfig()
    llm: LLMConfig = LLMConfig()
    cross_attention: CrossAttentionConfig = CrossAttentionConfig()
    adapters: AdapterConfig = AdapterConfig()

    @model_validator(mode="after")
    def _fits_the_toy_llm(self) -> ModelConfig:
        """Layer indices and head counts against the toy LLM (a local model's own sizes are
        checked where its config is read, `lynx_core.checks`)."""
        if self.llm.path is None:
            misfits = self.misfits(self.llm.layers, self.llm.hidden_size, "the LLM")
            if misfits:
                raise ValueError("; ".join(why for _, why in misfits))
        return self

    @model_validator(mode="after")
    def _pool_fits_the_toy_grid(self) -> ModelConfig:
        """Pooling cannot make more cells than the tower has patches (a named open_clip
        tower's grid is read when it is built, `lynx_core.model.connectors`)."""
        if self.connector == "avg_pool" and self.vision.toy:
            grid = self.vision.image_size // self.vision.patch_size
            misfit = self.avg_pool.misfit((grid, grid), "the toy tower")
            if misfit:
                raise ValueError(misfit)
        return self

    def misfits(self, layers: int, width: int, llm: str) -> list[tuple[str, str]]:
        """(field, why) where the adapters or the cross-attention do not fit an LLM of
        `layers` layers and hidden size `width` (`llm` names it in the message)."""
        found = []
        outside = sorted(i for i in self.adapters.layers or [] if not 0 <= i < layers)
        if self.adapters.enabled and outside:
            found.append(
                (
                    "model.adapters.layers",
                    f"adapters.layers {outside} are not layers of {llm} (it has {layers}: "
                    f"0 to {layers - 1})",
                )
            )
        heads = self.cross_attention.heads
        if self.arch == "cross_attention" and width % heads:
            found.append(
                (
                    "model.cross_attention.heads",
                    f"cross_attention heads ({heads}) must divide {llm}'s hidden_size ({width})",
                )
            )
        return found
