"""A JSON list read an item at a time: the same values `json.loads` gives, each at the byte
span and line it occupies, whatever the chunk boundaries cut through."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lynx_core.data.files import json_array
from lynx_core.data.files.json_array import JsonArrayError, array_items

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(values, max_size=12),
    indent=st.sampled_from([None, 1, 4]),
    chunk=st.integers(1, 64),
    ascii_only=st.booleans(),
    bom=st.booleans(),
)
def test_items_are_what_json_loads_gives_at_their_byte_spans(
    tmp_path_factory, rows, indent, chunk, ascii_only, bom
):
    """Any chunk size: a chunk may cut a number (1.|5), a multi-byte character or a
    byte-order mark."""
    file = tmp_path_factory.mktemp("json") / "rows.json"
    text = json.dumps(rows, indent=indent, ensure_ascii=ascii_only)
    file.write_text("\ufeff" * bom + text, encoding="utf-8")
    raw = file.read_bytes()
    items = list(array_items(file, chunk))
    assert [item.value for item in items] == rows
    assert [item.number for item in items] == list(range(1, len(rows) + 1))
    for item in items:
        assert json.loads(raw[item.offset : item.offset + item.length]) == item.value
        assert item.line == raw[: item.offset].count(b"\n") + 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1}', "line 1: the file is not a JSON list"),
        ("", "line 1: the file is empty"),
        ("[1,\n2,\n{oops}]", "line 3: item 3 is not valid JSON"),
        ("[1,\n2,]", "line 2: item 3 is not valid JSON"),
        ("[1\n2]", "line 2: expected ',' or ']' after item 1"),
        ("[1, 2", "after item 2, found 'the end of the file'"),
        ("[1]\n[2]", "line 2: text after the list's closing ']'"),
    ],
)
def test_a_file_that_is_not_one_json_list_is_told_with_its_line(tmp_path, text, message):
    file = tmp_path / "bad.json"
    file.write_text(text)
    with pytest.raises(JsonArrayError, match=message.replace("[", r"\[").replace("]", r"\]")):
        list(array_items(file))


def test_memory_holds_a_chunk_and_an_item_not_the_list(tmp_path, monkeypatch):
    """The reader's text never grows past a chunk and the item being read."""
    file = tmp_path / "rows.json"
    file.write_text(json.dumps([{"caption": "x" * 50, "id": i} for i in range(2000)]))
    sizes = []
    fill = json_array._Reader.fill

    def measured(self):
        more = fill(self)
        sizes.append(len(self.text))
        return more

    monkeypatch.setattr(json_array._Reader, "fill", measured)
    assert sum(1 for _ in array_items(file, chunk=256)) == 2000
    assert file.stat().st_size > 100 * 256 and max(sizes) <= 256 + 80


@settings(max_examples=150, deadline=None)
@given(
    members=st.dictionaries(st.text(max_size=6), values, max_size=6),
    indent=st.sampled_from([None, 1, 4]),
    chunk=st.integers(1, 64),
)
def test_object_members_give_list_items_one_by_one_and_other_values_whole(
    tmp_path_factory, members, indent, chunk
):
    file = tmp_path_factory.mktemp("json") / "object.json"
    file.write_text(json.dumps(members, indent=indent), encoding="utf-8")
    raw = file.read_bytes()
    expected = [
        (key, v)
        for key, value in members.items()
        for v in (value if isinstance(value, list) else [value])
    ]
    found = list(json_array.object_members(file, chunk))
    assert [(key, item.value) for key, item in found] == expected
    for _, item in found:
        assert json.loads(raw[item.offset : item.offset + item.length]) == item.value
        assert item.line == raw[: item.offset].count(b"\n") + 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "line 1: the file is not a JSON object"),
        ('{"a": [1,\n2 3]}', "line 2: expected ',' or ']' after item 2 of 'a'"),
        ('{"a": 1\n"b": 2}', "line 2: expected ',' or '}' after member 'a'"),
        ("{1: 2}", "line 1: member 1 is not a"),
        ('{"a": []} x', "line 1: text after the object's closing '}'"),
    ],
)
def test_a_file_that_is_not_one_object_is_refused_at_its_line(tmp_path, text, message):
    file = tmp_path / "object.json"
    file.write_text(text)
    with pytest.raises(JsonArrayError, match=message.replace("(", r"\(").replace("[", r"\[")):
        list(json_array.object_members(file))
