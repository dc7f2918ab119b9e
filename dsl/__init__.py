"""The mapc language: grammar, parser, resolver from text to `Spec`, model zoo, hardware references.

Public API: `load(path)`, `loads(text, file)`, `load_hardware(path)`, `resolve_hardware(arg, spec)`,
`validate(spec, hw)`, and the modules `zoo` (built-in models) and `hfconfig` (Hugging Face config.json). See
dsl/LANGUAGE.md for the language.
"""

from mapc.dsl.hwref import resolve_hardware
from mapc.dsl.loader import load, load_hardware, loads
from mapc.dsl.resolve import validate

__all__ = ["load", "loads", "load_hardware", "resolve_hardware", "validate"]
