"""Checks of what a variant's stages will read: the ones not covered by the fault suite."""

from __future__ import annotations

import open_clip

from lynx_core.checks import open_clip_models


def test_open_clip_names_are_read_as_open_clip_lists_them():
    assert set(open_clip_models()) == set(open_clip.list_models())
