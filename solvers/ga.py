"""`ga`: Compass-style genetic search over the execution-graph encoding (layers and micro-batches decoupled).

Encoding (`Encoding`, built once per graph). A *unit* is one layer segment of one model as lowered (one weight
key: every micro-batch, phase and decode step of that segment shares it); units are numbered model by model in
layer order. A *stream* is one (model, phase, micro-batch, decode step): the tasks of a stream are that
micro-batch's walk through the model's units. Every task is exactly one (stream, unit) pair.

Genome (population-major NumPy arrays, so a whole population is decoded with fancy indexing):
  B [U] bool     layer-segmentation vector: B[u] = a new segment starts at unit u (forced at each model's first
                 unit, so a segment never spans two models); consecutive units of a segment share a placement.
  X [S, U] int   placement gene per (stream, segment): the segment starting at unit u of stream s runs on
                 `cost.placements[X[s, u]]` (columns not starting a segment are dormant, kept for crossover).
  K [n] float    priority key per task for the list scheduler (larger = earlier among ready tasks).
Decode: `placement_index = X[stream, seg_start[unit]]`, residency by `choose_residency` (within SRAM), start
times by `list_schedule` with the keys; the energy side of the objective (task energy + transfer energy) is
priced for the whole batch of genomes at once (`batch_energy`), only the makespan needs the per-genome list
scheduling, which is the cost (measured in `GaStats.evals_per_s`).

Search: tournament selection (size 3), segment-wise crossover (a contiguous unit range, all its genes, or a
set of streams, from the second parent), mutation operators (reassign a segment, move a segment boundary,
swap two placements, copy one micro-batch's mapping to another, perturb priority keys, move a segment to one
of the placements where its tasks' dynamic energy is lowest), elitism (the best `elite` genomes survive
unchanged, so the best objective never gets worse). The initial population holds the baseline (even layer
pipeline) mapping, up to population/3 distinct greedy schedules (HEFT and its energy-weighted sweep,
`greedy.candidates`), mutated copies of these and random genomes. The incumbent is the best schedule seen,
seeds included (greedy's best enters with the objective of its own decoding, so `ga` is never worse than
`greedy`). Decoded genomes are cached by (placement vector, keys) bytes, so elites and no-op mutations are not
decoded twice; stats give evaluations (incl. cache hits), decodes, and both per second.

Determinism: with `options.deterministic` (the default) the number of generations is fixed in advance from
the time limit and the problem size, `generations = clamp(time_limit / (population * (REF_GENOME_S + n_tasks * REF_TASK_S)))`,
where REF_GENOME_S + n * REF_TASK_S is the decode time of one genome measured on the reference machine; the same input, seed and
options then give the same schedule on any machine not much slower than the reference. The time limit is a
safety stop at `SAFETY * time_limit` (`GaStats.deterministic` says False if it fired). Without `deterministic`, the search
runs generations until `time_limit`. `GaOptions.generations` overrides both. Population, elitism, tournament
size, crossover rate and cache size come from `options.ga` (`mapc.core.options.GaOptions`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from mapc.compiler.schedule import materialize
from mapc.core.errors import InfeasibleError, MapcError
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.options import SolveOptions
from mapc.solvers import baseline, greedy
from mapc.solvers.base import SolveResult, SolverStats
from mapc.solvers.listsched import choose_residency, fit_tables, list_schedule, task_latency, upward_rank

REF_TASK_S = 1.5e-5       # decode seconds per task per genome on the reference machine (shared 2-core VM: 6-15 us measured)
REF_GENOME_S = 1e-3      # fixed decode seconds per genome (residency grouping, NumPy call overheads), same machine
SAFETY = 1.5             # deterministic mode stops anyway after SAFETY x time_limit (a loaded machine must not
                         # turn a 2 s budget into 7 s; the run then says it was cut, GaStats.deterministic False)


@dataclass(frozen=True)
class GaStats(SolverStats):
    population: int = 0
    elite: int = 0
    generations: int = 0          # generations run
    generation_cap: int = 0       # generations planned (fixed in advance in deterministic mode)
    evaluations: int = 0          # genomes evaluated, cache hits included
    evals_per_s: float = 0.0
    decodes: int = 0              # genomes list-scheduled (evaluations - cache hits)
    cache_hits: int = 0
    decodes_per_s: float = 0.0
    deterministic: bool = True    # False when the wall-time safety stop cut the planned generations
    best_per_generation: tuple[float, ...] = ()
    units: int = 0                # layer segments in the encoding
    streams: int = 0              # (model, phase, micro-batch, step) streams in the encoding
    best_from: str = ""
    placements_used: int = 0


# ---- encoding ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Encoding:
    """Index arrays mapping tasks to (stream, unit) genes; see the module docstring."""

    unit: np.ndarray          # [n] unit of each task
    stream: np.ndarray        # [n] stream of each task
    unit_model: np.ndarray    # [U] model index of each unit
    model_first: np.ndarray   # [U] bool: first unit of its model
    stream_model: np.ndarray  # [S] model index of each stream
    stream_units: tuple       # per stream: sorted unit indices its tasks use
    unit_tasks: tuple         # per unit: task ids

    @property
    def n_units(self) -> int:
        return int(self.unit_model.size)

    @property
    def n_streams(self) -> int:
        return int(self.stream_model.size)


def encoding(graph) -> Encoding:
    """Units = (model, layers) in model order then layer order; streams = (model, phase, micro-batch, step)."""
    models = list(dict.fromkeys(t.model for t in graph.tasks))
    mi = {m: i for i, m in enumerate(models)}
    ukeys = sorted({(mi[t.model], t.layers) for t in graph.tasks})
    uidx = {k: i for i, k in enumerate(ukeys)}
    skeys = sorted({(mi[t.model], t.phase, t.microbatch, t.step) for t in graph.tasks})
    sidx = {k: i for i, k in enumerate(skeys)}
    unit = np.array([uidx[(mi[t.model], t.layers)] for t in graph.tasks], dtype=np.int64)
    stream = np.array([sidx[(mi[t.model], t.phase, t.microbatch, t.step)] for t in graph.tasks], dtype=np.int64)
    unit_model = np.array([k[0] for k in ukeys], dtype=np.int64)
    first = np.ones(len(ukeys), dtype=bool)
    first[1:] = unit_model[1:] != unit_model[:-1]
    s_units = [[] for _ in skeys]
    u_tasks = [[] for _ in ukeys]
    for i in range(graph.n):
        s_units[stream[i]].append(int(unit[i]))
        u_tasks[unit[i]].append(i)
    return Encoding(unit, stream, unit_model, first, np.array([k[0] for k in skeys], dtype=np.int64),
                    tuple(np.array(sorted(set(x)), dtype=np.int64) for x in s_units),
                    tuple(np.array(x, dtype=np.int64) for x in u_tasks))


def segment_starts(B: np.ndarray) -> np.ndarray:
    """[..., U] index of the unit that starts each unit's segment (B must be True at every model's first unit)."""
    U = B.shape[-1]
    return np.maximum.accumulate(np.where(B, np.arange(U), 0), axis=-1)


def decode_placements(enc: Encoding, B: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Placement index of every task for a batch of genomes: B [G, U], X [G, S, U] -> [G, n]."""
    ss = segment_starts(B)                                   # [G, U]
    g = np.arange(B.shape[0])[:, None]
    return X[g, enc.stream[None, :], ss[:, enc.unit]]


def genome_from_placement(enc: Encoding, pi: np.ndarray, U_boundaries: np.ndarray | None = None):
    """(B, X) reproducing a per-task placement exactly: every unit its own segment (or the given
    boundaries, taking each segment's gene from its first unit)."""
    S, U = enc.n_streams, enc.n_units
    X = np.zeros((S, U), dtype=np.int64)
    X[enc.stream, enc.unit] = pi
    # streams that skip a unit (none in lowered graphs, but hand-built ones may): copy a used gene
    for s, us in enumerate(enc.stream_units):
        if us.size and us.size < U:
            X[s, np.setdiff1d(np.arange(U), us)] = X[s, us[0]]
    B = np.ones(U, dtype=bool) if U_boundaries is None else (U_boundaries | enc.model_first)
    return B, X


# ---- pricing -----------------------------------------------------------------------------------------------
def batch_energy(cost, PI: np.ndarray, RES: np.ndarray) -> np.ndarray:
    """[G] dynamic energy (J) of G genomes' tasks and transfers, vectorised: PI, RES are [G, n]."""
    g = cost.graph
    rows = np.arange(g.n)[None, :]
    e = np.where(RES, cost.energy_resident[rows, PI], cost.energy_stream[rows, PI]).sum(axis=1)
    if g.edges:
        a, b = cost.lead[PI[:, g.edge_src]], cost.lead[PI[:, g.edge_dst]]
        e = e + (g.edge_bytes[None, :] * 8 * cost.hw.nop.energy_per_bit * cost.hw.hops[a, b]).sum(axis=1)
    return e


def batch_objective(cost, PI, RES, makespan, objective: str) -> np.ndarray:
    """[G] objective values from [G, n] decisions and [G] makespans (the same sum as `base.score`)."""
    ms = np.asarray(makespan, dtype=np.float64)
    if objective == "latency":
        return ms.copy()
    e = batch_energy(cost, PI, RES) + cost.static_power * ms
    return e if objective == "energy" else e * ms


def evaluate_batch(cost, PI: np.ndarray, K: np.ndarray, objective: str):
    """Residency, list schedule and objective of G genomes: returns (objective [G], RES [G, n], ST [G, n]).

    A genome whose residency or schedule is infeasible gets objective inf."""
    G, n = PI.shape
    RES = np.zeros((G, n), dtype=bool)
    ST = np.zeros((G, n))
    ms = np.full(G, np.inf)
    for j in range(G):
        try:
            RES[j] = choose_residency(cost, PI[j])
            ST[j] = list_schedule(cost, PI[j], RES[j], K[j])
        except InfeasibleError:
            continue
        ms[j] = float((ST[j] + task_latency(cost, PI[j], RES[j])).max()) if n else 0.0
    val = batch_objective(cost, PI, RES, np.where(np.isfinite(ms), ms, 0.0), objective)
    return np.where(np.isfinite(ms), val, np.inf), RES, ST


# ---- variation operators -----------------------------------------------------------------------------------
class Ops:
    """Crossover and mutation on one genome (B [U], X [S, U], K [n]); all randomness from `rng`."""

    def __init__(self, cost, enc: Encoding, rng: np.random.Generator, allowed: np.ndarray):
        self.cost, self.enc, self.rng = cost, enc, rng
        self.allowed = allowed                                       # placement indices genes may take
        self.single = allowed[cost.group_size[allowed] == 1]
        self.same_model = [np.nonzero(enc.stream_model == enc.stream_model[s])[0] for s in range(enc.n_streams)]
        lat, en = fit_tables(cost)                                          # [n, P] resident where it can be
        self.energy = np.where(np.isfinite(en) & np.isfinite(lat), en, np.inf)
        self.task_at = np.full((enc.n_streams, enc.n_units), -1, dtype=np.int64)
        self.task_at[enc.stream, enc.unit] = np.arange(enc.unit.size)
        self.model_units = [np.nonzero(enc.unit_model == m)[0] for m in range(int(enc.unit_model.max()) + 1)]

    def random_placement(self) -> int:
        pool = self.single if self.single.size and self.rng.random() < 0.7 else self.allowed
        return int(pool[self.rng.integers(pool.size)])

    def crossover(self, a, b):
        """Segment-wise: a contiguous unit range (boundaries, placement genes, keys of its tasks) from b;
        or, half the time, the genes of a random subset of streams from b."""
        rng, enc = self.rng, self.enc
        B, X, K = a[0].copy(), a[1].copy(), a[2].copy()
        U = enc.n_units
        if rng.random() < 0.5 or enc.n_streams == 1:
            u0 = int(rng.integers(U)); u1 = int(rng.integers(u0, U)) + 1
            B[u0:u1] = b[0][u0:u1]
            X[:, u0:u1] = b[1][:, u0:u1]
            sel = (enc.unit >= u0) & (enc.unit < u1)
            K[sel] = b[2][sel]
        else:
            take = rng.random(enc.n_streams) < 0.5
            X[take] = b[1][take]
            sel = take[enc.stream]
            K[sel] = b[2][sel]
        B |= enc.model_first
        return B, X, K

    def mutate(self, B, X, K) -> None:
        """Apply 1-3 operators in place."""
        rng = self.rng
        ops = (self.reassign, self.move_boundary, self.swap, self.copy_stream, self.priorities, self.cheaper)
        p = np.array([0.25, 0.15, 0.1, 0.1, 0.15, 0.25])
        for k in rng.choice(len(ops), size=int(rng.integers(1, 4)), p=p):
            ops[k](B, X, K)

    def _segment(self, B, u):
        """(first, last+1) units of the segment holding unit u."""
        U = B.size
        s = u
        while not B[s]:
            s -= 1
        e = u + 1
        while e < U and not B[e]:
            e += 1
        return s, e

    def reassign(self, B, X, K) -> None:
        """Reassign a segment of one stream (or of every stream of its model) to a random placement."""
        rng, enc = self.rng, self.enc
        s = int(rng.integers(enc.n_streams))
        us = enc.stream_units[s]
        u = int(us[rng.integers(us.size)])
        start, _ = self._segment(B, u)
        streams = self.same_model[s] if rng.random() < 0.3 else [s]
        X[streams, start] = self.random_placement()

    def cheaper(self, B, X, K) -> None:
        """Move a segment of one stream (or of every stream of its model) to one of the three placements where
        its tasks' dynamic energy is lowest, if lower than where it is (energy is most of the EDP headroom)."""
        rng, enc = self.rng, self.enc
        s = int(rng.integers(enc.n_streams))
        us = enc.stream_units[s]
        u = int(us[rng.integers(us.size)])
        a, b = self._segment(B, u)
        streams = self.same_model[s] if rng.random() < 0.3 else np.array([s])
        tasks = self.task_at[streams, a:b].ravel()
        tasks = tasks[tasks >= 0]
        if not tasks.size:
            return
        e = self.energy[tasks].sum(axis=0)
        cur = e[X[s, a]]
        cand = np.nonzero(e < cur)[0] if np.isfinite(cur) else np.nonzero(np.isfinite(e))[0]
        cand = np.intersect1d(cand, self.allowed)
        if not cand.size:
            return
        cand = cand[np.argsort(e[cand], kind="stable")[:3]]
        X[streams, a] = int(cand[rng.integers(cand.size)])

    def move_boundary(self, B, X, K) -> None:
        """Move a segment boundary one unit left or right (keeping the segments' placements), or split/merge."""
        rng, enc = self.rng, self.enc
        U = enc.n_units
        if U < 2:
            return
        movable = np.nonzero(~enc.model_first)[0]
        u = int(movable[rng.integers(movable.size)])
        r = rng.random()
        if r < 0.25:                      # split or merge at u
            if not B[u]:
                X[:, u] = X[:, self._segment(B, u)[0]]   # the new segment starts with its old placement
            B[u] = not B[u]
            return
        on = np.nonzero(B & ~enc.model_first)[0]
        if not on.size:
            return
        u = int(on[rng.integers(on.size)])
        d = -1 if r < 0.625 else 1
        v = u + d
        if v < 0 or v >= U or enc.model_first[v] or B[v]:
            return
        B[u] = False
        B[v] = True
        X[:, v] = X[:, u]                 # the right segment keeps its placement

    def swap(self, B, X, K) -> None:
        """Swap two placements everywhere in the genome (two chiplets or groups exchange their work)."""
        used = np.unique(X[:, B])
        if used.size < 1:
            return
        p = int(used[self.rng.integers(used.size)])
        q = self.random_placement() if self.rng.random() < 0.5 or used.size < 2 else int(used[self.rng.integers(used.size)])
        if p == q:
            return
        mp, mq = X == p, X == q
        X[mp], X[mq] = q, p

    def copy_stream(self, B, X, K) -> None:
        """Copy one micro-batch's mapping onto another micro-batch of the same model."""
        rng = self.rng
        s = int(rng.integers(self.enc.n_streams))
        peers = self.same_model[s]
        if peers.size < 2:
            return
        t = int(peers[rng.integers(peers.size)])
        if t != s:
            X[t] = X[s]

    def priorities(self, B, X, K) -> None:
        """Multiply the keys of a random tenth of the tasks by log-normal noise."""
        rng = self.rng
        sel = rng.random(K.size) < 0.1
        K[sel] *= np.exp(rng.normal(0.0, 0.3, int(sel.sum())))


# ---- search ------------------------------------------------------------------------------------------------
def _generations(options: SolveOptions, n: int) -> tuple[int, bool]:
    """(generation cap, whether it is fixed in advance)."""
    ga = options.ga
    if ga.generations is not None:
        return max(0, int(ga.generations)), True
    if options.deterministic:
        g = int(options.time_limit / (ga.population * (REF_GENOME_S + n * REF_TASK_S)))
        return int(min(ga.max_generations, max(1, g))), True
    return ga.max_generations, False


def solve(problem: Problem, options: SolveOptions = SolveOptions()) -> SolveResult:
    t0 = time.perf_counter()
    cost, obj = problem.cost, options.goal
    g = problem.graph
    n = g.n
    if n == 0:
        return SolveResult(materialize(cost, [], [], []), "heuristic", 0.0, solver="ga", message="empty graph")
    P, E = int(options.ga.population), int(options.ga.elite)
    if P < 2 or not 0 <= E < P:
        raise MapcError(f"ga: population must be >= 2 and 0 <= elite < population (got {P}, {E})")
    gens, fixed = _generations(options, n)
    rng = np.random.default_rng(options.seed)
    enc = encoding(g)
    allowed = np.arange(len(cost.placements))
    ops = Ops(cost, enc, rng, allowed)
    deadline = t0 + (SAFETY * options.time_limit if fixed else options.time_limit)

    # ---- seeds: baseline pipeline and greedy HEFT --------------------------------------------------------
    seeds = []
    pi_b = baseline.baseline_placement(cost, problem.parallel)
    bnd = np.zeros(enc.n_units, dtype=bool)
    ub = np.full(enc.n_units, -1)
    ub[enc.unit] = pi_b
    bnd[1:] = ub[1:] != ub[:-1]
    seeds.append(genome_from_placement(enc, pi_b, bnd) + (None,))
    incumbent = None                     # (value, pi, res, st, label)
    try:                                 # greedy's schedules (HEFT and its energy-weighted sweep), best first
        cands = greedy.candidates(problem, options)
    except InfeasibleError:
        cands = []
    seen = set()
    for label, pi_g, res_g, st_g, v in cands:
        if incumbent is None:
            incumbent = (float(v), pi_g, res_g, st_g, f"greedy seed {label}")
        key = pi_g.tobytes()
        if key not in seen and len(seen) < max(1, P // 3):
            seen.add(key)
            seeds.append(genome_from_placement(enc, pi_g) + (None,))
    Bs, Xs, Ks = [], [], []
    for B, X, _ in seeds:
        pi = decode_placements(enc, B[None], X[None])[0]
        try:
            rank = upward_rank(cost, pi, choose_residency(cost, pi))
        except InfeasibleError:
            rank = upward_rank(cost)
        Bs.append(B); Xs.append(X); Ks.append(rank)
    base_K = upward_rank(cost)
    while len(Bs) < P:
        r = rng.random()
        if r < 0.6:                      # a mutated copy of a seed
            j = int(rng.integers(len(seeds)))
            B, X, K = Bs[j].copy(), Xs[j].copy(), Ks[j].copy()
            for _ in range(int(rng.integers(1, 6))):
                ops.mutate(B, X, K)
        else:                            # random segmentation and placements, HEFT keys
            B = (rng.random(enc.n_units) < rng.uniform(0.05, 0.5)) | enc.model_first
            X = allowed[rng.integers(allowed.size, size=(enc.n_streams, enc.n_units))]
            if rng.random() < 0.5:       # micro-batches of a model share the mapping
                for m in range(len(ops.model_units)):
                    ss = np.nonzero(enc.stream_model == m)[0]
                    X[ss] = X[ss[0]]
            K = base_K * np.exp(rng.normal(0.0, 0.05, n))
        Bs.append(B); Xs.append(X); Ks.append(K)
    PB, PX, PK = np.array(Bs), np.array(Xs), np.array(Ks)

    evals = 0
    t_eval = 0.0
    trace: list[tuple[float, float]] = []

    cache: dict[bytes, tuple] = {}       # placement vector + keys -> (objective, resident, start)
    cache_cap = max(64, int(options.ga.cache_bytes // (17 * n + 64)))
    hits = 0

    def run(PB, PX, PK):
        """Decode and price a batch; genomes decoded before (same placements and keys) come from the cache."""
        nonlocal evals, t_eval, hits
        t = time.perf_counter()
        PI = decode_placements(enc, PB, PX)
        G = PI.shape[0]
        keys = [PI[j].tobytes() + PK[j].tobytes() for j in range(G)]
        uniq: dict[bytes, int] = {}
        new = []
        for j, k in enumerate(keys):
            if k not in cache and k not in uniq:
                uniq[k] = len(new)
                new.append(j)
        if new:
            v, r, s = evaluate_batch(cost, PI[new], PK[new], obj)
        val = np.empty(G); RES = np.zeros((G, n), dtype=bool); ST = np.zeros((G, n))
        for j, k in enumerate(keys):
            if k in uniq:
                x = uniq[k]
                val[j], RES[j], ST[j] = v[x], r[x], s[x]
                hits += new[x] != j
            else:
                val[j], RES[j], ST[j] = cache[k]
                hits += 1
        for k, x in uniq.items():
            if len(cache) >= cache_cap:
                break
            cache[k] = (v[x], r[x], s[x])
        t_eval += time.perf_counter() - t
        evals += G
        return val, PI, RES, ST

    def offer(val, PI, RES, ST, label):
        nonlocal incumbent
        j = int(np.argmin(val))
        if np.isfinite(val[j]) and (incumbent is None or val[j] < incumbent[0]):
            incumbent = (float(val[j]), PI[j].copy(), RES[j].copy(), ST[j].copy(), label)
        if incumbent is not None and (not trace or incumbent[0] < trace[-1][1]):
            trace.append((time.perf_counter() - t0, incumbent[0]))

    fit, PI, RES, ST = run(PB, PX, PK)
    offer(fit, PI, RES, ST, "generation 0")
    done = 0
    best_per_gen = [float(fit.min())]
    stopped_by_time = False
    for gen in range(gens):
        if time.perf_counter() >= deadline:
            stopped_by_time = True
            break
        order = np.argsort(fit, kind="stable")
        elite_idx = order[:E]
        kids_B, kids_X, kids_K = [], [], []
        for _ in range(P - E):
            a = _tournament(rng, fit, options.ga.tournament)
            if rng.random() < options.ga.p_crossover:
                b = _tournament(rng, fit, options.ga.tournament)
                B, X, K = ops.crossover((PB[a], PX[a], PK[a]), (PB[b], PX[b], PK[b]))
            else:
                B, X, K = PB[a].copy(), PX[a].copy(), PK[a].copy()
            ops.mutate(B, X, K)
            kids_B.append(B); kids_X.append(X); kids_K.append(K)
        kval, kPI, kRES, kST = run(np.array(kids_B), np.array(kids_X), np.array(kids_K))
        PB = np.concatenate([PB[elite_idx], np.array(kids_B)])
        PX = np.concatenate([PX[elite_idx], np.array(kids_X)])
        PK = np.concatenate([PK[elite_idx], np.array(kids_K)])
        fit = np.concatenate([fit[elite_idx], kval])
        offer(kval, kPI, kRES, kST, f"generation {gen + 1}")
        best_per_gen.append(float(fit.min()))
        done += 1

    if incumbent is None:
        return SolveResult(None, "no_solution", None, solver="ga", wall_time=time.perf_counter() - t0,
                           message="no genome decoded to a feasible schedule")
    val, pi, res, st, label = incumbent
    sched = materialize(cost, pi, res, st)
    wall = time.perf_counter() - t0
    stats = GaStats(population=P, elite=E, generations=done, generation_cap=gens, evaluations=evals,
                    evals_per_s=evals / t_eval if t_eval > 0 else 0.0, decodes=evals - hits, cache_hits=hits,
                    decodes_per_s=(evals - hits) / t_eval if t_eval > 0 else 0.0,
                    deterministic=bool(fixed and not stopped_by_time), best_per_generation=tuple(best_per_gen),
                    units=enc.n_units, streams=enc.n_streams, best_from=label,
                    placements_used=int(np.unique(pi).size))
    return SolveResult(sched, "heuristic", score(sched, cost, obj), trace=tuple(trace), stats=stats,
                       message=f"genetic search: {done} generations x {P} genomes, best from {label}"
                       + (f" (stopped by the time limit before the {gens} planned generations: this machine "
                          "decodes slower than the reference, so the result may differ between runs; raise "
                          "--time-limit for a reproducible run)" if stopped_by_time else ""),
                       solver="ga", wall_time=wall)


def _tournament(rng: np.random.Generator, fit: np.ndarray, size: int) -> int:
    c = rng.integers(fit.size, size=min(size, fit.size))
    return int(c[np.argmin(fit[c])])
