"""What every data path hands the model code: one training or evaluation item. Generic (no
toy-world knowledge), so readers of real files, batching and evaluation depend on it alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lynx_core.data.dialogue import Turn

Media = Literal["image", "video", "text"]
Length = Literal["short", "long"]  # the answer an instruction asks for (Lynx's diverse prompts)
IGNORE_INDEX = -100  # a label position out of the loss (the prompt, the visual tokens, padding)


@dataclass(frozen=True)
class Example:
    """One training or evaluation item.

    `media` indexes the split's images or videos (`kind`), -1 for text-only. `context` is text
    placed before the user turn, where a Lynx prefix puts the visual tokens; `history` the
    conversation's earlier turns, as (question, answer). `references` are
    the accepted answers a judge compares against (the short answer and its aliases).
    """

    media: int
    kind: Media
    prompt: str
    answer: str
    category: str
    task: str = ""
    context: str = ""
    history: tuple[Turn, ...] = ()
    references: tuple[str, ...] = ()
    instruction: Length | None = None

    @property
    def accepted(self) -> list[str]:
        return list(self.references or (self.answer,))
