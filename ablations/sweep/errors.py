"""Problems found in a sweep file, reported together before anything runs.

A check says *where* in the file a problem sits (`at`: a place in the YAML, e.g. the section
`("variants", "lynx")` and the field `"model.arch"` in it), never which line: the sweep's
lines are looked up once, at the end (`locate`), so every check is a pure function of what
the file says, and the YAML reading alone knows about lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ablations.sweep.lines import Path_, line_of

Place = tuple[Path_, str]  # (a section's path of keys and indices, a dotted field in it)


def at(section: Iterable[str | int], field: str = "") -> tuple[Place, ...]:
    """One place in the file: `at(("variants", "lynx"), "model.arch")`."""
    return ((tuple(section), field),)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    line: int | None = None
    file: str | None = None  # set when the problem sits in an included file
    at: tuple[Place, ...] = ()  # where it sits; the first place the file has gives its line

    def located(self, lines: dict[Path_, int]) -> Problem:
        """The problem at its line (the first of its places that the file has a line for),
        its places dropped: two problems told at one line are one problem."""
        if not self.at:
            return self
        found = (line_of(lines, section, field) for section, field in self.at)
        line = self.line or next((line for line in found if line is not None), None)
        return replace(self, line=line, at=())

    @property
    def where(self) -> str | None:
        """The file the problem sits in, when it is not the sweep file itself: its own, or
        that of its line (lines of an included file name it)."""
        return self.file or getattr(self.line, "file", None)

    def __str__(self) -> str:
        return self.describe()

    def describe(self, source: str | None = None) -> str:
        """'file: line N, field: message', without the file when it is `source`."""
        where = f"{self.where}: " if self.where and self.where != source else ""
        where += f"line {self.line}, " if self.line else ""
        return f"{where}{self.field}: {self.message}"


def locate(problems: Iterable[Problem], lines: dict[Path_, int]) -> list[Problem]:
    """Every problem at its line in the file whose `lines` (`ablations.sweep.lines`) these are."""
    return [problem.located(lines) for problem in problems]


def first_names(names: list[str]) -> str:
    """The first four names of a list, and '…' if there are more."""
    return f"{', '.join(names[:4])}{' …' if len(names) > 4 else ''}"


class SweepError(ValueError):
    """All problems of one sweep file; raised before any compute is spent. `via` says how
    the file was reached when it is not the one the user named (an include)."""

    def __init__(self, source: str, problems: list[Problem], via: str | None = None):
        self.source = source
        self.problems = problems
        self.via = via
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  - {p.describe(source)}" for p in problems)
        reached = f" ({via})" if via else ""
        super().__init__(f"{source}{reached}: {count}, nothing was run:\n{lines}")

    def __reduce__(self):  # survives pickling (a Ray worker, a process pool)
        return type(self), (self.source, self.problems, self.via)
