"""OwlEval by people: rating sheets out, filled ratings in, per-variant scores and a ranking.

`export_sheets` writes, for every question, each variant's answer in a shuffled anonymous
slot (A, B, C, ...): `sheet.csv` (one row per answer, an empty `rating` column), `sheet.html`
(the image, the question and the answers, for reading) and `key.json` (slot → variant, kept
from the raters). Raters grade each answer A–D as in OwlEval (mPLUG-Owl): A correct and
satisfying, B small imperfections, C understood but with clear errors, D irrelevant or wrong.
`import_ratings` reads the filled sheet back, maps grades to points (A=4 … D=1 by default;
the Lynx paper reports means on a scale of its own, up to 5) and returns per-variant means,
grade counts and the ranking. Bad grades are reported with their line; empty ones counted.
"""

from __future__ import annotations

import html
import json
import random
import string
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from lynx_core.atomic import write_json, write_text
from lynx_core.config import StrictModel

GRADES = {"A": 4, "B": 3, "C": 2, "D": 1}
GUIDE = (
    "A: correct and satisfying; B: acceptable with small imperfections; "
    "C: understands the question but has clear errors; D: irrelevant or wrong"
)


class OwlQuestion(StrictModel):
    id: str
    image: str  # path as the HTML sheet should show it (relative to the sheet)
    question: str


SHEET_COLUMNS = ("question_id", "slot", "rating")  # what import reads of a filled sheet


class RatingError(ValueError):
    pass


def export_sheets(
    questions: Sequence[OwlQuestion],
    answers: Mapping[str, Mapping[str, str]],  # variant → question id → answer
    out: Path,
    seed: int = 0,
) -> list[Path]:
    """Write sheet.csv, sheet.html and key.json under `out`; slots shuffled per question."""
    variants = sorted(answers)
    if len(variants) > len(string.ascii_uppercase):
        raise ValueError(f"at most 26 variants per sheet, got {len(variants)}")
    rng = random.Random(seed)
    rows, key, blocks = [], {}, []
    for q in questions:
        order = variants[:]
        rng.shuffle(order)
        items = []
        for slot, variant in zip(string.ascii_uppercase, order, strict=False):
            answer = answers[variant].get(q.id, "")
            rows.append(
                {
                    "question_id": q.id,
                    "image": q.image,
                    "question": q.question,
                    "slot": slot,
                    "answer": answer,
                    "rating": "",
                }
            )
            key[f"{q.id}/{slot}"] = variant
            items.append(f"<li><b>{slot}</b>: {html.escape(answer)}</li>")
        blocks.append(
            f"<section><h2>{html.escape(q.id)}</h2>"
            f'<img src="{html.escape(q.image)}" style="max-width:420px">'
            f"<p>{html.escape(q.question)}</p><ol type=A>{''.join(items)}</ol></section>"
        )
    out.mkdir(parents=True, exist_ok=True)
    sheet, page, key_file = out / "sheet.csv", out / "sheet.html", out / "key.json"
    write_text(sheet, pd.DataFrame(rows).to_csv(index=False))
    write_text(
        page,
        "<!doctype html><meta charset=utf-8><title>OwlEval rating sheet</title>"
        f"<p>Rate every answer in sheet.csv's <code>rating</code> column. {GUIDE}.</p>"
        + "".join(blocks),
    )
    write_json(key_file, key)
    return [sheet, page, key_file]


def import_ratings(
    sheet: Path, key: Path, grades: Mapping[str, float] = GRADES
) -> tuple[pd.DataFrame, dict[str, float]]:
    """(per-variant table: score, rated, grade counts, rank; counts of unrated answers)."""
    try:
        frame = pd.read_csv(sheet, dtype=str, keep_default_na=False)
        slots = json.loads(key.read_text())
    except (OSError, ValueError) as err:  # pandas' ParserError and JSON's are ValueErrors
        raise RatingError(f"cannot read {sheet} with {key}: {err}") from None
    missing = [c for c in SHEET_COLUMNS if c not in frame.columns]
    if missing:
        raise RatingError(
            f"{sheet}: no column {', '.join(missing)}; fill the sheet that `make owleval-export` "
            f"wrote (columns {', '.join(SHEET_COLUMNS)}) and keep its header"
        )
    frame["rating"] = frame["rating"].str.strip().str.upper()
    bad = frame[(frame["rating"] != "") & ~frame["rating"].isin(list(grades))]
    if not bad.empty:
        lines = ", ".join(f"line {i + 2} ({v!r})" for i, v in bad["rating"].items())
        raise RatingError(f"{sheet}: ratings must be one of {', '.join(grades)}: {lines}")
    unknown = set(frame["question_id"] + "/" + frame["slot"]) - set(slots)
    if unknown:
        raise RatingError(f"{sheet}: rows not in {key}: {sorted(unknown)[:5]}")
    frame["variant"] = (frame["question_id"] + "/" + frame["slot"]).map(slots)
    rated = frame[frame["rating"] != ""].copy()
    rated["points"] = rated["rating"].map(grades)
    table = rated.groupby("variant").agg(score=("points", "mean"), rated=("points", "size"))
    counts = pd.crosstab(rated["variant"], rated["rating"]).reindex(columns=list(grades))
    table = table.join(counts.fillna(0).astype(int))
    table["rank"] = table["score"].rank(ascending=False, method="min").astype(int)
    table = table.sort_values("rank")
    return table, {"unrated": float((frame["rating"] == "").sum()), "rows": float(len(frame))}
