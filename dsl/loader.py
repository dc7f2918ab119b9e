"""Loading mapc source: text or a file (and its imports) to a resolved `Spec`, and a file's one hardware block."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace

from mapc.core.errors import DslError
from mapc.core.hardware import Hardware
from mapc.core.spec import Spec
from mapc.dsl.parser import parse_with_imports, read_source
from mapc.dsl.resolve import resolve


def loads(text: str, file: str = "<string>") -> Spec:
    """Parse `text` (as if read from `file`), follow its imports and resolve everything to a `Spec`."""
    if not isinstance(text, str):
        raise DslError(f"{file}: source must be text")
    spec = resolve(parse_with_imports(text, file), file)
    return replace(spec, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def load(path: str | os.PathLike) -> Spec:
    """Parse the file at `path`, follow its imports and resolve to a `Spec`."""
    if not isinstance(path, (str, os.PathLike)):
        raise DslError(f"expected a file path, got {path!r}")
    p = os.fspath(path)
    return loads(read_source(p), p)


def load_hardware(path: str) -> Hardware:
    """The one hardware block (or `hardware NAME = preset`) of the file at `path` (used by `--hw file.dsl`)."""
    spec = load(path)
    if not spec.hardware_blocks:
        raise DslError(f"{path}: no hardware block", hint="add `hardware NAME { grid ... }` or "
                                                          "`hardware NAME = mcm6x6`")
    if spec.hardware is None:
        raise DslError(f"{path}: several hardware blocks ({', '.join(spec.hardware_blocks)}); keep one per file")
    return spec.hardware
