"""Readers of released text-only instruction sets, each written from its format's public
description: Alpaca's json (Stanford Alpaca, Alpaca-GPT4), Baize's self-chat json and LAION
OIG's JSON lines. A multi-turn chat becomes a conversation without media (its later turns
train with the earlier ones as history, as a LLaVA conversation does)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from lynx_core.data.convert.prepare import Example, Release, Skip


def alpaca_style(name: str) -> Callable[[Release], Iterator[Example | Skip]]:
    """A reader of an Alpaca-format json (`alpaca_data.json`, Alpaca-GPT4's
    `alpaca_gpt4_data.json`): a list of `{"instruction", "input", "output"}`; text only, the
    input (if any) after the instruction."""

    def read(release: Release) -> Iterator[Example | Skip]:
        for _, source, row in release.records(name, "instruction", "output"):
            extra = str(row.get("input") or "").strip()
            instruction = str(row["instruction"]).strip() + (f"\n{extra}" if extra else "")
            output = str(row["output"]).strip()
            yield Example(instruction, output, source) if output else Skip("empty output", source)

    return read


def marked_turns(text: str, marker: re.Pattern, speakers: dict[str, str]) -> list[dict] | None:
    """A chat written as one text with a marker before each turn, as LLaVA-style turns
    (`{"from": "human" | "gpt", "value"}`); `marker`'s one group is the speaker, `speakers`
    maps it to "human" or "gpt". What precedes the first marker (a preamble) is dropped, and
    so is a last human turn left empty (a self-chat's open prompt). None where the turns
    are not answered human/gpt pairs, or a turn is empty."""
    parts = marker.split(text)[1:]
    turns = [
        {"from": speakers[who], "value": said.strip()}
        for who, said in zip(parts[::2], parts[1::2], strict=True)
    ]
    if turns and turns[-1]["from"] == "human" and not turns[-1]["value"]:
        turns.pop()
    alternate = [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
    if not turns or len(turns) % 2 or not alternate or not all(t["value"] for t in turns):
        return None
    return turns


BAIZE = ("quora_chat_data.json", "stackoverflow_chat_data.json", "medical_chat_data.json")
_BAIZE_MARKER = re.compile(r"\[\|(Human|AI)\|\] ?")
_OIG_MARKER = re.compile(r"(?:^|\n)<(human|bot)>: ?")


def read_baize(release: Release) -> Iterator[Example | Skip]:
    """Baize's self-chat files (its repository's `data/quora_chat_data.json`,
    `stackoverflow_chat_data.json`, `medical_chat_data.json`, as `preprocess.py` writes them):
    each a list of `{"topic", "input"}`, `input` one text "The conversation between human and
    AI assistant.\\n[|Human|] …\\n[|AI|] …\\n … [|Human|] " that ends on an open human turn.
    A turn may hold line breaks, so turns are cut at the markers. A chat that is not answered
    human/AI pairs (turns out of order, an empty turn, no marker) is skipped and counted."""
    for name in BAIZE:
        yield from _chats(release, name, "input", _BAIZE_MARKER, {"Human": "human", "AI": "gpt"})


def read_oig(name: str) -> Callable[[Release], Iterator[Example | Skip]]:
    """A reader of LAION OIG-small-chip2's JSON lines (`unified_chip2.jsonl`): a line
    `{"text": "<human>: …\\n<bot>: …", "metadata": {…}}` per example, turns cut at the
    `<human>: ` and `<bot>: ` markers that open a line. (Other OIG files may put background
    text before the first turn, which this reader would drop.)"""

    def read(release: Release) -> Iterator[Example | Skip]:
        yield from _chats(release, name, "text", _OIG_MARKER, {"human": "human", "bot": "gpt"})

    return read


def _chats(
    release: Release, name: str, field: str, marker: re.Pattern, speakers: dict[str, str]
) -> Iterator[Example | Skip]:
    """Each row's `field`, one chat written with `marker`s, as a conversation without media;
    a chat that is not answered pairs (`marked_turns`) is skipped and counted."""
    for _, source, row in release.records(name, field):
        turns = marked_turns(str(row[field]), marker, speakers)
        yield (
            Skip(f"turns are not answered {'/'.join(speakers)} pairs", source)
            if turns is None
            else Example("", "", source, conversations=turns)
        )
