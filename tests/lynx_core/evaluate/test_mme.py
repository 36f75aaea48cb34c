"""MME scoring on hand-computed cases."""

from __future__ import annotations

import pytest

from lynx_core.evaluate.mme import MMEAnswer, parse_yes_no, score


def answers(subtask: str, rows: list[tuple[str, str, str]]) -> list[MMEAnswer]:
    return [
        MMEAnswer(subtask=subtask, image=image, question="q?", answer=truth, prediction=said)
        for image, truth, said in rows
    ]


@pytest.mark.parametrize(
    ("said", "read"),
    [
        ("Yes", "yes"),
        ("no.", "no"),
        ("Yes, there is a dog.", "yes"),
        ("No, it is red.", "no"),
        ("  NO", "no"),
        ("There is a dog.", None),
        ("", None),
        ("I cannot tell", None),
    ],
)
def test_yes_no_is_read_as_the_official_tool_reads_it(said, read):
    assert parse_yes_no(said) == read


def test_acc_acc_plus_and_score_per_subtask():
    # 3 images, 6 questions: image a both right, b one right, c both wrong (one unparsed)
    rows = [
        ("a", "Yes", "Yes"),
        ("a", "No", "no, it is not"),
        ("b", "Yes", "Yes"),
        ("b", "No", "Yes"),
        ("c", "Yes", "No"),
        ("c", "No", "maybe"),
    ]
    metrics = score(answers("existence", rows))
    assert metrics["existence/acc"] == pytest.approx(100 * 3 / 6)
    assert metrics["existence/acc_plus"] == pytest.approx(100 * 1 / 3)
    assert metrics["existence/score"] == pytest.approx(50 + 100 / 3)
    assert metrics["existence/unparsed"] == 1 and metrics["unparsed"] == 1


def test_totals_sum_subtask_scores_by_group():
    perfect = [("i", "Yes", "yes"), ("i", "No", "no")]
    half = [("j", "Yes", "yes"), ("j", "No", "yes")]
    metrics = score(
        answers("count", perfect) + answers("OCR", half) + answers("code_reasoning", perfect)
    )
    assert metrics["count/score"] == 200 and metrics["OCR/score"] == 50
    assert metrics["perception"] == 250 and metrics["cognition"] == 200


def test_an_image_without_exactly_two_questions_is_an_error():
    with pytest.raises(ValueError, match="exactly two per image"):
        score(answers("color", [("k", "Yes", "yes")]))
