"""Which hardware a compile runs on: a preset name, a file with a hardware block, a ZigZag core or Stream
accelerator YAML, a hardware block of the spec, or (no argument) the spec's own block. `resolve_hardware` is the one place this is decided."""

from __future__ import annotations

import os
from pathlib import Path

from mapc.core.errors import HardwareError
from mapc.core.hardware import Hardware
from mapc.core.spec import Spec
from mapc.dsl.loader import load_hardware
from mapc.dsl.stream import yaml_hardware
from mapc.hw import presets


def resolve_hardware(arg: str | Hardware | None, spec: Spec | None = None) -> Hardware:
    """The hardware named by `arg`: a `Hardware` value as is, a preset name (`mcm6x6`), the name of a
    hardware block of `spec`, or a path to a file holding one hardware block; None means the spec's own
    hardware block. Anything else raises `HardwareError` with a hint listing the presets."""
    known = ", ".join(presets.PRESETS)
    if isinstance(arg, Hardware):
        return arg
    if arg is None:
        hw = spec.hardware if spec is not None else None
        if hw is None:
            raise HardwareError("no hardware given: the file has no hardware block and no --hw was passed",
                                hint=f"pass --hw PRESET (one of: {known}) or --hw FILE with a hardware block")
        return hw
    if arg in presets.PRESETS:
        return presets.get(arg)
    blocks = spec.hardware_blocks if spec is not None else {}
    if arg in blocks:
        return blocks[arg]
    p = Path(arg)
    if p.is_file() and p.suffix.lower() in (".yaml", ".yml"):
        return yaml_hardware(str(p))          # a ZigZag core or a Stream accelerator (mapc.dsl.stream)
    if p.is_file():
        return load_hardware(str(p))
    if p.exists():
        raise HardwareError(f"--hw {arg}: is a directory, not a preset or a file", hint=f"known presets: {known}")
    if os.sep in arg or "." in Path(arg).name:
        raise HardwareError(f"hardware file not found: {arg}", hint=f"or use a preset: {known}")
    return presets.get(arg)          # raises HardwareError with a close-match hint
