"""Errors a user can cause. The CLI prints them and exits non-zero; they never surface as tracebacks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """A position in a source file (1-based line and column)."""

    file: str
    line: int
    col: int


class MapcError(Exception):
    """Base class of every error mapc reports to a user. Exit code 2 unless a subclass says otherwise."""

    exit_code = 2

    def __init__(self, message: str, loc: Loc | None = None, hint: str | None = None, source_line: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint
        self.source_line = source_line

    def render(self) -> str:
        """`file:line:col: error: message`, the offending line, a caret under the column, then the hint."""
        out = []
        if self.loc is not None:
            out.append(f"{self.loc.file}:{self.loc.line}:{self.loc.col}: error: {self.message}")
            if self.source_line is not None:
                out.append("    " + self.source_line.rstrip("\n"))
                out.append("    " + " " * (max(self.loc.col, 1) - 1) + "^")
        else:
            out.append(f"error: {self.message}")
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)


class DslError(MapcError):
    """A syntax or meaning error in a mapc source file."""


class HardwareError(MapcError):
    """An unknown preset or an invalid hardware description."""


class InfeasibleError(MapcError):
    """No schedule exists; the message names the constraint and the numbers."""

    exit_code = 3


class NoSolutionError(MapcError):
    """The solver found no schedule within its budget (the problem may still be feasible)."""

    exit_code = 4
