"""The strict YAML reader: YAML 1.2 scalars, every duplicate key, bounded expansion."""

from __future__ import annotations

import pytest

from ablations.sweep.lines import MAX_NODES, parse


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"),  # YAML 1.1: True
        ("off", "off"),  # YAML 1.1: False
        ("0755", 755),  # YAML 1.1: 493 (octal)
        ("0o755", 493),
        ("0x1F", 31),
        ("1:30", "1:30"),  # YAML 1.1: 90 (sexagesimal)
        ("2020-01-01", "2020-01-01"),  # YAML 1.1: a date
        ("1e-3", 0.001),  # YAML 1.1 (PyYAML): the text '1e-3'
        ("true", True),
        ("~", None),
        ("-.5", -0.5),
    ],
)
def test_scalars_are_read_as_yaml_1_2_core(text, value):
    document = parse(f"a: {text}\n")
    assert document.data == {"a": value} and type(document.data["a"]) is type(value)


def test_every_duplicate_key_is_found_with_both_lines_and_merge_keys_are_not_duplicates():
    text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\nbase: &b {x: 1}\nother:\n  <<: *b\n  x: 2\n"
    found = {(f.field, f.line) for f in parse(text).problems}
    assert found == {("a", 5), ("b.c", 4)}
    assert any("lines 1 and 5" in f.message for f in parse(text).problems)


def test_lines_of_an_included_file_name_it():
    document = parse("base:\n  x: 1\n", file="common.yaml")
    assert (
        document.lines[("base", "x")] == 2 and document.lines[("base", "x")].file == "common.yaml"
    )


def test_aliases_are_measured_without_being_expanded():
    width = 8
    levels = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, 7)]
    assert width**6 > MAX_NODES
    [problem] = parse("\n".join(levels)).problems
    assert "more than" in problem.message and problem.line is not None
    assert parse("a: &a [1, 2]\nb: [*a, *a]\n").data == {"a": [1, 2], "b": [[1, 2], [1, 2]]}
