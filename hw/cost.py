"""The cost backend: latency and energy of a task on a placement, and of a transfer on a route (SI units).

A placement is a group of k chiplets (`group_tiles`); a task placed there is split k ways (1-D tensor
parallelism). Per operator and member chiplet:

* Compute (`mapc.hw.dataflow`): GEMM-like operators (gemm, moe_gemm, conv, attn_score, attn_value) are tiled
  onto the member's PE array by its dataflow (ws / os / rs; the stationary operand is double-buffered, so a
  tile's reload hides behind the previous tile's stream, and fill/drain is paid once per operator: a decode
  GEMV is paced by the R-cycle weight reload, i.e. C weights per cycle, which on the NPU presets is faster than
  the core's HBM share, so fp16 decode is DRAM-bound). The split is along
  `count` (heads, experts, groups) when count >= k, else along N (column-parallel). Non-GEMM operators run on a
  C-lane vector datapath with flops / k each. If the chiplet type gives `sram_bw`, the buffer traffic of the
  dataflow also bounds the time (`max(cycles / f, traffic / sram_bw)`). A mixed group (e.g. a 2x2 block across
  the ws/os boundary) runs at the pace of its slowest member.
* DRAM bytes: KV cache read and written (attention's second operand is the KV cache, never weights), weights
  when streamed (not resident), and activation spills: an operator whose per-member activations (in + out) / k
  exceed the part of SRAM not reserved for weights (`1 - weight_fraction`) writes and reads them through DRAM.
* Memory time = DRAM bytes / (group DRAM bandwidth, see "DRAM model") + the round trip from the farthest
  member to its nearest DRAM-attached chiplet (2 x hops x hop latency); latency = max(compute, memory) +
  collective (roofline overlap inside the task; the collective is not overlapped).
* Collective: every split GEMM-like operator except attn_score (whose output stays with its heads) is followed
  by a ring all-gather of its output over the group in placement order (member i sends to member i+1, the last
  to the first, each over its XY route). With B output bytes, k members, Hmax the longest ring hop count,
  S the sum of the ring hop counts and L the largest number of ring routes sharing one directed link:
      time   = (k - 1) * (Hmax * hop_latency + (B / k) * L / link_bw)
      energy = (k - 1) * (B / k) * 8 * S * energy_per_bit
  so a spread-out group pays for its diameter in time and for its total route length in energy.
* Energy (dynamic only; the package's static power x makespan is added by `solvers.base.energy_of`):
  MACs x MAC energy of each member's type; buffer traffic (dataflow reuse) + DRAM bytes (written into the
  buffer once) x SRAM energy per byte; DRAM bits x DRAM pJ/bit; DRAM bits x NoP pJ/bit x the members' mean hop
  count to the nearest DRAM-attached chiplet; collective energy.

PIM (`mapc.hw.pim`, on hardware with PIM units only; elsewhere nothing here runs and prices are unchanged):
a task's PIM-capable kernels (qkv, attention, out_proj, ffn, moe, lm_head, fc) may run on the package's
HBM-PIM instead of the member chiplets. Its PIM time is the roofline on the whole package's PIM (a shared resource
of the schedule, like the DRAM channels: `mapc.hw.pim`). `pim="auto"` (default) sends a kernel to PIM on a
placement of k chiplets when its PIM time on k/n of the package (what it gets when every chiplet's tasks use PIM
at once: a throughput criterion, so that e.g. prefill GEMMs, faster on all of PIM than on one core but not on
1/n of it, stay on the cores) beats its own time on the chiplets (max(compute, DRAM) + its collective), decided
separately for resident and streamed weights; `pim="off"` never, `pim="all"` always; a set of class names or a
callable `task -> class names` fixes the choice (a dispatch policy). Then
    latency = max(compute, memory) of the rest + collective of the rest + sum of the PIM kernels' times,
the PIM kernels' external bytes count as DRAM bytes, their internal traffic (`pim_bytes`) and FLOPs (`pim_flops`)
are what they draw from the PIM units (`mapc.hw.dram_resources`), and their bank and ALU energy go to `e_pim`.

DRAM model (channels are shared resources of the schedule, not pre-divided; decided in issue 13): a placement
draws its DRAM bytes from its members' nearest channels (`dram_frac`, each member 1/k of the bytes, split evenly
over its nearest channels, recorded per task as `dram_channels` in schedule.json) and can stream them at most at
its peak `group_dram_bw` = what its chiplets and NoP routes can take with those channels to itself
(`mapc.hw.placement.dram_channel_split`: channel bandwidths and the NoP links on the members' routes from the
attach chiplets). The tables price every task at that peak, the fastest it can run. Whether it gets the
bandwidth is the schedule's business: a task with D bytes and duration d draws D x frac / d from each of its
channels for its whole run, and at every instant the draws on a channel sum to at most its bandwidth (so the
package total to at most the aggregate; d may exceed the table latency when the schedule streams a task below
its peak, `mapc.hw.bandwidth`). The list scheduler (`mapc.solvers.channels`) and CP-SAT (a cumulative
per channel) schedule that, `mapc.compiler.check` verifies it by a sweep over start/end events, and the DRAM
lower bound (bytes / aggregate bandwidth, and per channel where every placement forces bytes onto it) follows
from it for every valid schedule. `dram_share` (aggregate / n) is only the fair share `dram_link_factors`
scales (the old static model, kept for reference in `mapc.hw.placement`).

Weights are either resident (kept in the placement's SRAM, each member holding 1/k of them, loaded once before
the scheduled window as in steady-state serving) or streamed from DRAM on every execution.

Tables are computed once per distinct operator tuple (tasks of different micro-batches with the same shapes
share them), per chiplet type and group size, so pricing 10,000 tasks x 63 placements (mcm6x6) takes milliseconds.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from mapc.core.graph import ExecutionGraph
from mapc.core.errors import MapcError
from mapc.hw import pim as pimk
from mapc.hw import tp as tpm
from mapc.hw.pim import check_classes, check_pim_mode
from mapc.hw.placement import check_regions, dram_channel_split, group_tiles
from mapc.hw.pricing import GEMM_KINDS, TABLES as _TABLES, OpArrays, combine as _combine, op_quantities
from mapc.core.hardware import Hardware

WEIGHT_FRACTION = 0.75   # share of SRAM usable for resident weights; the rest double-buffers activations/KV tiles
                         # (a mapc modelling assumption, not a published figure)

BREAKDOWN_KEYS = ("compute", "array", "vector", "sram_time", "memory", "collective", "dram_bytes", "sram_bytes",
                  "rf_bytes", "e_mac", "e_rf", "e_sram", "e_dram", "e_nop", "pim", "pim_bytes", "e_pim", "pim_flops")


@dataclass(frozen=True)
class TaskCost:
    latency: float
    energy: float
    breakdown: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TransferCost:
    latency: float
    energy: float
    route: tuple[int, ...]


class CostModel:
    """Prices every task of `graph` on every candidate placement of `hw`, as NumPy tables.

    Tables (shape [n_tasks, n_placements], np.inf where a choice is impossible):
      lat_resident, energy_resident: weights kept in SRAM (inf when the per-chiplet share exceeds capacity)
      lat_stream, energy_stream:     weights streamed from DRAM (inf when streaming is disabled)
    Per placement: `placements[p]` (chiplet ids, ring order), `lead[p]`, `group_size[p]`, `members[p, c]`.
    PIM dispatch (`pim`, see the module docstring): `pim_offload(resident)` gives the [n_tasks, P, classes]
    choice, `pim_classes` names the classes (`mapc.hw.pim.CLASSES`).
    """

    def __init__(self, hw: Hardware, graph: ExecutionGraph, *, group_sizes: tuple[int, ...] = (1, 2, 4),
                 placement_policy: str | tuple[str, ...] = "block", allow_streaming: bool = True,
                 weight_fraction: float = WEIGHT_FRACTION, pim="auto", tp_scheme: str = "gather",
                 regions: dict | None = None):
        self.hw = hw
        if tp_scheme not in tpm.SCHEMES:
            raise MapcError(f"unknown tensor-parallel scheme {tp_scheme!r}", hint="use one of: " + ", ".join(tpm.SCHEMES))
        self.tp_scheme = tp_scheme
        self.regions = check_regions(hw, regions)
        self.pim_mode = check_pim_mode(pim)
        self.graph = graph
        self.allow_streaming = allow_streaming
        self.weight_fraction = weight_fraction
        pls: dict[tuple[int, ...], None] = {}   # insertion-ordered set
        policies = (placement_policy,) if isinstance(placement_policy, str) else tuple(placement_policy)
        for k in sorted(set(group_sizes)):
            if 1 <= k <= hw.n:
                for pol in policies:          # several policies: the union, first occurrence kept
                    pls.update((g, None) for g in group_tiles(hw, k, pol))
        self.placements: tuple[tuple[int, ...], ...] = tuple(pls)
        P = len(self.placements)
        self.lead = np.array([p[0] for p in self.placements], dtype=np.int64)
        self.group_size = np.array([len(p) for p in self.placements], dtype=np.int64)
        self.members = np.zeros((P, hw.n), dtype=bool)
        for i, p in enumerate(self.placements):
            self.members[i, list(p)] = True
        self.weight_capacity = np.array([c.type.sram * weight_fraction for c in hw.chiplets])
        self.static_power = float(sum(c.type.static_power for c in hw.chiplets))
        self._price()

    # ---- transfers -------------------------------------------------------------------------------------
    def transfer_cost(self, nbytes: float, src: int, dst: int) -> TransferCost:
        """XY route, per-hop latency and energy, serialisation at link bandwidth."""
        if src == dst or nbytes <= 0:
            return TransferCost(0.0, 0.0, (src,))
        route = self.hw.route(src, dst)
        hops = len(route) - 1
        nop = self.hw.nop
        return TransferCost(hops * nop.hop_latency + nbytes / nop.link_bw,
                            nbytes * 8 * nop.energy_per_bit * hops, route)

    def transfer_time(self, nbytes, src, dst) -> np.ndarray:
        """Vectorised transfer latency between chiplet arrays src and dst (0 where equal)."""
        nbytes = np.asarray(nbytes, dtype=np.float64)
        h = self.hw.hops[np.asarray(src), np.asarray(dst)]
        nop = self.hw.nop
        return np.where(h > 0, h * nop.hop_latency + nbytes / nop.link_bw, 0.0)

    def transfer_energy(self, nbytes, src, dst) -> np.ndarray:
        """Vectorised transfer energy: bits x hops x NoP energy per bit."""
        h = self.hw.hops[np.asarray(src), np.asarray(dst)]
        return np.asarray(nbytes, dtype=np.float64) * 8 * self.hw.nop.energy_per_bit * h

    # ---- tasks -----------------------------------------------------------------------------------------
    def task_cost(self, task: int, p: int, resident: bool) -> TaskCost:
        lat = (self.lat_resident if resident else self.lat_stream)[task, p]
        en = (self.energy_resident if resident else self.energy_stream)[task, p]
        u = self._task_u[task]
        bd = {k: float(v[u, p]) for k, v in (self._ubd_res if resident else self._ubd_str).items()}
        return TaskCost(float(lat), float(en), bd)

    def task_latency(self, placement_index, resident) -> np.ndarray:
        """[n_tasks] latency of each task on its placement with its residency (s)."""
        rows = np.arange(self.graph.n)
        pi = np.asarray(placement_index, dtype=np.int64)
        return np.where(np.asarray(resident, dtype=bool), self.lat_resident[rows, pi], self.lat_stream[rows, pi])

    def task_energy(self, placement_index, resident) -> np.ndarray:
        """[n_tasks] dynamic energy of each task on its placement with its residency (J)."""
        rows = np.arange(self.graph.n)
        pi = np.asarray(placement_index, dtype=np.int64)
        return np.where(np.asarray(resident, dtype=bool), self.energy_resident[rows, pi],
                        self.energy_stream[rows, pi])

    def breakdown(self, resident: bool) -> dict[str, np.ndarray]:
        """[n_tasks, P] arrays per component: compute/memory/collective (s), dram_bytes/sram_bytes (B), e_* (J)."""
        key = "_bd_res" if resident else "_bd_str"
        if key not in self.__dict__:
            src = self._ubd_res if resident else self._ubd_str
            self.__dict__[key] = {k: v[self._task_u] for k, v in src.items()}
        return self.__dict__[key]

    def part_at(self, key: str, resident: np.ndarray, placement_index: np.ndarray) -> np.ndarray:
        """[n_tasks] component `key` of `breakdown` at each task's placement and residency, gathered from the
        per-distinct-task tables without building the [n_tasks, P] ones (a 32,768-task schedule would need
        hundreds of MB for them); zeros when this model has no such component."""
        if key not in self._ubd_res or key not in self._ubd_str:
            return np.zeros(self.graph.n)
        u, pi = self._task_u, np.asarray(placement_index, dtype=np.int64)
        return np.where(np.asarray(resident, dtype=bool), self._ubd_res[key][u, pi], self._ubd_str[key][u, pi])

    def table(self, key: str, resident: bool) -> np.ndarray:
        """[n_tasks, P] breakdown component `key` with one residency (only that one key's table is built)."""
        return (self._ubd_res if resident else self._ubd_str)[key][self._task_u]

    def dram_bytes(self, resident: bool) -> np.ndarray:
        """[n_tasks, P] bytes each task moves to/from DRAM on each placement (KV, streamed weights, spills)."""
        return self.table("dram_bytes", resident)

    @cached_property
    def weight_share(self) -> np.ndarray:
        """[n_tasks, P] bytes of weights each member chiplet holds when the task is resident there."""
        return self.graph.held_weight_bytes[:, None] / self.group_size[None, :]

    @cached_property
    def min_latency(self) -> np.ndarray:
        """[n_tasks] the fastest any placement and residency can run each task."""
        return np.minimum(self.lat_resident, self.lat_stream).min(axis=1)

    @cached_property
    def dram_share(self) -> float:
        """Bytes/s of DRAM bandwidth each chiplet may use (static share, see the module docstring); capped by one
        NoP link on a package of several chiplets (a lone chiplet takes its DRAM from the PHY, no link between)."""
        hw = self.hw
        if not hw.dram:
            return 0.0
        return hw.dram_bandwidth / hw.n if hw.n == 1 else min(hw.dram_bandwidth / hw.n, hw.nop.link_bw)

    @cached_property
    def _dram_split(self) -> tuple[np.ndarray, np.ndarray]:
        return dram_channel_split(self.hw, self.placements)

    @property
    def dram_frac(self) -> np.ndarray:
        """[P, channels] fraction of a task's DRAM bytes each channel serves on each placement (rows sum to 1)."""
        return self._dram_split[0]

    @cached_property
    def chiplet_dram_bw(self) -> np.ndarray:
        """[n] bytes/s each chiplet alone streams at its peak (its nearest channels and NoP route to itself)."""
        return dram_channel_split(self.hw, [(c,) for c in range(self.hw.n)])[1]

    @property
    def group_dram_bw(self) -> np.ndarray:
        """[P] peak bytes/s a placement streams with its channels to itself (`dram_channel_split`)."""
        return self._dram_split[1]

    def channel_bytes(self, placement_index: npt.ArrayLike, resident: npt.ArrayLike) -> np.ndarray:
        """[n_tasks, channels] DRAM bytes each task moves through each channel at its placement and residency."""
        pi = np.asarray(placement_index, dtype=np.int64)
        return self.part_at("dram_bytes", np.asarray(resident, dtype=bool), pi)[:, None] * self.dram_frac[pi]

    @cached_property
    def dram_latency(self) -> np.ndarray:
        """[P] s of the round trip from the placement's farthest member to its nearest DRAM-attached chiplet."""
        if not self.hw.dram:
            return np.zeros(len(self.placements))
        h = self.hw.dram_hops
        return np.array([2.0 * h[list(p)].max() * self.hw.nop.hop_latency for p in self.placements])

    # ---- pricing ---------------------------------------------------------------------------------------
    def _unique_ops(self):
        g = self.graph
        uniq: dict[tuple, int] = {}
        task_u = np.empty(g.n, dtype=np.int64)
        for t in g.tasks:
            task_u[t.id] = uniq.setdefault(t.ops, len(uniq))
        uops = list(uniq)
        owner = np.repeat(np.arange(len(uops)), [len(o) for o in uops])
        flat = [op for ops in uops for op in ops]
        return task_u, len(uops), owner, flat

    def pim_offload(self, resident: bool) -> np.ndarray:
        """[n_tasks, P, len(pim_classes)] True where the task's kernels of that class run on PIM there."""
        off = self._pim_off[resident]
        return off.transpose(1, 2, 0)[self._task_u]

    @property
    def pim_classes(self) -> tuple[str, ...]:
        return pimk.CLASSES

    def _fixed_choice(self, present: np.ndarray, task_u: np.ndarray) -> np.ndarray | None:
        """[NC, U] PIM choice fixed by the mode (None for "auto"): "all", a set of classes, or a callable."""
        mode = self.pim_mode
        if mode == "auto":
            return None
        if mode == "all":
            return present.copy()
        if callable(mode):
            first: dict[int, int] = {}
            for i, u in enumerate(task_u.tolist()):
                first.setdefault(u, i)
            ch = np.zeros_like(present)
            for u, i in first.items():
                names = check_classes(mode(self.graph.tasks[i]))
                for c in names:
                    ch[pimk.CLASSES.index(c), u] = True
            return ch & present
        sel = np.array([c in mode for c in pimk.CLASSES], dtype=bool)
        return present & sel[:, None]

    def _price(self) -> None:
        hw = self.hw
        P = len(self.placements)
        task_u, U, owner, flat = self._unique_ops()
        self._task_u = task_u
        f = lambda a: np.array([getattr(o, a) for o in flat], dtype=np.float64)
        ops = OpArrays([o.name for o in flat], [o.kind for o in flat], f("M"), f("K"), f("N"), f("count"),
                       f("flops"), f("weight_bytes"), f("kv_read_bytes"), f("kv_write_bytes"), f("in_bytes"),
                       f("out_bytes"), f("taps"))
        roles = tpm.op_roles(ops.names, ops.kinds, GEMM_KINDS)
        loads = tpm.channel_loads(self.tp_scheme, roles, ops.in_bytes, ops.out_bytes, ops.names, ops.kinds)
        sumu = lambda x: np.bincount(owner, weights=x, minlength=U) if len(flat) else np.zeros(U)

        NC = len(pimk.CLASSES)
        share = self.dram_share
        psh = pimk.package(hw) if self.pim_mode != "off" and share > 0 else None
        pim_on = psh is not None and len(flat) > 0
        if pim_on:
            cls, p_int, p_ext = pimk.kernel_bytes(flat, owner)
            in_cls = cls >= 0
            bins = owner * NC + np.where(in_cls, cls, 0)
            # [NC, U] sums of a per-operator quantity over each task's operators of each class
            sumc = lambda x: np.bincount(bins, weights=np.where(in_cls, x, 0.0), minlength=U * NC).reshape(U, NC).T
        kv_u = sumu(ops.kv_read + ops.kv_write)

        types = sorted({c.type for c in hw.chiplets}, key=lambda t: t.name)
        sizes = sorted(set(self.group_size.tolist()))
        # per (type, k): per-task sums [U] of each per-operator quantity (`mapc.hw.pricing`), and per PIM class
        per: dict[tuple, dict[str, np.ndarray]] = {}
        per_c: dict[tuple, dict[str, np.ndarray]] = {}
        for t in types:
            for k in sizes:
                q = op_quantities(t, k, ops, roles, self.tp_scheme, self.weight_fraction)
                per[(t, k)] = {name: sumu(x) for name, x in q.items()}
                if pim_on:
                    per_c[(t, k)] = {name: sumc(x) for name, x in q.items()}

        # placement geometry
        ptypes = [tuple(hw.chiplets[c].type for c in p) for p in self.placements]
        dram_hops = np.array([float(np.mean(hw.dram_hops[list(p)])) if hw.dram else 0.0 for p in self.placements])
        nop = hw.nop
        ks = self.group_size.astype(np.float64)
        coeff = tpm.channel_coeffs(hw, self.placements)     # collectives of the TP scheme on the group's routes
        coll_t = np.zeros((U, P))
        coll_e = np.zeros((U, P))
        for ch, (n_op, b_op) in loads.items():
            n_u, b_u = sumu(n_op), sumu(b_op)
            coll_t += n_u[:, None] * coeff[ch][0][None, :] + b_u[:, None] * coeff[ch][1][None, :]
            coll_e += b_u[:, None] * coeff[ch][2][None, :]

        dram_e_bit = (sum(ch.energy_per_bit * ch.bandwidth for ch in hw.dram) / hw.dram_bandwidth) if hw.dram else 0.0
        combos: dict[tuple, list[int]] = {}
        for p, tt in enumerate(ptypes):
            combos.setdefault(tuple(sorted(Counter(tt).items(), key=lambda kv: kv[0].name)), []).append(p)
        tabs = {name: np.empty((U, P)) for name in _TABLES}
        tabs_c = {name: np.empty((NC, U, P)) for name in _TABLES} if pim_on else {}
        for combo, cols_ in combos.items():
            k = sum(c for _, c in combo)
            cols = np.array(cols_)
            for src, dst in ((per, tabs), (per_c, tabs_c)):
                if not dst:
                    continue
                vals = _combine(combo, k, src)
                for name, x in vals.items():
                    dst[name][..., cols] = x[..., None]

        bw = (self.group_dram_bw if share > 0 else np.full(P, np.inf))[None, :]    # peak: channels to itself
        d_lat = self.dram_latency[None, :]
        zeros = np.zeros((U, P))
        self._pim_off = {True: np.zeros((NC, U, P), dtype=bool), False: np.zeros((NC, U, P), dtype=bool)}
        choice = None
        if pim_on:
            assert psh is not None
            kv_c = sumc(ops.kv_read + ops.kv_write)
            fl_c, int_c, ext_c = sumc(ops.flops), sumc(p_int), sumc(p_ext)
            present = sumc(np.ones(len(flat))) > 0                              # [NC, U]
            coll_t_c = np.zeros((NC, U, P))
            coll_e_c = np.zeros((NC, U, P))
            for ch, (n_op, b_op) in loads.items():
                n_c, b_c = sumc(n_op), sumc(b_op)
                coll_t_c += n_c[:, :, None] * coeff[ch][0][None, None, :] + b_c[:, :, None] * coeff[ch][1][None, None, :]
                coll_e_c += b_c[:, :, None] * coeff[ch][2][None, None, :]
            kt = lambda part: pimk.kernel_times(psh, cls, owner, ops.flops, p_int, p_ext, self.group_dram_bw, U, part)
            pim_lat_c, fair_c = kt(None), kt(self.group_size / hw.n)   # [NC, U, P]: whole package, k/n of it
            pim_e_c = pimk.energy_on(psh, fl_c, int_c)[:, :, None] + zeros[None]
            choice = self._fixed_choice(present, task_u)
        out = {}
        for resident in (True, False):
            tb = dict(tabs)
            dram = kv_u[:, None] + tb["spill_group"] + (0.0 if resident else tb["weights_group"])
            coll, c_e, ext, pim_t, e_pim, pim_b, pim_f = coll_t, coll_e, zeros, zeros, zeros, zeros, zeros
            if pim_on:
                dram_c = kv_c[:, :, None] + tabs_c["spill_group"] + (0.0 if resident else tabs_c["weights_group"])
                c_comp = np.maximum(np.maximum(tabs_c["array_t"], tabs_c["vector_t"]), tabs_c["sram_t"])
                npu_lat_c = np.maximum(np.maximum(c_comp, np.where(dram_c > 0, dram_c / bw[None] + d_lat[None], 0.0)),
                                       coll_t_c)
                if choice is None:                                              # auto: the faster unit
                    off = present[:, :, None] & (fair_c < npu_lat_c)
                else:
                    off = np.broadcast_to(choice[:, :, None], (NC, U, P)).copy()
                self._pim_off[resident] = off
                o = off.astype(np.float64)
                less = lambda tot, part: np.maximum(tot - (o * part).sum(axis=0), 0.0)
                tb = {name: less(x, tabs_c[name]) for name, x in tb.items()}
                dram = (less(kv_u[:, None], kv_c[:, :, None]) + tb["spill_group"]
                        + (0.0 if resident else tb["weights_group"]))
                coll, c_e = less(coll_t, coll_t_c), less(coll_e, coll_e_c)
                ext = (o * ext_c[:, :, None]).sum(axis=0)
                pim_t = (o * pim_lat_c).sum(axis=0)
                e_pim = (o * pim_e_c).sum(axis=0)
                pim_b = (o * int_c[:, :, None]).sum(axis=0)
                pim_f = (o * fl_c[:, :, None]).sum(axis=0)
            if share > 0:           # the chiplets' own DRAM traffic; the PIM kernels' is in their PIM time
                mem = np.where(dram > 0, dram / bw + d_lat, 0.0)
            else:
                mem = np.where(dram > 0, np.inf, 0.0)
            dram = dram + ext
            comp = np.maximum(np.maximum(tb["array_t"], tb["vector_t"]), tb["sram_t"])
            # the array, the vector unit, the buffer, DRAM and the NoP work concurrently across the operators of
            # a task (tiles of one operator feed the next; a collective overlaps the next operator): the task
            # takes as long as its busiest resource, plus the PIM kernels it hands off
            lat = np.maximum(np.maximum(comp, mem), coll) + pim_t
            if share > 0:       # every byte (PIM kernels' external ones too) fits its channels at the peak rate
                lat = np.maximum(lat, dram / bw)
            e_sram = tb["e_sram"] + dram * tb["e_sram_w_per_b"]
            e_dram = dram * 8 * dram_e_bit
            e_nop = dram * 8 * nop.energy_per_bit * dram_hops[None, :] + c_e
            en = tb["e_mac"] + tb["e_rf"] + e_sram + e_dram + e_nop + e_pim
            bd = {"compute": comp, "array": tb["array_t"], "vector": tb["vector_t"], "sram_time": tb["sram_t"],
                  "memory": mem, "collective": coll, "dram_bytes": dram, "sram_bytes": tb["sram_bytes"],
                  "rf_bytes": tb["rf"], "e_mac": tb["e_mac"], "e_rf": tb["e_rf"], "e_sram": e_sram,
                  "e_dram": e_dram, "e_nop": e_nop, "pim": pim_t, "pim_bytes": pim_b, "e_pim": e_pim,
                  "pim_flops": pim_f}
            out[resident] = (lat, en, bd)
        self._ubd_res, self._ubd_str = out[True][2], out[False][2]
        self.lat_resident = out[True][0][task_u]
        self.energy_resident = out[True][1][task_u]
        self.lat_stream = out[False][0][task_u]
        self.energy_stream = out[False][1][task_u]
        # Resident only where each member's share fits its weight capacity.
        cap = np.array([self.weight_capacity[list(p)].min() for p in self.placements])
        fits = self.weight_share <= cap[None, :]
        self.lat_resident = np.where(fits, self.lat_resident, np.inf)
        self.energy_resident = np.where(fits, self.energy_resident, np.inf)
        if not self.allow_streaming:
            self.lat_stream = np.full_like(self.lat_stream, np.inf)
            self.energy_stream = np.full_like(self.energy_stream, np.inf)
        # the tables before any directive: what the hardware allows (`free`, `lower_bound` of the hardware)
        self._free = (self.lat_resident, self.energy_resident, self.lat_stream, self.energy_stream)
        self.restrictions: dict[str, np.ndarray] = {}
        if self.regions:
            # PD disaggregation: a task of a restricted phase may only use placements inside its region
            self._apply({"pd disaggregated": self._region_mask()})

    def _region_mask(self) -> np.ndarray:
        ok = np.ones((self.graph.n, len(self.placements)), dtype=bool)
        for phase, chips in (self.regions or {}).items():
            inside = np.array([set(p) <= chips for p in self.placements], dtype=bool)
            rows = np.array([t.phase == phase for t in self.graph.tasks], dtype=bool)
            ok[rows] &= inside[None, :]
        return ok

    def _apply(self, restrictions: dict[str, np.ndarray]) -> None:
        """Set the restrictions (directive name -> [n_tasks, P] mask) and mask the tables with all of them."""
        self.restrictions = dict(restrictions)
        ok = self.allowed()
        for name, table in zip(("lat_resident", "energy_resident", "lat_stream", "energy_stream"), self._free):
            setattr(self, name, np.where(ok, table, np.inf))
        for key in ("min_latency", "_bd_res", "_bd_str"):          # cached on the masked tables
            self.__dict__.pop(key, None)

    def restricted(self, restrictions: dict[str, np.ndarray]) -> "CostModel":
        """A copy priced the same way with these directive restrictions (replacing this one's); no re-pricing."""
        out = copy.copy(self)
        out._apply(restrictions)
        return out

    def free(self) -> "CostModel":
        """A copy without any directive restriction: what the hardware allows (for the hardware's bound)."""
        return self.restricted({})

    def allowed(self) -> np.ndarray:
        """[n_tasks, P] True where every directive restriction (PD regions, parallel plan) allows the placement."""
        ok = np.ones((self.graph.n, len(self.placements)), dtype=bool)
        for mask in self.restrictions.values():
            ok &= mask
        return ok
