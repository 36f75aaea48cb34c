"""Problems carry their place in the sweep file; its line is looked up once, at the end.

The checks are pure functions of what the file says (no line table goes into them), so a new
check needs no line bookkeeping: it names the section and field, and the user still reads
the line to fix.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import ablations.sweep.checks as shape_checks
import ablations.sweep.expand as expand
import ablations.sweep.named_checks as named_checks
import ablations.sweep.variant_checks as variant_checks
from ablations.sweep.errors import Problem, at, locate
from ablations.sweep.lines import parse
from ablations.sweep.spec import SweepError, load_sweep
from ablations.sweep.variant_checks import VARIANT_CHECKS, VariantCheck

SWEEP = """\
name: sweep
seeds: [0]
base:
  model.arch: prefix
variants:
  plain: {}
  wide:
    model.resampler.num_queries: 16
"""


def _sweep(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    return path


@pytest.mark.parametrize("module", [shape_checks, named_checks, expand, variant_checks])
def test_no_check_takes_the_files_lines(module):
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if function.__module__ == module.__name__:
            assert "lines" not in inspect.signature(function).parameters, name


def test_a_place_becomes_the_line_that_wrote_it_whichever_way_the_file_spells_it():
    lines = parse("base:\n  model:\n    arch: prefix\nvariants:\n  a:\n    model.arch: x\n").lines
    nested = Problem("base.model.arch", "bad", at=at(("base",), "model.arch"))
    dotted = Problem("variants.a.model.arch", "bad", at=at(("variants", "a"), "model.arch"))
    missing = Problem("base.train.lr", "bad", at=at(("base",), "train.lr"))  # falls back
    assert [p.line for p in locate([nested, dotted, missing], lines)] == [3, 6, 1]
    assert all(p.at == () for p in locate([nested], lines))  # located: one problem per line


def test_the_first_place_the_file_has_gives_the_line():
    lines = parse("resources:\n  gpus: 1\n").lines
    problem = Problem("x", "bad", at=(*at(("resources", "stage1")), *at(("resources", "gpus"))))
    assert problem.located(lines).line == 2


def test_a_check_added_to_the_registry_is_told_at_the_line_of_its_place(tmp_path, monkeypatch):
    def too_many_queries(expanded) -> list[Problem]:
        return [
            Problem(f"variants.{name}.model.resampler.num_queries", "too many", at=at(where, f))
            for name, overrides, where in expanded.named
            for f in overrides
            if f == "model.resampler.num_queries"
        ]

    monkeypatch.setitem(VARIANT_CHECKS, "queries", VariantCheck(too_many_queries))
    with pytest.raises(SweepError) as err:
        load_sweep(_sweep(tmp_path), check_paths=False)
    [problem] = err.value.problems
    assert (problem.line, problem.message) == (8, "too many")
    assert "line 8, variants.wide.model.resampler.num_queries: too many" in str(err.value)


def test_local_and_last_checks_run_only_where_they_apply(tmp_path, monkeypatch):
    ran: list[str] = []

    def recorder(name: str, found: bool):
        def check(expanded) -> list[Problem]:
            ran.append(name)
            return [Problem(name, "found", at=at(("base",)))] if found else []

        return check

    monkeypatch.setattr(
        variant_checks,
        "VARIANT_CHECKS",
        {
            "finds": VariantCheck(recorder("finds", True)),
            "local": VariantCheck(recorder("local", False), local=True),
            "last": VariantCheck(recorder("last", False), last=True),
        },
    )
    with pytest.raises(SweepError):
        load_sweep(_sweep(tmp_path), check_paths=False)
    assert ran == ["finds"]  # no local check without paths; no last one after a problem
