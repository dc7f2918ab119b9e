"""Energy figures of a core type that may be left out of its description, resolved from the constant table:
register file and accumulator per byte, buffer writes per byte (`mapc.hw.constants` cites each)."""

from __future__ import annotations

from mapc.core.hardware import ChipletType
from mapc.hw import constants as K


def rf_energy(t: ChipletType) -> float:
    """J per register-file byte of a core type (its `rf_energy`, else from its MAC energy)."""
    return t.rf_energy if t.rf_energy is not None else K.rf_energy_per_byte(t.mac_energy)


def acc_energy(t: ChipletType) -> float:
    """J per accumulator-register byte of a core type (its `acc_energy`, else its register-file energy)."""
    return t.acc_energy if t.acc_energy is not None else rf_energy(t)


def sram_write_energy(t: ChipletType) -> float:
    """J per byte written to a core type's buffer (its `sram_write_energy`, else Gemini's write/read ratio)."""
    return t.sram_write_energy if t.sram_write_energy is not None else t.sram_energy * K.SRAM_WRITE_VS_READ
