"""How a conversation is written for the LLM: one template per LLM family, chosen by
`model.llm.prompt_template`. One place, so that training batches, multi-turn training files,
the toy Vicuna's instruction tuning and evaluation prompts are all written the same way.

A prompt is, in order: the template's system message, the example's text context (a scene
description, where a Lynx prefix puts the visual tokens), the conversation's earlier turns
and the question awaiting its answer. The answer follows after a space and ends with the
tokenizer's end-of-sequence token (`lynx_core.data.batches.encode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Turn = tuple[str, str]  # (question, answer) of an earlier, finished turn


@dataclass(frozen=True)
class DialogueTemplate:
    """The strings around a conversation's turns. `ask` holds `{question}` and ends where the
    model's answer begins."""

    ask: str
    system: str = ""  # before everything (Vicuna's system message)
    end_of_answer: str = ""  # written after each earlier answer (Vicuna: its '</s>')
    between_turns: str = "\n"  # joins earlier turns
    before_ask: str = " "  # joins the earlier turns to the question asked

    def prompt(self, question: str, context: str = "", history: Sequence[Turn] = ()) -> str:
        """The text the model continues with its answer."""
        past = self.between_turns.join(
            f"{self.ask.format(question=q)} {a}{self.end_of_answer}" for q, a in history
        )
        body = self.before_ask.join(p for p in (past, self.ask.format(question=question)) if p)
        return " ".join(p for p in (self.system, context, body) if p)


# keys are `LLMConfig.prompt_template`'s choices (a test holds the two lists equal)
TEMPLATES: dict[str, DialogueTemplate] = {
    # the released Lynx prompt: "User: {q}\nBot: {a}", earlier turns a line each
    "lynx": DialogueTemplate(ask="User: {question}\nBot:"),
    # FastChat's `vicuna_v1.1` conversation (sep_style TWO: sep " ", sep2 "</s>"), the format
    # Vicuna v1.1+ was fine-tuned on
    "vicuna_v1.1": DialogueTemplate(
        ask="USER: {question} ASSISTANT:",
        system="A chat between a curious user and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the user's questions.",
        end_of_answer="</s>",
        between_turns="",
        before_ask="",
    ),
}
