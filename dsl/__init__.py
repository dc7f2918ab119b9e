"""The mapc language: grammar, parser, resolver from text to `Spec`, model zoo, units.

Public API: `load(path)`, `loads(text, file)`, `load_hardware(path)`, `validate(spec, hw)`, and the modules
`zoo` (built-in models) and `hfconfig` (Hugging Face config.json). See dsl/LANGUAGE.md for the language.
"""

from mapc.dsl.parser import load, loads
from mapc.dsl.resolve import load_hardware, validate

__all__ = ["load", "loads", "load_hardware", "validate"]
