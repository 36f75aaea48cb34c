"""How a conversation is written for the LLM: one template per LLM family, chosen by
`model.llm.prompt_template`. One place, so that training batches, multi-turn training files,
the toy Vicuna's instruction tuning and evaluation prompts are all written the same way.

A prompt is, in order: the template's system message, the example's text context (a scene
description, where a Lynx prefix puts the visual tokens), the conversation's earlier turns
and the question awaiting its answer. The answer follows after `before_answer` and ends
with the template's `answer_end` token: the tokenizer's end-of-sequence token for the
written templates, the end-of-turn token of a chat template (`lynx_core.data.batches.encode`).
A chat template's turns hold all the text, so there the context opens the first user message.

`chat_template` is not written here but read from a local LLM's tokenizer
(`chat_dialogue`): its own chat template is rendered around placeholders once and cut into
the same strings, and the cut is checked against the tokenizer's rendering of a two-turn
conversation, so training and evaluation prompts are the ones the tokenizer writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

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
    before_answer: str = " "  # between `ask` and the answer
    joiner: str = " "  # joins the system message, the context and the conversation
    answer_end: str | None = None  # the token ending an answer; None: the tokenizer's eos
    # where set, the context opens the first user message, joined to it by this (a chat
    # template's turns hold all text); else it stands before the conversation
    context_in_turn: str | None = None

    def prompt(self, question: str, context: str = "", history: Sequence[Turn] = ()) -> str:
        """The text the model continues with its answer."""
        if context and self.context_in_turn is not None:
            first = f"{context}{self.context_in_turn}"
            if history:
                (q, a), *rest = history
                history = [(first + q, a), *rest]
            else:
                question = first + question
            context = ""
        past = self.between_turns.join(
            f"{self.ask.format(question=q)}{self.before_answer}{a}{self.end_of_answer}"
            for q, a in history
        )
        body = self.before_ask.join(p for p in (past, self.ask.format(question=question)) if p)
        return self.joiner.join(p for p in (self.system, context, body) if p)

    def answer_end_id(self, tokenizer: PreTrainedTokenizerBase) -> int:
        """The id of the token that ends an answer: trained after every answer, and where
        decoding stops."""
        if self.answer_end is None:
            return tokenizer.eos_token_id
        return tokenizer.convert_tokens_to_ids(self.answer_end)


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


CHAT_TEMPLATE = "chat_template"  # `prompt_template`'s choice read from the LLM's tokenizer
_QUESTION, _ANSWER = "\x00question\x00", "\x00answer\x00"  # placeholders no template writes


def dialogue_template(name: str, tokenizer: PreTrainedTokenizerBase) -> DialogueTemplate:
    """The template `model.llm.prompt_template` names: a written one, or `chat_template`
    read from the tokenizer."""
    return chat_dialogue(tokenizer) if name == CHAT_TEMPLATE else TEMPLATES[name]


def chat_dialogue(tokenizer: PreTrainedTokenizerBase) -> DialogueTemplate:
    """The tokenizer's own chat template as a `DialogueTemplate`.

    One user turn with the generation prompt gives what comes before and after a question; a
    conversation ending on an answer gives what closes an answer; a two-turn conversation
    gives, after that close, the next user turn's opening, and what comes before the first
    such opening is the system part. The BOS the template writes first is left to `encode`,
    which adds it. Raises ValueError where the template cannot be cut so, or the cut does
    not write the two-turn conversation exactly as the tokenizer does.
    """
    name = type(tokenizer).__name__
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{name} has no chat template; use prompt_template lynx or vicuna_v1.1")

    def render(*turns: str, ask: bool = True) -> str:
        text = tokenizer.apply_chat_template(
            [{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(turns)],
            add_generation_prompt=ask,
            tokenize=False,
        )
        bos = tokenizer.bos_token
        return text[len(bos) :] if bos and text.startswith(bos) else text

    one, answered = render(_QUESTION), render(_QUESTION, _ANSWER, ask=False)
    two = render(_QUESTION, _ANSWER, _QUESTION)
    if one.count(_QUESTION) != 1 or two.count(_QUESTION) != 2 or two.count(_ANSWER) != 1:
        raise ValueError(f"{name}'s chat template does not write each message once")
    opening, after_question = one.split(_QUESTION)
    close = answered.split(_ANSWER)[-1]
    between = two.split(_ANSWER)[1].split(_QUESTION)[0]  # the answer's close, the next opening
    turn = between.removeprefix(close)
    before_answer = two.split(_QUESTION)[1].removeprefix(after_question).split(_ANSWER)[0]
    first = tokenizer.convert_ids_to_tokens(tokenizer(close, add_special_tokens=False).input_ids)
    template = DialogueTemplate(
        ask=_escaped(turn) + "{question}" + _escaped(after_question + before_answer),
        system=opening.removesuffix(turn),
        end_of_answer=close,
        between_turns="",
        before_ask="",
        before_answer="",
        joiner="",
        context_in_turn="\n\n",  # as Gemma 3's template folds a system message into the turn
        # an answer ends with the close's first token where that is one of the tokenizer's
        # own (`<end_of_turn>`, `<|im_end|>`, `<|eot_id|>`), else with its eos
        answer_end=first[0] if first and first[0] in tokenizer.get_added_vocab() else None,
    )
    if (
        not between.startswith(close)
        or template.prompt(_QUESTION) != one
        or template.prompt(_QUESTION, history=[(_QUESTION, _ANSWER)]) != two
        or not answered.startswith(template.prompt(_QUESTION) + _ANSWER)
    ):
        raise ValueError(f"{name}'s chat template cannot be cut into turns: it writes {two!r}")
    return template


def _escaped(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")
