"""The mapc language: grammar, parser, typed syntax tree, resolver from text to `Spec`, model zoo, hardware
references.

Public API: `load(path)`, `loads(text, file)`, `load_hardware(path)`, `resolve_hardware(arg, spec)`,
`validate(spec, hw)`, and the modules `zoo` (built-in models) and `hfconfig` (Hugging Face config.json). See
dsl/LANGUAGE.md for the language.

One pipeline, one job per module: `parser` (text -> Lark tree, syntax errors, imports) -> `transform` (Lark
tree -> `syntax` nodes) -> `resolve` (definitions of all files -> `Spec`, calling `values`, `models`,
`workload`, `parallel` and `hardware_block`); `validate` checks a `Spec` against a hardware; `loader` ties
parsing and resolution together.
"""

from mapc.dsl.hwref import resolve_hardware
from mapc.dsl.loader import load, load_hardware, loads
from mapc.dsl.validate import validate

__all__ = ["load", "loads", "load_hardware", "resolve_hardware", "validate"]
