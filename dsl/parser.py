"""Parsing mapc source text (grammar: `mapc.lark`, full description: `LANGUAGE.md`).

A file holds `import`, `model`, `workload`, `parallel` and `hardware` blocks in any order::

    import "common.dsl"                          # relative to this file; each file is read once
    model chat7b = llama2_7b                     # alias of a zoo model (zoo names also work directly)
    model tiny = transformer(layers=4, hidden=512, heads=8, kv_heads=8, ffn=1376, vocab=32000, dtype=fp16)
    model mine = hf("config.json")               # a local Hugging Face config.json
    model net = cnn { conv c1 in=3 out=16 k=3 stride=1 pad=1 hw=64   pool p1 k=2 stride=2   fc head out=10 }

    workload chat {
      serve llama2_7b                            # flat form: the phases below belong to this model
      prefill batch=4  seq=512..2048             # a range is an even spread, one length per micro-batch
      decode  batch=32 context=1024 steps=1 width=1
      microbatches 8
      serve resnet50 { forward batch=16  microbatches 4 }    # block form (multi-tenant)
      slo ttft 200 ms  tpot 50 ms
    }

    parallel { tensor 2  pipeline auto  data 1  placement block  tp 1d  pd fused  segment 1 }

    hardware mine {
      grid 6 x 6
      chiplet ws_core { pes 32x32  dataflow ws  freq 1 GHz  sram 2 MiB  mac 0.0873 pJ/MAC }
      place ws_core all
      nop mesh { link 100 GB/s  hop 20 ns  energy 1.3 pJ/bit }
      dram hbm { at west, east  bandwidth 256 GB/s  energy 3.9 pJ/bit }
    }
    hardware big = mcm6x6                        # a built-in preset

Comments start with `#` or `//`. Whitespace (newlines included) only separates tokens.

`parse(text, file)` gives Lark's parse tree of one file, `parse_file` its typed syntax tree (`mapc.dsl.syntax`,
built by `mapc.dsl.transform`), and `parse_with_imports(text, file)` the syntax trees of a file and its imports
(`mapc.dsl.resolve` gives them meaning, `mapc.dsl.loader` ties the two together). Every error is a `DslError`
carrying file:line:col, the source line and (for syntax errors) the tokens that were expected.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator
from functools import lru_cache
from types import MappingProxyType

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from mapc.core.errors import DslError, Loc
from mapc.dsl import syntax as S
from mapc.dsl.transform import to_syntax

_SOURCES: dict[str, list[str]] = {}   # file -> its lines, for error messages raised after parsing


def remember_source(file: str, text: str) -> None:
    """Keep `text` so that later (meaning) errors in `file` can show the offending line."""
    _SOURCES[file] = text.splitlines()


def source_line(file: str, line: int) -> str | None:
    """The text of `line` (1-based) of `file` if known."""
    lines = _SOURCES.get(file)
    if lines is None:
        try:
            with open(file, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        _SOURCES[file] = lines
    return lines[line - 1] if 1 <= line <= len(lines) else None


def error_at(message: str, loc: Loc | None, hint: str | None = None) -> DslError:
    """A DslError at `loc` with its source line filled in."""
    return DslError(message, loc=loc, hint=hint, source_line=source_line(loc.file, loc.line) if loc else None)


class _WholeWords:
    """Post-lexer that keeps NAME acceptable in every lexer state, so that a keyword only matches a whole word
    (`pipelines` is an unknown word, not `pipeline` followed by `s`); tokens pass through unchanged."""

    always_accept = ("NAME",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        """The token stream, unchanged."""
        return stream


@lru_cache(maxsize=1)
def _parser() -> Lark:
    """The LALR parser of `mapc.lark`, built once (positions on, None for absent optional parts)."""
    return Lark.open("mapc.lark", rel_to=__file__, parser="lalr", propagate_positions=True,
                     maybe_placeholders=True, postlex=_WholeWords())


_NAMES = MappingProxyType({"NAME": "a name", "NUMBER": "a number", "STRING": "a quoted string",
                           "DIMS": "dimensions like `32x32`", "UNIT": "a unit", "TP_SCHEME": "`1d` or `2d`",
                           "$END": "end of file"})


def _describe_terminal(name: str) -> str:
    """How a hint names terminal `name`: a keyword in backquotes, else a phrase (`a number`)."""
    if name in _NAMES:
        return _NAMES[name]
    try:
        term = _parser().get_terminal(name)
    except (KeyError, AttributeError):
        return name
    if term.pattern.type == "str":
        return f"`{term.pattern.value}`"
    return name.lower()


def _expected(names: Iterable[str]) -> str:
    """The terminals `names` as a hint: keywords first, alphabetically, then the other kinds of token."""
    described = sorted({_describe_terminal(n) for n in names})
    words = [d for d in described if d.startswith("`")]
    other = [d for d in described if not d.startswith("`")]
    return ", ".join(words + other)


def _accepted(e: UnexpectedToken | UnexpectedEOF) -> Iterable[str]:
    """Terminals that could really come next. LALR's `expected` lists every lookahead of the parser state,
    including ones a pending reduction would reject; the interactive parser's `accepts()` tries each."""
    try:
        acc = e.accepts if isinstance(e, UnexpectedToken) else None
    except Exception:           # an interactive parser that cannot replay: fall back to the table's lookaheads
        acc = None
    return acc or e.expected


def _syntax_error(e: UnexpectedInput, file: str, text: str) -> DslError:
    """The located DslError for Lark's syntax error `e` (unexpected end, unknown keyword with a close match,
    unexpected token or character), with the tokens the parser could accept there."""
    lines = text.splitlines()
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        line = max(len(lines), 1)
        col = len(lines[-1]) + 1 if lines else 1
        loc = Loc(file, line, col)
        return error_at("unexpected end of file", loc, hint=f"expected {_expected(_accepted(e))}")
    loc = Loc(file, e.line if e.line and e.line > 0 else 1, e.column if e.column and e.column > 0 else 1)
    if isinstance(e, UnexpectedToken):
        tok = e.token
        accepted = _accepted(e)
        exp = _expected(accepted)
        if tok.type in ("NAME", "UNIT") and any(_describe_terminal(n).startswith("`") for n in accepted):
            words = [d.strip("`") for d in map(_describe_terminal, accepted) if d.startswith("`")]
            close = difflib.get_close_matches(str(tok), words, n=1)
            guess = f" (did you mean `{close[0]}`?)" if close else ""
            return error_at(f"unknown keyword `{tok}`{guess}", loc, hint=f"expected {exp}")
        shown = str(tok) if tok.type != "STRING" else tok
        return error_at(f"unexpected `{shown}`", loc, hint=f"expected {exp}")
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream
        ch = text[pos] if pos is not None and 0 <= pos < len(text) else "?"
        allowed = getattr(e, "allowed", None) or ()
        return error_at(f"unexpected character `{ch}`", loc,
                        hint=f"expected {_expected(allowed)}" if allowed else None)
    return error_at("syntax error", loc)


def parse(text: str, file: str = "<string>") -> Tree:
    """The syntax tree of one file's text (no imports followed). DslError on a syntax error."""
    if not isinstance(text, str):
        raise DslError(f"{file}: source must be text")
    remember_source(file, text)
    try:
        return _parser().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, file, text) from None
    except LarkError as e:   # defensive: any other parser failure is still a located user error
        raise error_at(f"syntax error: {e}", Loc(file, 1, 1)) from None


def read_source(path: str, loc: Loc | None = None) -> str:
    """The UTF-8 text of the file at `path`; a missing, unreadable or non-UTF-8 file is a DslError (at `loc`, the
    import that names it, if any)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise error_at(f"file not found: {path}", loc) from None
    except IsADirectoryError:
        raise error_at(f"not a file: {path}", loc) from None
    except OSError as e:
        raise error_at(f"cannot read {path}: {e.strerror or e}", loc) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, data, e) from None


def _not_utf8(path: str, data: bytes, e: UnicodeDecodeError) -> DslError:
    """An error at the line and column (in characters) of the first byte that is not UTF-8, showing that line."""
    start = data.rfind(b"\n", 0, e.start) + 1
    line = data.count(b"\n", 0, e.start) + 1
    col = len(data[start:e.start].decode("utf-8")) + 1        # the bytes before e.start on this line are valid
    end = data.find(b"\n", e.start)
    text = data[start:end if end >= 0 else len(data)].decode("utf-8", errors="replace").rstrip("\r")
    hint = ("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE`); mapc source files are UTF-8")
    if path.lower().endswith(".onnx"):      # a binary model given where a source file is expected
        hint = (f"{os.path.basename(path)} is an ONNX model, not a mapc source file: import it in one, "
                f"`model m = onnx(\"{path}\", batch=1)` with a `workload` that serves m (dsl/LANGUAGE.md), "
                f"or describe it with `mapc models {path}`")
    return DslError(f"not UTF-8 text: byte 0x{data[e.start]:02X} cannot be decoded", loc=Loc(path, line, col),
                    source_line=text, hint=hint)


def parse_file(text: str, file: str = "<string>") -> S.File:
    """The typed syntax tree (`mapc.dsl.syntax`) of one file's text (no imports followed)."""
    return to_syntax(parse(text, file), file)


def parse_with_imports(text: str, file: str) -> list[tuple[str, S.File]]:
    """(file, syntax tree) for `file` and every file it imports, transitively, imported files first, each once.

    Imports are relative to the importing file (to the working directory for `<string>`). A cycle is an error
    at the import that closes it; a missing file is an error at its import line.
    """
    out: list[tuple[str, S.File]] = []
    done: set[str] = set()

    def key(path: str) -> str:
        """The identity of a file (its real path), so that a file imported twice is read once."""
        return os.path.realpath(path) if not path.startswith("<") else path

    def visit(text: str, file: str, stack: list[str]) -> None:
        """Parse `file`, then its imports depth first (`stack`: the importing chain), then record it."""
        tree = parse_file(text, file)
        stack = stack + [key(file)]
        base = os.path.dirname(file) if not file.startswith("<") else os.getcwd()
        for node in tree.items:
            if isinstance(node, S.Import):
                loc, rel = node.path.loc, node.path.value
                if not rel:
                    raise error_at("empty import path", loc)
                path = os.path.normpath(os.path.join(base, rel))
                k = key(path)
                if k in stack:
                    chain = " -> ".join(os.path.basename(s) for s in stack[stack.index(k):]) + \
                        " -> " + os.path.basename(k)
                    raise error_at(f"import cycle: {chain}", loc)
                if k in done:
                    continue
                visit(read_source(path, loc), path, stack)
        done.add(key(file))
        out.append((file, tree))

    visit(text, file, [])
    return out
