"""A brace pattern's size, counted without expanding it, is what `braceexpand` yields; a caption
file whose pattern names more than the limit is refused before anything expands it."""

from __future__ import annotations

import pytest
from braceexpand import braceexpand
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lynx_core.config import VariantConfig
from lynx_core.config.patterns import MAX_PATTERN_NAMES, pattern_size

ranges = st.builds(
    lambda a, b, step: f"{{{a}..{b}{f'..{step}' if step else ''}}}",
    st.integers(0, 12),
    st.integers(0, 12),
    st.sampled_from([None, 1, 2, 3]),
)
letters = st.builds(
    lambda a, b: f"{{{a}..{b}}}", st.sampled_from("abcxyz"), st.sampled_from("abez")
)
words = st.text("abc._-", min_size=0, max_size=3)


@st.composite
def patterns(draw, depth: int = 0) -> str:
    """Literal text and groups: ranges, letter ranges, alternatives (nested once)."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        options = [words, ranges, letters]
        if depth < 2:
            options.append(
                st.lists(patterns(depth + 1), min_size=2, max_size=3).map(
                    lambda alts: "{" + ",".join(alts) + "}"
                )
            )
        parts.append(draw(st.one_of(options)))
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(patterns())
def test_the_count_is_what_braceexpand_yields(pattern):
    size = pattern_size(pattern)
    assume(size <= 20_000)  # expanding it here is the test's cost, not the function's
    assert size == len(list(braceexpand(pattern)))


def test_a_caption_pattern_past_the_limit_is_refused_before_it_is_expanded():
    huge = "/d/pairs-{0000000000..9999999999}.tar"  # expanded, it would take gigabytes
    with pytest.raises(ValidationError, match="names 10,000,000,000 files, more than 1,000,000"):
        VariantConfig(data={"captions": {"files": [{"format": "webdataset", "path": huge}]}})
    fits = f"/d/pairs-{{0..{MAX_PATTERN_NAMES - 1}}}.tar"
    cfg = VariantConfig(data={"captions": {"files": [{"format": "webdataset", "path": fits}]}})
    assert cfg.data.captions.files[0].path == fits
