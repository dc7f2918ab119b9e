"""Errors a user can cause, one hierarchy with one exit code each: input 2 (`DslError`, `HardwareError`, plain
`MapcError`), infeasible 3 (`InfeasibleError`: every memory overflow, every impossible constraint), no schedule in
the budget 4 (`NoSolutionError`); 70 is a bug (`InvalidScheduleError`). The CLI prints them and exits with the
code; they never surface as tracebacks."""

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

    def __init__(self, message: str, loc: Loc | None = None, hint: str | None = None, source_line: str | None = None) -> None:
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


class InvalidScheduleError(MapcError):
    """A solver returned a schedule that the independent checker rejects (a bug; nothing is written)."""

    exit_code = 70


# The documented exit codes of the command line (README, `mapc --help`).
EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 2, 3, 4, 70, 130
