"""Bottleneck adapters placed after frozen LLM decoder layers.

Lynx adds LayerNorm → down-projection → SiLU → up-projection, scaled by a learned scalar,
as a residual after the FFN of every 2nd layer. The up-projection starts at zero, so a fresh
adapter is the identity and the frozen LLM's behaviour is untouched until training moves it.
"""

from __future__ import annotations

import torch
from torch import nn

from lynx_core.config import AdapterConfig


class BottleneckAdapter(nn.Module):
    def __init__(self, dim: int, bottleneck: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.down = nn.Linear(dim, bottleneck)
        self.act = nn.SiLU()
        self.up = nn.Linear(bottleneck, dim)
        self.scale = nn.Parameter(torch.ones(1))
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.scale * self.up(self.act(self.down(self.norm(hidden))))


class AdaptedDecoderLayer(nn.Module):
    """A frozen decoder layer followed by an adapter on its hidden-state output."""

    def __init__(self, layer: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.layer = layer
        self.adapter = adapter

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        out = self.layer(hidden_states, *args, **kwargs)
        if isinstance(out, tuple):  # older transformers return (hidden, ...) tuples
            return (self.adapter(out[0]), *out[1:])
        return self.adapter(out)


def adapter_layer_indices(num_layers: int, cfg: AdapterConfig) -> list[int]:
    """Layers that get an adapter: `cfg.layers`, else 0, every, 2·every, … (Lynx: every 2nd)."""
    if not cfg.enabled:
        return []
    if cfg.layers is None:
        return list(range(0, num_layers, cfg.every))
    bad = [i for i in cfg.layers if not 0 <= i < num_layers]
    if bad:
        raise ValueError(
            f"model.adapters.layers {bad} out of range: the LLM has layers 0..{num_layers - 1}"
        )
    return sorted(set(cfg.layers))


def attach_adapters(layers: nn.ModuleList, dim: int, cfg: AdapterConfig) -> list[int]:
    """Wrap the chosen layers of `layers` in place; returns their indices."""
    chosen = adapter_layer_indices(len(layers), cfg)
    for i in chosen:
        layers[i] = AdaptedDecoderLayer(layers[i], BottleneckAdapter(dim, cfg.bottleneck))
    return chosen
