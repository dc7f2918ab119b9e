"""The serving simulation of `mapc serve`: a discrete-event simulation of requests under iteration-level
(continuous) batching, with a KV-cache capacity, preemption, and prefill/decode fused or disaggregated (SI: s, B).

Iteration-level batching (Orca, vLLM): a pool of chiplets runs iterations back to back while it has work; each
iteration batches the running requests of one model. Without chunking (vLLM's default scheduler) an iteration
either prefills the whole prompts of every admitted request that still needs it (prefill first: the running
decodes wait for that iteration) or, when none does, decodes every running request (`width` tokens each). With
`chunk` (chunked prefill, Sarathi-Serve) every iteration decodes all running requests past their prefill and
adds at most `chunk` prefill tokens, taken from the prefilling requests in admission order (the decode tokens do
not count against the chunk). A request's first token comes at the end of the iteration that finishes its
prefill. The iteration's time is `price(Shape)` (`mapc.compiler.serve_cost`: a compiled
schedule of that iteration, bucketed). Several served models take turns, one iteration each (round robin over
the models with work): the package is time-shared, not split.

Admission and memory (vLLM's policy): requests wait in arrival order; the head is admitted while the model has
fewer than `max_batch` running requests and the KV cache has room for its prompt (head-of-line blocking: a
request that does not fit holds back the ones behind it). The cache holds `kv_capacity` bytes (DRAM/HBM minus the
weights); a token costs `kv_bytes[model]` (2 x layers x kv_heads x head_dim x dtype). Before an iteration its
decode requests need room for the tokens they append; while there is not, the most recently admitted running
request is preempted: its cache is freed and it goes back to the head of the queue, to be prefilled again over
its prompt and the tokens it already emitted (recompute, vLLM's default), which emits its next token. Every
request must fit the cache alone (`simulate` checks), so the simulation always progresses.

PD disaggregated (`disaggregated=True`, DistServe / Splitwise): a prefill pool and a decode pool run their own
iterations concurrently (prefill-only and decode-only shapes; the pricer prices each on its own chiplets). When
a prompt's prefill ends (first token), its KV cache moves to the decode pool over the NoP: transfers queue on
one link of `link_bw` B/s (the cut between the pools) and each takes bytes / link_bw + `link_latency`; the
request then waits for a decode slot. The cache is one budget (the package's DRAM holds both pools' KV);
preempting a decode request sends it back to the prefill pool.

Per request: TTFT = first token - arrival; TPOT = (last token - first token) / (output - 1) (vLLM's and
DistServe's definition; undefined for one-token outputs); end-to-end latency = last token - arrival.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import networkx as nx

from mapc.compiler.serve_cost import Shape
from mapc.compiler.traffic import Request
from mapc.core.errors import InfeasibleError
from mapc.core.hardware import Hardware

Price = Callable[[Shape], float]


@dataclass(frozen=True)
class EngineConfig:
    """Engine settings: per-model running-request cap, prefill chunk (0 = whole prompts), KV capacity (B) and
    bytes per token per model, decode width per model, PD mode and the KV link between the pools."""

    max_batch: int
    kv_capacity: float
    kv_bytes: dict[str, float]
    width: dict[str, int] = field(default_factory=dict)
    chunk: int = 0
    disaggregated: bool = False
    link_bw: float = 0.0
    link_latency: float = 0.0
    fast_forward: bool = True     # run uninterruptible decode-only iterations in one event (same decisions)


@dataclass(frozen=True)
class RequestResult:
    """What happened to one request (times in s from the start; None where it does not apply)."""

    id: int
    model: str
    arrival: float
    prompt: int
    output: int
    first_token: float
    finish: float
    preemptions: int

    @property
    def ttft(self) -> float:
        return self.first_token - self.arrival

    @property
    def tpot(self) -> float | None:
        return (self.finish - self.first_token) / (self.output - 1) if self.output > 1 else None

    @property
    def e2e(self) -> float:
        return self.finish - self.arrival


@dataclass(frozen=True)
class PoolStats:
    """One pool's iterations: how many, busy seconds, decode tokens emitted, prefill tokens processed, and the
    mean decode batch over its decode iterations."""

    name: str
    iterations: int
    busy_s: float
    decode_tokens: int
    prefill_tokens: int
    mean_batch: float


@dataclass(frozen=True)
class SimResult:
    requests: tuple[RequestResult, ...]
    pools: tuple[PoolStats, ...]
    end: float                    # last event (s)
    kv_transfers: int = 0
    kv_transfer_s: float = 0.0    # link busy time


class _Req:
    __slots__ = ("r", "model", "out", "gen", "left", "kv", "first", "last", "pre", "seq")

    def __init__(self, r: Request) -> None:
        self.r, self.model, self.out = r, r.model, r.output
        self.gen = 0          # tokens emitted so far
        self.left = 0         # prefill tokens still to process
        self.kv = 0           # tokens held in the KV cache
        self.first = -1.0
        self.last = -1.0
        self.pre = 0
        self.seq = 0          # admission order (the latest admitted is preempted first)


class _Pool:
    """A set of chiplets running iterations: per model a queue and the running requests, in admission order."""

    def __init__(self, name: str, models: tuple[str, ...], prefill: bool, decode: bool) -> None:
        self.name, self.models, self.prefill, self.decode = name, models, prefill, decode
        self.queue: dict[str, deque[_Req]] = {m: deque() for m in models}
        self.running: dict[str, list[_Req]] = {m: [] for m in models}
        self.busy = False
        self.rr = 0
        self.iterations = self.decode_tokens = self.prefill_tokens = self.batch_sum = self.decode_iters = 0
        self.busy_s = 0.0

    def stats(self) -> PoolStats:
        mb = self.batch_sum / self.decode_iters if self.decode_iters else 0.0
        return PoolStats(self.name, self.iterations, self.busy_s, self.decode_tokens, self.prefill_tokens, mb)


class _Engine:
    def __init__(self, cfg: EngineConfig, price: Price, models: tuple[str, ...]) -> None:
        self.cfg, self.price, self.models = cfg, price, models
        self.kv_used = 0.0
        self.events: list[tuple[float, int, int, object]] = []
        self.n_ev = 0
        self.seq = 0
        self.done: list[RequestResult] = []
        self.link_free = 0.0
        self.transfers = 0
        self.link_busy = 0.0
        self.preemptions = 0
        dp = getattr(price, "decode", None)                 # a pricer's fast path for decode-only shapes
        self.decode_price: Callable[[str, int, float, int], float] = dp if callable(dp) else (
            lambda m, b, c, w: price(Shape(m, b, c, w, 0, 0)))
        if cfg.disaggregated:
            self.front = _Pool("prefill", models, True, False)
            self.back = _Pool("decode", models, False, True)
            self.pools: tuple[_Pool, ...] = (self.front, self.back)
        else:
            self.front = self.back = _Pool("fused", models, True, True)
            self.pools = (self.front,)

    # ---- events --------------------------------------------------------------------------------------------
    def push(self, t: float, kind: int, obj: object) -> None:
        self.n_ev += 1
        heapq.heappush(self.events, (t, self.n_ev, kind, obj))

    def run(self, requests: tuple[Request, ...]) -> float:
        for r in requests:
            self.push(r.arrival, 0, _Req(r))
        t = 0.0
        while self.events:
            t = self.events[0][0]
            while self.events and self.events[0][0] == t:   # everything that happens at t, then schedule
                _, _, kind, obj = heapq.heappop(self.events)
                if kind == 0:                               # arrival
                    assert isinstance(obj, _Req)
                    self.front.queue[obj.model].append(obj)
                elif kind == 1:                             # iteration end
                    assert isinstance(obj, tuple)
                    self.finish_iteration(t, *obj)
                else:                                       # KV transfer done: wait for a decode slot
                    assert isinstance(obj, _Req)
                    self.back.queue[obj.model].append(obj)
            changed = True
            while changed:                                  # a preemption may hand work to an idle pool
                changed = False
                for p in self.pools:
                    if not p.busy:
                        before = self.preemptions
                        changed |= self.start(p, t) or self.preemptions != before
        return t

    # ---- one iteration ---------------------------------------------------------------------------------------
    def start(self, pool: _Pool, t: float) -> bool:
        """Start the pool's next iteration at t (round robin over models with work); False when it has none."""
        n = len(self.models)
        for k in range(n):
            m = self.models[(pool.rr + k) % n]
            it = self.build(pool, m)
            if it is not None:
                pool.rr = (pool.rr + k + 1) % n
                dec, pre, shape = it
                if pre:
                    steps, end = 1, t + self.price(shape)
                else:
                    steps, end = self.decode_run(pool, m, dec, shape, t)
                w = self.cfg.width.get(m, 1)
                self.kv_used += steps * len(dec) * w * self.cfg.kv_bytes[m]     # reserved for the new tokens
                pool.busy = True
                pool.iterations += steps
                pool.busy_s += end - t
                if dec:
                    pool.decode_iters += steps
                    pool.batch_sum += steps * len(dec)
                self.push(end, 1, (pool, m, dec, pre, steps))
                return True
        return False

    def decode_run(self, pool: _Pool, m: str, dec: list[_Req], shape: Shape, t: float) -> tuple[int, float]:
        """(steps, end time) of a run of decode-only iterations of `dec` from t: one iteration, or, when nothing
        else can change the batch before (this pool has no other model with work), as many as run until the first
        of: a request finishes, the KV cache would overflow, the first iteration end at or after the next event.
        Step by step the engine would make the same decisions at each of those iteration ends (fast-forward)."""
        w = self.cfg.width.get(m, 1)
        price = self.decode_price
        b, ctx = len(dec), shape.context
        end = t + price(m, b, ctx, w)
        if not self.cfg.fast_forward or any(pool.queue[o] or pool.running[o] for o in self.models if o != m):
            return 1, end
        left = min(r.out - r.gen for r in dec)
        kmax = min(-(-left // w), int((self.cfg.kv_capacity - self.kv_used) // (b * w * self.cfg.kv_bytes[m])))
        horizon = self.events[0][0] if self.events else float("inf")
        k = 1
        while k < kmax and end < horizon:
            ctx += w
            end += price(m, b, ctx, w)
            k += 1
        return k, end

    def build(self, pool: _Pool, m: str) -> tuple[list[_Req], list[tuple[_Req, int]], Shape] | None:
        cfg = self.cfg
        bpt = cfg.kv_bytes[m]
        w = cfg.width.get(m, 1)
        run, q = pool.running[m], pool.queue[m]
        while q and len(run) < cfg.max_batch:               # admission, FCFS
            r = q[0]
            if pool.prefill:
                need = (r.r.prompt + r.gen) * bpt
                if self.kv_used + need > cfg.kv_capacity:
                    break
                self.kv_used += need
                r.kv = r.left = r.r.prompt + r.gen
            q.popleft()
            self.seq += 1
            r.seq = self.seq
            run.append(r)
        prefill_first = pool.prefill and cfg.chunk <= 0 and any(r.left > 0 for r in run)
        if pool.decode and not prefill_first:               # room for the tokens decode appends
            while True:
                dec = [r for r in run if r.left == 0]
                grow = len(dec) * w * bpt
                if self.kv_used + grow <= cfg.kv_capacity or not run:
                    break
                self.preempt(pool, m, run.pop())
        else:
            dec = []
        pre: list[tuple[_Req, int]] = []
        budget = cfg.chunk if cfg.chunk > 0 else 1 << 62
        ptok = 0
        if pool.prefill:
            for r in run:
                if r.left > 0 and budget > 0:
                    k = min(r.left, budget)
                    pre.append((r, k))
                    budget -= k
                    ptok += k
        if not dec and not pre:
            return None
        ctx = (sum(r.kv for r in dec) / len(dec) + w) if dec else 0.0
        return dec, pre, Shape(m, len(dec), ctx, w, len(pre), ptok)

    def preempt(self, pool: _Pool, m: str, r: _Req) -> None:
        self.kv_used -= r.kv * self.cfg.kv_bytes[m]
        r.kv = r.left = 0
        r.pre += 1
        self.preemptions += 1
        self.front.queue[m].appendleft(r)

    def finish_iteration(self, t: float, pool: _Pool, m: str, dec: list[_Req], pre: list[tuple[_Req, int]],
                         steps: int) -> None:
        cfg = self.cfg
        pool.busy = False
        w = cfg.width.get(m, 1)
        gone: set[int] = set()
        for r in dec:                                       # their KV was reserved when the run started
            r.kv += steps * w
            r.gen = min(r.out, r.gen + steps * w)
            r.last = t
            if r.gen >= r.out:
                self.complete(r)
                gone.add(id(r))
        pool.decode_tokens += steps * w * len(dec)
        for r, k in pre:
            r.left -= k
            pool.prefill_tokens += k
            if r.left == 0:
                if r.gen == 0:
                    r.first = t
                r.gen += 1
                r.last = t
                if r.gen >= r.out:
                    self.complete(r)
                    gone.add(id(r))
                elif cfg.disaggregated:
                    gone.add(id(r))
                    self.send(t, r)
        if gone:
            pool.running[m] = [r for r in pool.running[m] if id(r) not in gone]

    def send(self, t: float, r: _Req) -> None:
        """The KV of a prefilled request moves to the decode pool over the NoP link (FIFO)."""
        nbytes = r.kv * self.cfg.kv_bytes[r.model]
        dur = nbytes / self.cfg.link_bw + self.cfg.link_latency if self.cfg.link_bw > 0 else 0.0
        start = max(t, self.link_free)
        self.link_free = start + dur
        self.transfers += 1
        self.link_busy += dur
        self.push(start + dur, 2, r)

    def complete(self, r: _Req) -> None:
        self.kv_used -= r.kv * self.cfg.kv_bytes[r.model]
        r.kv = 0
        q = r.r
        self.done.append(RequestResult(q.id, q.model, q.arrival, q.prompt, q.output, r.first, r.last, r.pre))


def simulate(requests: tuple[Request, ...], cfg: EngineConfig, price: Price) -> SimResult:
    """Run the simulation of `requests` (module doc) with iteration times from `price`; results in request id
    order. `InfeasibleError` (exit 3) when a request cannot fit the KV cache even alone."""
    if cfg.max_batch < 1:
        raise InfeasibleError(f"the batch cap must be at least 1, got {cfg.max_batch}")
    models = tuple(dict.fromkeys(r.model for r in requests)) or tuple(cfg.kv_bytes)[:1]
    for r in requests:
        need = (r.prompt + r.output + cfg.width.get(r.model, 1)) * cfg.kv_bytes[r.model]
        if need > cfg.kv_capacity:
            raise InfeasibleError(
                f"request {r.id} ({r.prompt} + {r.output} tokens of {r.model}) needs {need / 2**30:.3g} GiB of KV "
                f"cache, more than the {cfg.kv_capacity / 2**30:.3g} GiB left beside the weights",
                hint="use hardware with more DRAM/HBM, quantise the weights, or shorten the requests")
    eng = _Engine(cfg, price, models)
    end = eng.run(requests)
    done = sorted(eng.done, key=lambda x: x.id)
    assert len(done) == len(requests), "every request completes"
    return SimResult(tuple(done), tuple(p.stats() for p in eng.pools), end, eng.transfers, eng.link_busy)


def pool_link(hw: Hardware, prefill: tuple[int, ...], decode: tuple[int, ...]) -> tuple[float, float]:
    """(bandwidth B/s, latency s) of the KV path between two pools of chiplets: every NoP link joining them
    carries a share (bandwidth = links in the cut x link bandwidth), and a transfer pays the hop latency of the
    mean distance from a prefill chiplet to its nearest decode chiplet."""
    g = hw.graph
    a, b = set(prefill), set(decode)
    cut = sum(1 for u, v in g.edges if (u in a and v in b) or (u in b and v in a))
    if cut == 0:
        raise InfeasibleError(f"the prefill and decode chiplets of {hw.name} share no NoP link",
                              hint="give the pools adjacent chiplets (prefill first in row-major order)")
    dist = nx.multi_source_dijkstra_path_length(g, b)
    hops = sum(dist[c] for c in a) / len(a)
    return cut * hw.nop.link_bw, hops * hw.nop.hop_latency
