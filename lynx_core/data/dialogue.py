"""The dialogue format every model sees: the released Lynx prompt, with earlier turns (or a
scene description) as context before it. One place, so that training files' multi-turn
context, training batches and evaluation prompts are written the same way."""

from __future__ import annotations

PROMPT_TEMPLATE = "User: {question}\nBot:"  # the released Lynx prompt


def format_prompt(question: str, context: str = "") -> str:
    prompt = PROMPT_TEMPLATE.format(question=question)
    return f"{context} {prompt}" if context else prompt


def format_turn(question: str, answer: str) -> str:
    """A finished turn, as it appears in a later turn's context."""
    return f"{format_prompt(question)} {answer}"
