"""OwlEval sheets: anonymous shuffled export, import of filled ratings into scores and ranks."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lynx_core.evaluate.owleval import OwlQuestion, RatingError, export_sheets, import_ratings

QUESTIONS = [
    OwlQuestion(id=f"q{i}", image=f"images/{i}.jpg", question=f"Describe <image {i}>")
    for i in range(4)
]
ANSWERS = {
    "lynx": {f"q{i}": f"lynx answer {i}" for i in range(4)},
    "w-llama": {f"q{i}": f"llama answer {i}" for i in range(4)},
    "w-cross-attn": {f"q{i}": f"xattn answer {i}" for i in range(4)},
}


def test_sheets_hide_the_variants_and_shuffle_their_order(tmp_path):
    sheet, page, key = export_sheets(QUESTIONS, ANSWERS, tmp_path)
    frame = pd.read_csv(sheet, keep_default_na=False)
    assert len(frame) == 12 and set(frame["slot"]) == {"A", "B", "C"}
    assert not set(frame.columns) & {"variant"} and (frame["rating"] == "").all()
    text = sheet.read_text() + page.read_text()
    assert all(name not in text for name in ("w-llama", "w-cross-attn", "'lynx'"))
    assert "&lt;image 0&gt;" in page.read_text()  # answers and questions are escaped
    slots = json.loads(key.read_text())
    orders = {tuple(slots[f"{q.id}/{s}"] for s in "ABC") for q in QUESTIONS}
    assert len(orders) > 1, "the order of variants changes from question to question"
    for row in frame.itertuples():  # each slot really holds its variant's answer
        assert row.answer == ANSWERS[slots[f"{row.question_id}/{row.slot}"]][row.question_id]


def test_filled_ratings_become_scores_and_a_ranking(tmp_path):
    sheet, _, key = export_sheets(QUESTIONS, ANSWERS, tmp_path)
    slots = json.loads(key.read_text())
    frame = pd.read_csv(sheet, keep_default_na=False)
    grade = {"lynx": "A", "w-llama": "B", "w-cross-attn": "d"}  # lower case is accepted
    frame["rating"] = (frame.question_id + "/" + frame.slot).map(slots).map(grade)
    frame.loc[0, "rating"] = ""  # one answer left unrated
    frame.to_csv(sheet, index=False)
    table, counts = import_ratings(sheet, key)
    assert list(table.index) == ["lynx", "w-llama", "w-cross-attn"]
    assert list(table["rank"]) == [1, 2, 3]
    assert table.loc["w-llama", "score"] == 3 and table.loc["w-cross-attn", "score"] == 1
    assert table.loc["lynx", "A"] + table.loc["w-llama", "B"] + table.loc["w-cross-attn", "D"] == 11
    assert counts == {"unrated": 1, "rows": 12}


def test_a_bad_grade_is_reported_with_its_line(tmp_path):
    sheet, _, key = export_sheets(QUESTIONS, ANSWERS, tmp_path)
    frame = pd.read_csv(sheet, keep_default_na=False)
    frame.loc[2, "rating"] = "E"
    frame.to_csv(sheet, index=False)
    with pytest.raises(RatingError, match=r"line 4 \('E'\)"):
        import_ratings(sheet, key)
