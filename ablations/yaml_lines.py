"""Line numbers of keys in a YAML file, so spec errors can point at the offending line."""

from __future__ import annotations

import yaml

Path_ = tuple[str | int, ...]


def key_lines(text: str) -> dict[Path_, int]:
    """{(key, key, index, ...): 1-based line} for every mapping key and sequence item."""
    lines: dict[Path_, int] = {}

    def walk(node: yaml.Node, path: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = (*path, key_node.value)
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def line_of(lines: dict[Path_, int], section: Path_, dotted: str = "") -> int | None:
    """Line of `dotted` (which may be one YAML key 'a.b' or nested keys a: {b:}) in `section`."""
    parts = dotted.split(".") if dotted else []
    best = lines.get(section)
    for split in range(len(parts), 0, -1):  # longest literal key first: 'a.b' before 'a'
        head = (*section, ".".join(parts[:split]))
        if head in lines:
            rest = ".".join(parts[split:])
            return line_of(lines, head, rest) if rest else lines[head]
    return best
