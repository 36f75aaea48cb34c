"""Problems found in a sweep file, reported together before anything runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    line: int | None = None
    file: str | None = None  # set when the problem sits in an included file

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        where += f"line {self.line}, " if self.line else ""
        return f"{where}{self.field}: {self.message}"


class SweepError(ValueError):
    """All problems of one sweep file; raised before any compute is spent."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {count}, nothing was run:\n{lines}")
