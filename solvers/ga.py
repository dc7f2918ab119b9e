"""`ga`: Compass-style genetic search over the execution-graph encoding (layers and micro-batches decoupled).

Encoding (`mapc.solvers.encoding.Encoding`, built once per graph, shared with `scar`). A *unit* is one layer segment of one model as lowered (one weight
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
from dataclasses import dataclass

import numpy as np

from mapc.compiler.schedule import materialize
from mapc.core.errors import InfeasibleError, MapcError
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.options import SolveOptions
from mapc.hw.cost import CostModel
from mapc.solvers import baseline, greedy
from mapc.solvers.base import SolveResult, SolverStats
from mapc.solvers.encoding import (REF_GENOME_S, REF_TASK_S, SAFETY, Encoding, decode_placements, encoding,
                                   evaluate_batch, genome_from_placement, repair, repair_map)
from mapc.solvers.listsched import choose_residency, fit_tables, upward_rank
from mapc.solvers.stretch import finish

Genome = tuple[np.ndarray, np.ndarray, np.ndarray]   # (B [U] segment starts, X [S, U] placements, K [n] keys)

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
    stretched_tasks: int = 0      # tasks the final re-timing streams below their peak DRAM rate (solvers.stretch)


# ---- variation operators -----------------------------------------------------------------------------------
class Ops:
    """Crossover and mutation on one genome (B [U], X [S, U], K [n]); all randomness from `rng`."""

    def __init__(self, cost: CostModel, enc: Encoding, rng: np.random.Generator, allowed: np.ndarray) -> None:
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

    def crossover(self, a: Genome, b: Genome) -> Genome:
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

    def mutate(self, B: np.ndarray, X: np.ndarray, K: np.ndarray) -> None:
        """Apply 1-3 operators in place."""
        rng = self.rng
        ops = (self.reassign, self.move_boundary, self.swap, self.copy_stream, self.priorities, self.cheaper)
        p = np.array([0.25, 0.15, 0.1, 0.1, 0.15, 0.25])
        for k in rng.choice(len(ops), size=int(rng.integers(1, 4)), p=p):
            ops[k](B, X, K)

    def _segment(self, B: np.ndarray, u: int) -> tuple[int, int]:
        """(first, last+1) units of the segment holding unit u."""
        U = B.size
        s = u
        while not B[s]:
            s -= 1
        e = u + 1
        while e < U and not B[e]:
            e += 1
        return s, e

    def reassign(self, B: np.ndarray, X: np.ndarray, K: np.ndarray) -> None:
        """Reassign a segment of one stream (or of every stream of its model) to a random placement."""
        rng, enc = self.rng, self.enc
        s = int(rng.integers(enc.n_streams))
        us = enc.stream_units[s]
        u = int(us[rng.integers(us.size)])
        start, _ = self._segment(B, u)
        streams = self.same_model[s] if rng.random() < 0.3 else [s]
        X[streams, start] = self.random_placement()

    def cheaper(self, B: np.ndarray, X: np.ndarray, K: np.ndarray) -> None:
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

    def move_boundary(self, B: np.ndarray, X: np.ndarray, K: np.ndarray) -> None:
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

    def swap(self, B: np.ndarray, X: np.ndarray, K: np.ndarray) -> None:
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

    def copy_stream(self, B: np.ndarray, X: np.ndarray, K: np.ndarray) -> None:
        """Copy one micro-batch's mapping onto another micro-batch of the same model."""
        rng = self.rng
        s = int(rng.integers(self.enc.n_streams))
        peers = self.same_model[s]
        if peers.size < 2:
            return
        t = int(peers[rng.integers(peers.size)])
        if t != s:
            X[t] = X[s]

    def priorities(self, B: np.ndarray, X: np.ndarray, K: np.ndarray) -> None:
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
    allowed = np.nonzero(cost.allowed().any(axis=0))[0]          # placements some task may use (directives)
    fix = repair_map(cost)                                          # the rest sent to allowed ones when decoded
    ops = Ops(cost, enc, rng, allowed)
    deadline = t0 + (SAFETY * options.time_limit if fixed else options.time_limit)

    # ---- seeds: baseline pipeline and greedy HEFT --------------------------------------------------------
    seeds: list[tuple[np.ndarray, np.ndarray, None]] = []
    pi_b = baseline.baseline_placement(cost, problem.parallel)
    bnd = np.zeros(enc.n_units, dtype=bool)
    ub = np.full(enc.n_units, -1)
    ub[enc.unit] = pi_b
    bnd[1:] = ub[1:] != ub[:-1]
    seeds.append(genome_from_placement(enc, pi_b, bnd) + (None,))
    incumbent: tuple[float, np.ndarray, np.ndarray, np.ndarray, str] | None = None   # (value, pi, res, st, label)
    try:                                 # greedy's schedules (HEFT and its energy-weighted sweep), best first
        cands = greedy.candidates(problem, options)
    except InfeasibleError:
        cands = []
    seen: set[bytes] = set()
    for label, pi_g, res_g, st_g, v in cands:
        if incumbent is None:
            incumbent = (float(v), pi_g, res_g, st_g, f"greedy seed {label}")
        key = pi_g.tobytes()
        if key not in seen and len(seen) < max(1, P // 3):
            seen.add(key)
            seeds.append(genome_from_placement(enc, pi_g) + (None,))
    Bs: list[np.ndarray] = []
    Xs: list[np.ndarray] = []
    Ks: list[np.ndarray] = []
    for B, X, _ in seeds:
        pi = repair(fix, decode_placements(enc, B[None], X[None])[0])
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

    cache: dict[bytes, tuple[float, np.ndarray, np.ndarray]] = {}   # placement + keys -> (objective, resident, start)
    cache_cap = max(64, int(options.ga.cache_bytes // (17 * n + 64)))
    hits = 0

    def run(PB: np.ndarray, PX: np.ndarray, PK: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Decode and price a batch; genomes decoded before (same placements and keys) come from the cache."""
        nonlocal evals, t_eval, hits
        t = time.perf_counter()
        PI = repair(fix, decode_placements(enc, PB, PX))
        G = PI.shape[0]
        keys = [PI[j].tobytes() + PK[j].tobytes() for j in range(G)]
        uniq: dict[bytes, int] = {}
        new: list[int] = []
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

    def offer(val: np.ndarray, PI: np.ndarray, RES: np.ndarray, ST: np.ndarray, label: str) -> None:
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
        kids_B: list[np.ndarray] = []
        kids_X: list[np.ndarray] = []
        kids_K: list[np.ndarray] = []
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
    sched, k = finish(cost, pi, res, st, obj)
    wall = time.perf_counter() - t0
    stats = GaStats(population=P, elite=E, generations=done, generation_cap=gens, evaluations=evals,
                    evals_per_s=evals / t_eval if t_eval > 0 else 0.0, decodes=evals - hits, cache_hits=hits,
                    decodes_per_s=(evals - hits) / t_eval if t_eval > 0 else 0.0,
                    deterministic=bool(fixed and not stopped_by_time), best_per_generation=tuple(best_per_gen),
                    units=enc.n_units, streams=enc.n_streams, best_from=label,
                    placements_used=int(np.unique(pi).size), stretched_tasks=k)
    return SolveResult(sched, "heuristic", score(sched, cost, obj), trace=tuple(trace), stats=stats,
                       message=f"genetic search: {done} generations x {P} genomes, best from {label}"
                       + (" (+stretch)" if k else "")
                       + (f" (stopped by the time limit before the {gens} planned generations: this machine "
                          "decodes slower than the reference, so the result may differ between runs; raise "
                          "--time-limit for a reproducible run)" if stopped_by_time else ""),
                       solver="ga", wall_time=wall)


def _tournament(rng: np.random.Generator, fit: np.ndarray, size: int) -> int:
    c = rng.integers(fit.size, size=min(size, fit.size))
    return int(c[np.argmin(fit[c])])
