"""Problems found in a sweep file, reported together before anything runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    line: int | None = None
    file: str | None = None  # set when the problem sits in an included file

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
