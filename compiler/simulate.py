"""`mapc simulate`: replay a schedule.json with NoP-link and DRAM-channel contention (discrete-event, fluid flows).

The solvers price every transfer as if it had its links to itself and schedule every task's DRAM traffic
within its channels' bandwidth; this replay checks what happens when the flows of one schedule actually meet. It reads schedule.json
ALONE (read and validated by `mapc.compiler.schedule_file`) and keeps the schedule's decisions: every task runs on
its chiplets, in the schedule's order per chiplet, and every transfer along its route. What it re-derives is
the timing:

* Release times. Nothing starts before its scheduled start (the schedule is a static, time-triggered plan);
  a task starts at max(scheduled start, end of its deps, arrival of its input transfers, end of the previous
  task on each of its chiplets); a transfer at max(scheduled start, end of its source task). So with no
  contention the replay reproduces the schedule exactly, and contention can only delay (never hasten) it.
* Transfers. A transfer of B bytes whose scheduled duration is d streams B through every directed link of its
  route at once (cut-through), at most at `link_bw` (the solvers' serialisation term B / link_bw), then waits
  the rest of d (the hop latency: hops x hop_latency) before it arrives. A transfer with no links (same
  chiplet) or no bytes is a pure delay of d.
* DRAM. A task with D_h bytes on channel h (its `dram_channels`, the schedule's channel choice; files without
  it: each member's 1/k from its nearest channel(s), ties split evenly) and scheduled duration d needs D_h / d
  B/s from h to finish on time (its DRAM traffic spread evenly over the task, the convention the solvers book
  and `compiler.check` verifies: a valid plan never over-subscribes a channel, so it replays exactly). A channel delivers at most its `bandwidth`. A task whose
  flows get a fraction f < 1 of their demand progresses at speed f (the roofline's memory-bound case: the
  pessimistic side for compute-bound tasks).
* Sharing. At every instant the rates are the max-min fair allocation (progressive filling) of the active
  flows over the resources they use (directed links, channels), each flow capped at its demand. Rates change
  only when a flow starts or ends, so the replay is exact piecewise-constant event simulation.

Outputs (`SimResult`): simulated vs scheduled makespan, per-link and per-channel peak utilisation, busy and
shared time, the most contended links, and per-task delay and stretch. DRAM traffic is not routed over the NoP
links here: the schedulers keep the DRAM streams crossing a link within its bandwidth (`mapc.hw.dram_resources`,
checker rule `link`), but neither they nor this replay count a DRAM stream and a transfer meeting on one link;
that is a known simplification.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mapc.core.errors import MapcError


REL_TOL = 1e-12                     # relative tolerance of "rate below demand" and of completion times
Resource = tuple[str | int, ...]    # ("link", u, v): a directed NoP link; ("dram", i): DRAM channel i
ItemKey = tuple[str, int]           # ("t", task id) or ("x", transfer index)


def max_min_fair(caps: list[float], uses: Sequence[tuple[Hashable, ...]], capacity: Mapping[Any, float]
                 ) -> list[float]:
    """Max-min fair rates by progressive filling: every unfrozen flow grows at the same pace until it reaches
    its cap or one of its resources is full. `uses[f]` lists the resources of flow f, `capacity[r]` their
    capacities (B/s). Returns one rate per flow."""
    n = len(caps)
    rate = [0.0] * n
    users: dict[Hashable, list[int]] = defaultdict(list)
    for f, rs in enumerate(uses):
        for r in rs:
            users[r].append(f)
    free = {r: float(capacity[r]) for r in users}
    cnt = {r: len(fs) for r, fs in users.items()}          # unfrozen flows per resource
    active = set(range(n))
    level = 0.0                                            # the common rate of every unfrozen flow
    while active:
        step = min(caps[f] for f in active) - level
        for r, c in cnt.items():
            if c:
                step = min(step, free[r] / c)
        step = max(step, 0.0)
        level += step
        for r, c in cnt.items():
            if c:
                free[r] -= step * c
        full = {r for r, c in cnt.items() if c and free[r] <= REL_TOL * capacity[r]}
        done = {f for f in active if caps[f] - level <= REL_TOL * caps[f]}
        for r in full:
            done.update(f for f in users[r] if f in active)
        if not done:           # cannot happen (the step hit some bound); guard against float stalls
            done = set(active)
        for f in done:
            rate[f] = min(level, caps[f])
            for r in uses[f]:
                cnt[r] -= 1
        active -= done
    return rate


# ---- simulation ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceStats:
    """One directed NoP link (`name` "u->v") or DRAM channel: capacity, peak utilisation (peak rate /
    capacity), busy time (some flow active), shared time (two or more flows at once), bytes carried, the most
    flows at once, and the delay of the flows that were slowed while using it (sum of their slowdowns, s)."""

    name: str
    kind: str             # "link" | "dram"
    capacity: float       # B/s
    peak_utilisation: float
    mean_utilisation: float
    busy_s: float
    shared_s: float
    bytes: float
    max_flows: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SimResult:
    schedule_makespan: float
    makespan: float
    contention: bool
    task_start: tuple[float, ...]
    task_end: tuple[float, ...]
    sched_start: tuple[float, ...]
    sched_end: tuple[float, ...]
    transfer_start: tuple[float, ...]
    transfer_end: tuple[float, ...]
    resources: tuple[ResourceStats, ...]
    names: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def slowdown(self) -> float:
        """Simulated / scheduled makespan (1.0 for an empty schedule)."""
        return self.makespan / self.schedule_makespan if self.schedule_makespan > 0 else 1.0

    def task_rows(self) -> list[dict[str, Any]]:
        """Per task: scheduled and simulated times, delay of its end (s), stretch of its duration."""
        out = []
        for i in range(len(self.task_end)):
            d0 = self.sched_end[i] - self.sched_start[i]
            d1 = self.task_end[i] - self.task_start[i]
            out.append({"id": i, "name": self.names[i] if self.names else str(i),
                        "start": self.sched_start[i], "end": self.sched_end[i],
                        "sim_start": self.task_start[i], "sim_end": self.task_end[i],
                        "delay_s": self.task_end[i] - self.sched_end[i],
                        "stretch": d1 / d0 if d0 > 0 else 1.0})
        return out

    def contended(self, top: int = 10) -> list[ResourceStats]:
        """Resources that carried two or more flows at once, most shared time first."""
        rs = [r for r in self.resources if r.shared_s > 0]
        return sorted(rs, key=lambda r: (-r.shared_s, -r.bytes, r.name))[:top]

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        rows = self.task_rows()
        delayed = sorted((r for r in rows if r["delay_s"] > 0), key=lambda r: -r["delay_s"])
        return {"schema": "mapc.simulated/1", "contention": self.contention,
                "schedule_makespan_s": self.schedule_makespan, "simulated_makespan_s": self.makespan,
                "slowdown": self.slowdown, "tasks_delayed": len(delayed),
                "max_task_delay_s": delayed[0]["delay_s"] if delayed else 0.0,
                "max_stretch": max((r["stretch"] for r in rows), default=1.0),
                "most_contended": [r.to_dict() for r in self.contended(top)],
                "resources": [r.to_dict() for r in self.resources],
                "tasks": rows,
                "transfers": [{"start": s, "end": e} for s, e in zip(self.transfer_start, self.transfer_end)],
                "notes": list(self.notes)}


def nearest_channels(doc: dict[str, Any]) -> dict[int, list[int]]:
    """chiplet -> indices of the DRAM channels nearest to it (hops to any attach chiplet; ties kept)."""
    hw = doc["hardware"]
    n = len(hw["chiplets"])
    adj: dict[int, list[int]] = defaultdict(list)
    for u, v in hw["nop"]["links"]:
        adj[u].append(v)
        adj[v].append(u)
    dist = []
    for ch in hw["dram"]:
        d = [math.inf] * n
        q = deque(c for c in ch["attach"] if 0 <= c < n)
        for c in q:
            d[c] = 0
        while q:
            u = q.popleft()
            for v in adj[u]:
                if d[v] == math.inf:
                    d[v] = d[u] + 1
                    q.append(v)
        dist.append(d)
    out = {}
    for c in range(n):
        ds = [d[c] for d in dist]
        best = min(ds, default=math.inf)
        # no reachable attach chiplet (or no attach list): every channel serves the chiplet evenly
        out[c] = [i for i, x in enumerate(ds) if x == best] if best < math.inf else list(range(len(ds)))
    return out


class _Flow:
    __slots__ = ("owner", "kind", "uses", "cap", "rate")

    def __init__(self, owner: ItemKey, kind: str, uses: tuple[Resource, ...], cap: float) -> None:
        self.owner, self.kind, self.uses, self.cap, self.rate = owner, kind, uses, cap, cap


class _Fluid:
    """A task or transfer whose progress depends on its flows' rates: `remaining` work (tasks: nominal s;
    transfers: bytes), whether it was ever `slowed` below its demand, and its flows."""
    __slots__ = ("remaining", "slowed", "flows")

    def __init__(self, remaining: float, flows: list[_Flow]) -> None:
        self.remaining, self.slowed, self.flows = remaining, False, flows


def simulate(doc: dict[str, Any], contention: bool = True) -> SimResult:
    """Replay a validated schedule document (see the module docstring); `contention=False` gives every flow
    its full demand (the solvers' model: the replay then equals the schedule)."""
    hw = doc["hardware"]
    tasks, xfers = doc["tasks"], doc["transfers"]
    n, m = len(tasks), len(xfers)
    link_bw = float(hw["nop"]["link_bw"])
    capacity: dict[Resource, float] = {}
    for u, v in hw["nop"]["links"]:
        capacity[("link", u, v)] = link_bw
        capacity[("link", v, u)] = link_bw
    for i, ch in enumerate(hw["dram"]):
        capacity[("dram", i)] = float(ch["bandwidth"])
    near = nearest_channels(doc) if hw["dram"] else {}

    # ---- static structure: waits, successors, per-chiplet order
    s0 = [float(t["start"]) for t in tasks]
    e0 = [float(t["end"]) for t in tasks]
    waits = [0] * n
    succ_tasks: list[list[int]] = [[] for _ in range(n)]         # task -> tasks waiting on its end
    out_x: list[list[int]] = [[] for _ in range(n)]              # task -> transfers it sends
    x_to: list[int] = []                                          # transfer -> its destination task
    for i, t in enumerate(tasks):
        for d in set(t["deps"]):
            succ_tasks[d].append(i)
            waits[i] += 1
    per_chip: dict[int, list[int]] = defaultdict(list)
    for i, t in enumerate(tasks):
        for c in set(t["chiplets"]):
            per_chip[c].append(i)
    for c, ids in per_chip.items():
        ids.sort(key=lambda i: (s0[i], e0[i], i))
        for a, nxt in zip(ids, ids[1:]):
            succ_tasks[a].append(nxt)
            waits[nxt] += 1
    for j, x in enumerate(xfers):
        out_x[x["src_task"]].append(j)
        x_to.append(x["dst_task"])
        waits[x["dst_task"]] += 1

    t_start, t_end = [math.nan] * n, [math.nan] * n
    x_start, x_end = [math.nan] * m, [math.nan] * m
    ready_at = [0.0] * n                   # latest end among what a task waited for

    # ---- per-item nominal quantities
    # tasks: work w (nominal seconds) done at speed <= 1; DRAM flows per channel with demand rate
    task_flows: list[list[tuple[Resource, float]]] = []
    ch_index = {ch["name"]: i for i, ch in enumerate(hw["dram"])}
    for i, t in enumerate(tasks):
        d, dram = e0[i] - s0[i], float(t["dram_bytes"])
        fl: list[tuple[Resource, float]] = []
        if contention and d > 0 and dram > 0 and near:
            per: dict[int, float] = defaultdict(float)
            if "dram_channels" in t:          # the schedule's own channel choice
                for name, b in t["dram_channels"].items():
                    if name not in ch_index:
                        raise MapcError(f"task {i} streams from DRAM channel {name!r}, which the hardware lacks")
                    per[ch_index[name]] += float(b)
            else:                             # older files: the members' nearest channels
                chips = t["chiplets"]
                for c in chips:
                    for ch in near[c]:
                        per[ch] += dram / len(chips) / len(near[c])
            fl = [(("dram", ch), b / d) for ch, b in per.items() if b > 0]
        task_flows.append(fl)
    # transfers: stream S seconds at cap B/S over the route's links, then a fixed tail L
    x_stream: list[float] = []
    x_tail: list[float] = []
    x_cap: list[float] = []
    x_links: list[list[Resource]] = []
    for x in xfers:
        d = float(x["end"]) - float(x["start"])
        r = x["route"]
        lk: list[Resource] = [("link", u, v) for u, v in zip(r, r[1:])]
        b = float(x["bytes"])
        S = min(b / link_bw, d) if (lk and b > 0 and link_bw > 0) else 0.0
        x_stream.append(S)
        x_tail.append(d - S)
        x_cap.append(b / S if S > 0 else 0.0)
        x_links.append(lk if S > 0 else [])

    # ---- event state
    seq = 0
    heap: list[tuple[float, int, str, int]] = []   # (time, seq, action, id)
    def push(time: float, action: str, ident: int) -> None:
        nonlocal seq
        heapq.heappush(heap, (time, seq, action, ident))
        seq += 1

    fluid: dict[ItemKey, _Fluid] = {}     # items in progress whose speed depends on their flows
    stats: dict[Resource, dict[str, float]] = {
        r: {"peak": 0.0, "busy": 0.0, "shared": 0.0, "bytes": 0.0, "maxf": 0} for r in capacity}

    def start_task(i: int, now: float) -> None:
        t_start[i] = max(s0[i], ready_at[i])
        d = e0[i] - s0[i]
        if task_flows[i]:
            fluid[("t", i)] = _Fluid(d, [_Flow(("t", i), "dram", (r,), dem) for r, dem in task_flows[i]])
        else:
            push(_shift(t_start[i], s0[i], e0[i]), "task_end", i)

    def finish_task(i: int, when: float) -> None:
        t_end[i] = when
        for j in out_x[i]:
            push(max(float(xfers[j]["start"]), when), "x_start", j)
        for k in succ_tasks[i]:
            _arrive(k, when)

    def _arrive(k: int, when: float) -> None:
        ready_at[k] = max(ready_at[k], when)
        waits[k] -= 1
        if waits[k] == 0:
            push(max(s0[k], ready_at[k]), "t_start", k)

    def start_x(j: int, now: float) -> None:
        x_start[j] = now
        if x_stream[j] > 0:
            fl = _Flow(("x", j), "link", tuple(x_links[j]), x_cap[j])
            fluid[("x", j)] = _Fluid(float(xfers[j]["bytes"]), [fl])
        else:
            push(_shift(now, float(xfers[j]["start"]), float(xfers[j]["end"])), "x_end", j)

    def finish_x(j: int, when: float) -> None:
        x_end[j] = when
        _arrive(x_to[j], when)

    for i in range(n):
        if waits[i] == 0:
            push(s0[i], "t_start", i)

    def allocate() -> None:
        flows = [f for it in fluid.values() for f in it.flows]
        if not flows:
            return
        if contention:
            rates = max_min_fair([f.cap for f in flows], [f.uses for f in flows], capacity)
        else:
            rates = [f.cap for f in flows]
        for f, r in zip(flows, rates):
            f.rate = r
        for key, it in fluid.items():
            if key[0] == "t":            # a task runs at the pace of its worst-served DRAM flow
                sp = min(f.rate / f.cap for f in it.flows)
                for f in it.flows:
                    f.rate = f.cap * sp
            if any(f.rate < f.cap * (1 - 1e-9) for f in it.flows):
                it.slowed = True

    def speed(key: ItemKey, it: _Fluid) -> float:
        """Progress of a fluid item per second: tasks in nominal s/s, transfers in B/s."""
        f = it.flows[0]
        return f.rate / f.cap if key[0] == "t" else f.rate

    def nominal_end(key: ItemKey) -> float:
        kind, i = key
        if kind == "t":
            return _shift(t_start[i], s0[i], e0[i])
        xs = float(xfers[i]["start"])
        return _shift(x_start[i], xs, xs + x_stream[i])

    now = 0.0
    changed = True
    while heap or fluid:
        if changed:
            allocate()
            changed = False
        # next fluid completion
        t_fl = math.inf
        due: list[ItemKey] = []
        for key, it in fluid.items():
            sp = speed(key, it)
            te = nominal_end(key) if not it.slowed else (now + it.remaining / sp if sp > 0 else math.inf)
            te = max(te, now)
            if te < t_fl * (1 - REL_TOL) - 1e-18:
                t_fl, due = te, [key]
            elif te <= t_fl * (1 + REL_TOL) + 1e-18:
                due.append(key)
        t_ev = heap[0][0] if heap else math.inf
        t_next = min(t_fl, t_ev)
        if t_next == math.inf:
            raise MapcError("the schedule deadlocks in replay (a task waits for itself): the file is inconsistent")
        dt = max(0.0, t_next - now)
        if dt > 0:
            _account(stats, fluid, dt, speed)
            for key, it in fluid.items():
                it.remaining -= speed(key, it) * dt
        now = max(now, t_next)
        if t_fl <= t_next * (1 + REL_TOL) + 1e-18:
            for key in due:
                it = fluid.pop(key)
                when = nominal_end(key) if not it.slowed else now
                if key[0] == "t":
                    finish_task(key[1], when)
                else:
                    j = key[1]
                    push(_shift(x_start[j], float(xfers[j]["start"]), float(xfers[j]["end"])) if not it.slowed
                         else when + x_tail[j], "x_end", j)
            changed = True
        while heap and heap[0][0] <= now * (1 + REL_TOL) + 1e-18:
            time, _, action, ident = heapq.heappop(heap)
            if action == "t_start":
                start_task(ident, time)
            elif action == "task_end":
                finish_task(ident, time)
            elif action == "x_start":
                start_x(ident, time)
            else:
                finish_x(ident, time)
            changed = True
    missing = [i for i in range(n) if math.isnan(t_end[i])]
    if missing:
        raise MapcError(f"the schedule cannot be replayed: {len(missing)} task(s) never become ready "
                        f"(first: task {missing[0]}); the deps or per-chiplet order form a cycle")
    mk = max(t_end, default=0.0)
    res: list[ResourceStats] = []
    for r, s in stats.items():
        name = f"{r[1]}->{r[2]}" if r[0] == "link" else hw["dram"][r[1]]["name"]
        if s["busy"] == 0 and r[0] == "link":
            continue
        res.append(ResourceStats(name, str(r[0]), capacity[r], s["peak"] / capacity[r] if capacity[r] > 0 else 0.0,
                                 s["bytes"] / (capacity[r] * mk)
                                 if mk > 0 and capacity[r] > 0 else 0.0, s["busy"], s["shared"], s["bytes"],
                                 int(s["maxf"])))
    sched_mk = max(e0, default=0.0)
    return SimResult(sched_mk, mk, contention, tuple(t_start), tuple(t_end), tuple(s0), tuple(e0), tuple(x_start),
                     tuple(x_end), tuple(res), tuple(str(t.get("name", i)) for i, t in enumerate(tasks)))


def _account(stats: dict[Resource, dict[str, float]], fluid: dict[ItemKey, _Fluid], dt: float,
             speed: Callable[[ItemKey, _Fluid], float]) -> None:
    """Add one constant-rate interval of length dt to the per-resource statistics."""
    load: dict[Resource, float] = defaultdict(float)
    cnt: dict[Resource, int] = defaultdict(int)
    for it in fluid.values():
        for f in it.flows:
            for r in f.uses:
                load[r] += f.rate
                cnt[r] += 1
    for r, v in load.items():
        s = stats[r]
        s["bytes"] += v * dt
        s["busy"] += dt
        if cnt[r] > 1:
            s["shared"] += dt
        s["maxf"] = max(s["maxf"], cnt[r])
        s["peak"] = max(s["peak"], v)


def _shift(start: float, sched_start: float, sched_end: float) -> float:
    """End of an item of the scheduled duration started at `start`: exactly `sched_end` when it starts on time
    (start + (end - start) can differ from end by one ulp)."""
    return sched_end if start == sched_start else start + (sched_end - sched_start)
