"""Named scale presets: dotted overrides of `VariantConfig` defaults, selected by `scale:`.

`toy` is the defaults themselves (trains on a CPU in minutes). Adding a preset is one entry.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "toy": {},
}
