"""The `Hardware` value: a grid of chiplets on a network-on-package (NoP), DRAM channels and PIM units.

SI units throughout: bytes, bytes/s, seconds, hertz, joules, watts. Chiplet ids are row-major on the grid
(`id = y * cols + x`). Routes are dimension-ordered (XY) on meshes and shortest paths on other topologies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import networkx as nx
import numpy as np

Dataflow = Literal["ws", "os", "is", "rs"]
PackageEdge = Literal["west", "east", "north", "south"]   # the side of the package a DRAM channel sits on


@dataclass(frozen=True)
class ChipletType:
    """One kind of chiplet (or NPU core): a PE array with a dataflow, SRAM and energy figures."""

    name: str
    pe_rows: int
    pe_cols: int
    dataflow: Dataflow
    freq: float                  # Hz
    sram: float                  # bytes of on-chiplet global buffer
    mac_energy: float            # J per MAC at `precision`
    sram_energy: float           # J per byte read or written in the global buffer
    static_power: float          # W while powered (leakage + clock)
    precision: str = "fp16"
    sram_bw: float | None = None  # bytes/s from global buffer to the array; None = not the bottleneck
    rf: float | None = None       # register-file bytes per PE; None = the cost model's default (Eyeriss-class)
    rf_energy: float | None = None          # J per register-file byte; None = derived from mac_energy
    acc_energy: float | None = None         # J per accumulator-register byte (partial sums); None = rf_energy
    sram_write_energy: float | None = None  # J per byte written to the global buffer; None = from sram_energy
    accumulate: str = ""          # precision of partial sums ("" = the default for `precision`, e.g. fp32)
    unroll: str = "im2col"        # convolution reduction on the rows: im2col (Cin x kh x kw) or channels (Cin)
    vector: int = 0               # lanes of the vector datapath (norms, softmax, ...); 0 = the array's columns
    arrays: int = 1               # identical PE arrays sharing the buffer (TPU v4: 4 MXUs; an A100 SM: 4 tensor cores)
    area: float | None = None     # m^2 of silicon per chiplet, for `mapc explore`'s area objective; None = the
                                  # Gemini-constant proxy of mapc.hw.variants.area_of

    @property
    def macs_per_cycle(self) -> int:
        return self.pe_rows * self.pe_cols * self.arrays

    @property
    def peak_flops(self) -> float:
        """FLOP/s (2 FLOPs per MAC)."""
        return 2.0 * self.macs_per_cycle * self.freq


@dataclass(frozen=True)
class Chiplet:
    id: int
    x: int                       # column
    y: int                       # row
    type: ChipletType


@dataclass(frozen=True)
class NoP:
    """Network-on-package: topology plus per-link figures."""

    topology: Literal["mesh", "torus", "ring"] = "mesh"
    link_bw: float = 100e9       # bytes/s per direction per link (Simba-class; constants.TABLE["nop_link_bw_mcm"])
    hop_latency: float = 20e-9   # s per router hop (Simba MICRO 2019; constants.TABLE["nop_hop_latency"])
    energy_per_bit: float = 1.3e-12  # J per bit per hop (Simba GRS mid-range; constants.TABLE["nop_mcm_per_bit"])


@dataclass(frozen=True)
class DramChannel:
    """A DRAM/HBM channel (or stack) attached to the chiplets on one package edge."""

    name: str
    edge: PackageEdge
    bandwidth: float             # bytes/s
    energy_per_bit: float        # J/bit
    capacity: float = 16 * 2**30  # bytes (one HBM stack, AttAcc config.py; constants.TABLE["hbm3_stack_capacity"])
    attach: tuple[int, ...] = ()  # chiplet ids that sit next to the channel's PHY


@dataclass(frozen=True)
class PimUnit:
    """A processing-in-memory unit (e.g. HBM-PIM with bank-level compute) next to some chiplets."""

    name: str
    bandwidth: float             # bytes/s internal (bank-level) bandwidth
    peak_flops: float            # FLOP/s of its compute units
    energy_per_bit: float        # J/bit of an internal access
    mac_energy: float            # J per MAC
    capacity: float              # bytes
    attach: tuple[int, ...] = ()


@dataclass(frozen=True)
class Hardware:
    name: str
    rows: int
    cols: int
    chiplets: tuple[Chiplet, ...]
    nop: NoP
    dram: tuple[DramChannel, ...]
    pim: tuple[PimUnit, ...] = ()
    sources: tuple[str, ...] = field(default=(), compare=False)  # citations of the numbers used
    notes: tuple[str, ...] = field(default=(), compare=False)    # what an importer assumed (ZigZag / Stream YAML)

    @property
    def n(self) -> int:
        return len(self.chiplets)

    @cached_property
    def graph(self) -> nx.Graph:
        """NoP graph: nodes are chiplet ids with `pos=(x, y)`, edges are links."""
        g = nx.Graph()
        for c in self.chiplets:
            g.add_node(c.id, pos=(c.x, c.y))
        at = {(c.x, c.y): c.id for c in self.chiplets}
        for c in self.chiplets:
            for dx, dy in ((1, 0), (0, 1)):
                nx_, ny_ = c.x + dx, c.y + dy
                if self.nop.topology == "torus":
                    nx_, ny_ = nx_ % self.cols, ny_ % self.rows
                if (nx_, ny_) in at and at[(nx_, ny_)] != c.id:
                    g.add_edge(c.id, at[(nx_, ny_)])
        if self.nop.topology == "ring":
            g = nx.cycle_graph(self.n)
            nx.set_node_attributes(g, {c.id: (c.x, c.y) for c in self.chiplets}, "pos")
        return g

    @cached_property
    def hops(self) -> np.ndarray:
        """hops[i, j]: router hops on the route from chiplet i to chiplet j."""
        h = np.zeros((self.n, self.n), dtype=np.int64)
        for i, d in nx.all_pairs_shortest_path_length(self.graph):
            for j, v in d.items():
                h[i, j] = v
        return h

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        """Chiplet ids visited from src to dst inclusive: XY (column first, then row) on meshes."""
        if src == dst:
            return (src,)
        if self.nop.topology != "mesh":
            return tuple(nx.shortest_path(self.graph, src, dst))
        a, b = self.chiplets[src], self.chiplets[dst]
        path = [src]
        x, y = a.x, a.y
        while x != b.x:
            x += 1 if b.x > x else -1
            path.append(y * self.cols + x)
        while y != b.y:
            y += 1 if b.y > y else -1
            path.append(y * self.cols + x)
        return tuple(path)

    @cached_property
    def dram_hops(self) -> np.ndarray:
        """dram_hops[i]: hops from chiplet i to the nearest DRAM-attached chiplet (0 if attached)."""
        attached = sorted({a for ch in self.dram for a in ch.attach})
        if not attached:
            return np.zeros(self.n, dtype=np.int64)
        return self.hops[:, attached].min(axis=1)

    @property
    def dram_bandwidth(self) -> float:
        """Aggregate DRAM bandwidth of the package, bytes/s."""
        return float(sum(ch.bandwidth for ch in self.dram))

    @property
    def peak_flops(self) -> float:
        return float(sum(c.type.peak_flops for c in self.chiplets))
