"""Resampler, adapters and cross-attention on their own."""

from __future__ import annotations

import pytest
import torch

from lynx_core.config import AdapterConfig, ResamplerConfig
from lynx_core.model.adapters import BottleneckAdapter, adapter_layer_indices
from lynx_core.model.cross_attention import GatedCrossAttention, MediaSlot
from lynx_core.model.resampler import PerceiverResampler


@pytest.mark.parametrize("patches", [16, 48, 901])
def test_resampler_gives_a_fixed_number_of_tokens(patches):
    resampler = PerceiverResampler(40, ResamplerConfig(num_queries=8, depth=2, dim=32))
    assert resampler(torch.randn(3, patches, 40)).shape == (3, 8, 32)


def test_fresh_adapter_is_the_identity():
    adapter = BottleneckAdapter(16, 4)
    hidden = torch.randn(2, 5, 16)
    torch.testing.assert_close(adapter(hidden), hidden, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (AdapterConfig(enabled=False), []),
        (AdapterConfig(enabled=True, every=1), [0, 1, 2, 3, 4, 5]),
        (AdapterConfig(enabled=True, every=2), [0, 2, 4]),
        (AdapterConfig(enabled=True, layers=[5, 1, 1]), [1, 5]),
    ],
)
def test_adapter_placement(cfg, expected):
    assert adapter_layer_indices(6, cfg) == expected


def test_adapter_layers_out_of_range_name_the_field():
    with pytest.raises(ValueError, match="model.adapters.layers"):
        adapter_layer_indices(4, AdapterConfig(enabled=True, layers=[4]))


def test_cross_attention_output_is_zero_where_media_not_visible():
    torch.manual_seed(0)
    xattn = GatedCrossAttention(16, 8, heads=2)
    torch.nn.init.constant_(xattn.attn_gate, 1.0)
    hidden, media = torch.randn(1, 4, 16), torch.randn(1, 3, 8)
    visible = torch.tensor([[False, False, True, True]])
    hidden_ff_only = xattn(hidden, media, torch.zeros_like(visible))
    out = xattn(hidden, media, visible)
    torch.testing.assert_close(out[:, :2], hidden_ff_only[:, :2])
    assert not torch.allclose(out[:, 2:], hidden_ff_only[:, 2:])


def test_media_slot_matches_beams_and_cached_decoding():
    slot = MediaSlot()
    slot.tokens = torch.randn(2, 3, 8)
    slot.visible = torch.tensor([[False, True, True], [False, False, True]])
    media, visible = slot.for_hidden(torch.zeros(6, 5, 16))  # 3 beams, prompt + 2 new tokens
    assert media.shape == (6, 3, 8) and torch.equal(media[1], slot.tokens[0])
    assert visible.shape == (6, 5) and visible[3].tolist() == [False, False, True, True, True]
    _, step = slot.for_hidden(torch.zeros(6, 1, 16))  # one cached decoding step
    assert step.all()


def test_the_prefix_keeps_a_words_scale_however_large_its_projection_grows():
    """AdamW grows a small projection's weights by about its learning rate a step: the prefix
    must stay at the scale of the LLM's word embeddings, or the frozen LLM cannot read it."""
    from lynx_core.model.prefix import PrefixProjector

    projector = PrefixProjector(media_dim=16, llm_dim=32, embedding_std=0.03)
    media = torch.randn(2, 5, 16)
    with torch.no_grad():
        projector.proj.weight.mul_(100.0)
    rms = projector(media).pow(2).mean(dim=-1).sqrt()
    torch.testing.assert_close(rms, torch.full_like(rms, 0.03))
