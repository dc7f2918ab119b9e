"""`mapc serve`: serving under request traffic, simulated iteration by iteration with compiled iteration costs.

    mapc serve FILE --hw HW --arrivals poisson:RATE|gamma:RATE,CV|trace.csv (--duration S | --requests N)
               [--rates R1,R2,...] [--lengths sharegpt|govreport] [--chunk TOKENS] [--max-batch N]
               [--pim policy|auto|off] [--exact] [--seed N] [-o DIR] [--json]

What runs: the decoder models FILE serves, under its `parallel` block (tensor, pipeline, placement, segment,
`pd`), its micro-batch count, decode width and SLO (`slo ttft .. tpot ..`). Requests come from
`mapc.compiler.traffic` and go through the discrete-event engine `mapc.compiler.serve_sim` (continuous batching,
chunked prefill, KV capacity with preemption, PD fused or disaggregated). Every iteration's time is the makespan
of a compiled schedule: the iteration (its decode batch at its mean context plus the prefill admitted to it) is
written as a workload, lowered with `api.lower` (on FILE's parallel block and the hardware) and scheduled with
`api.solve` (`--solver`, default greedy, objective latency), cached on the bucketing grid of
`mapc.compiler.serve_cost` (`--exact`: one schedule per distinct iteration instead).

Decisions (where the issue is silent):

* FILE goes through `api.lower` first, so it gets the same verdict as `mapc compile` (memory, parallel degrees).
  Under `pd auto` the split `api.solve` chooses for FILE's own workload is the one simulated.
* The running-request cap (`--max-batch`) defaults to the largest decode batch FILE's workload gives (a
  request mix's size), else 64. The KV cache holds the package's DRAM/HBM capacity as the compile's memory check
  counts it, minus every served model's weights.
* Iteration shapes are priced on the hardware with its DRAM capacity lifted: the simulator enforces the KV
  capacity itself, while `api.lower`'s memory check is for one static mix and would refuse a bucketing corner
  above the capacity; capacity never enters a price (`mapc.hw.cost`).
* PIM (hardware with PIM units): `--pim policy` (default) applies `mapc policy`'s dispatch per iteration (its
  thresholds, `mapc.apps.policy.dispatch_policy` at the traffic's mean decode context: a decode task of a
  micro-batch of b requests at width w sends the classes `classes_for(b, w)` to PIM; prefill stays on the
  chiplets); `auto` lets the cost model decide per kernel and placement; `off` never uses PIM; `all` sends every
  PIM-capable kernel there (a PIM-only design); a list of kernel classes is a static mapping (`attention`: the
  AttAcc-style split, attention on PIM and the FC layers on the cores). Elsewhere PIM is off.
* Non-decoder serves (CNNs, encoders) are not part of the request traffic; they are listed in the notes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from rich.markup import escape
from rich.table import Table

from mapc import api
from mapc.apps.common import console, nonempty, positive_float, positive_int, print_json, progress, seed_int
from mapc.apps.policy import dispatch_policy
from mapc.compiler import plots, serving
from mapc.compiler import serve_report as rep
from mapc.compiler import traffic as tr
from mapc.compiler.files import check_output_dir, jsonable, write_dir_atomic
from mapc.compiler.report import fmt_si
from mapc.compiler.serve_cost import IterationPricer, Point, PricerStats
from mapc.compiler.serve_sim import EngineConfig, SimResult, pool_link, simulate
from mapc.core.errors import EXIT_OK, MapcError
from mapc.core.graph import Task
from mapc.core.hardware import Hardware
from mapc.core.options import DEFAULT_SOLVER, SolveOptions
from mapc.core.spec import ParallelSpec, PhaseSpec, ServeSpec, Spec, TransformerModel, WorkloadSpec
from mapc.hw.pim import CLASSES, check_classes

SCHEMA = "mapc.serve/1"
OUTPUT_FILES = ("requests.csv", "serve.json", "sweep.csv", "latency_throughput.png")
DEFAULT_MAX_BATCH = 64
PIM_MODES = ("policy", "auto", "off", "all")
LIFTED_CAPACITY = float(2 ** 60)      # bytes: DRAM capacity of the pricing copy of the hardware (module doc)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ServeOptions:
    """The knobs of one `mapc serve` run (the command-line options)."""

    arrivals: tr.Arrivals
    requests: int | None = None
    duration: float | None = None
    rates: tuple[float, ...] = ()
    lengths: str = "sharegpt"
    seed: int = 0
    max_batch: int | None = None
    chunk: int = 0
    pim: str = "policy"
    solver: str = DEFAULT_SOLVER
    time_limit: float = 5.0
    exact: bool = False
    parallel: ParallelSpec | None = None     # override FILE's parallel block (bench/serve_bench.py)


@dataclass(frozen=True)
class Setup:
    """What the engine runs under, resolved from the file: the decoders served, their micro-batches, decode
    widths and contexts, the parallel block (a concrete PD mode), the engine settings and the PIM dispatch."""

    spec: Spec
    hw: Hardware
    parallel: ParallelSpec
    models: tuple[str, ...]
    microbatches: dict[str, int]
    max_seq: dict[str, int]
    engine: EngineConfig
    pim: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServeReport:
    setup: Setup
    runs: tuple[tuple[float | None, SimResult], ...]
    summaries: tuple[dict[str, Any], ...]
    pricing: PricerStats
    wall_s: float
    notes: tuple[str, ...] = field(default=())


# ---- setup -------------------------------------------------------------------------------------------------
def decoders(spec: Spec) -> tuple[str, ...]:
    """The served decoder transformers of the spec's workload, in order."""
    wl = spec.workload
    out = []
    for sv in (wl.serves if wl else ()):
        m = spec.models.get(sv.model)
        if isinstance(m, TransformerModel) and not m.encoder_only:
            out.append(sv.model)
    return tuple(out)


def kv_bytes_per_token(m: TransformerModel) -> float:
    """K and V of one token in every layer: 2 x layers x kv_heads x head_dim x dtype bytes."""
    return 2.0 * m.layers * m.kv_heads * m.head_dim * m.dtype_bytes


def _phase_batch(sv: ServeSpec) -> int:
    return max((ph.batch for ph in sv.phases if ph.phase == "decode"), default=0)


def _width(sv: ServeSpec) -> int:
    return max((ph.width for ph in sv.phases if ph.phase == "decode"), default=1)


def setup(spec: Spec, hw: Hardware, options: ServeOptions, progress: Progress = lambda s: None) -> Setup:
    """Resolve the file (module doc): checks as compile, the PD mode, the engine settings."""
    workload = spec.workload
    if workload is None:
        raise MapcError(f"{spec.file}: no workload to serve", hint="add a `workload` block serving a decoder model")
    models = decoders(spec)
    if not models:
        raise MapcError(f"{spec.file}: the workload serves no decoder model; mapc serve simulates prefill/decode "
                        "requests", hint="serve a decoder transformer (e.g. `serve llama2_7b`)")
    if options.parallel is not None:
        spec = replace(spec, parallel=options.parallel)
    progress(f"checking {spec.file} on {hw.name}")
    problem = api.lower(spec, hw)
    par = spec.parallel
    notes: list[str] = []
    if par.pd == "auto":
        progress("pd auto: compiling the file's workload to choose the split")
        r = api.solve(problem, SolveOptions(solver=options.solver, time_limit=options.time_limit, seed=options.seed,
                                            threads=1))
        par = r.problem.parallel
        notes.append(f"pd auto: the compile of the file's workload chose {r.problem.label or par.pd}; simulated")
    assert problem.memory is not None
    capacity = problem.memory.capacity - problem.memory.weights
    serves = {sv.model: sv for sv in workload.serves}
    others = [sv.model for sv in workload.serves if sv.model not in models]
    if others:
        notes.append("not in the request traffic (not decoders): " + ", ".join(others))
    tms = {m: spec.models[m] for m in models}
    batch = options.max_batch or max(_phase_batch(serves[m]) for m in models) or DEFAULT_MAX_BATCH
    link_bw = link_lat = 0.0
    if par.pd == "disaggregated":
        regions = serving.regions_for(par, hw)
        assert regions is not None
        link_bw, link_lat = pool_link(hw, regions["prefill"], regions["decode"])
    engine = EngineConfig(max_batch=batch, kv_capacity=capacity,
                          kv_bytes={m: kv_bytes_per_token(t) for m, t in tms.items() if isinstance(t, TransformerModel)},
                          width={m: _width(serves[m]) for m in models}, chunk=options.chunk,
                          disaggregated=par.pd == "disaggregated", link_bw=link_bw, link_latency=link_lat)
    pim = options.pim if hw.pim else "off"
    if not hw.pim and options.pim != "off":
        notes.append(f"{hw.name} has no PIM units: PIM dispatch is off")
    return Setup(spec, hw, par, models, {m: serves[m].microbatches for m in models},
                 {m: int(getattr(tms[m], "max_seq", 4096)) for m in models}, engine, pim, tuple(notes))


def iteration_spec(st: Setup, p: Point) -> Spec:
    """The workload of one iteration (a grid or exact point) of one model, under the setup's parallel block."""
    phases = []
    if p.prefill_lengths:
        phases.append(PhaseSpec("prefill", len(p.prefill_lengths), p.prefill_lengths))
    if p.batch:
        phases.append(PhaseSpec("decode", p.batch, (p.context,), 1, p.width))
    wl = WorkloadSpec("iteration", (ServeSpec(p.model, tuple(phases), st.microbatches[p.model]),))
    return replace(st.spec, workload=wl, parallel=st.parallel)


def pricing_hardware(hw: Hardware) -> Hardware:
    """The hardware with its DRAM/PIM capacity lifted (module doc: the engine enforces the KV capacity)."""
    return replace(hw, dram=tuple(replace(c, capacity=LIFTED_CAPACITY) for c in hw.dram),
                   pim=tuple(replace(u, capacity=LIFTED_CAPACITY) for u in hw.pim))


def pim_dispatch(st: Setup, context: int) -> Any:
    """The `pim` argument of `api.lower` for the setup's mode: the policy as a callable per task."""
    if st.pim in ("auto", "off", "all"):
        return st.pim
    if st.pim != "policy":                          # a static mapping: these kernel classes always on PIM
        return check_classes(c.strip() for c in st.pim.split(","))
    widths = sorted(set(st.engine.width.values()))
    pols = {m: dispatch_policy(st.spec.models[m], st.hw, tuple(widths), tuple(range(1, st.engine.max_batch + 1)),
                               context=max(1, min(context, st.max_seq[m])), schedules=False) for m in st.models}

    def classes(task: Task) -> Iterable[str]:
        if task.phase != "decode" or task.model not in pols:
            return frozenset()
        return pols[task.model].classes_for(task.batch, max(1, task.seq))

    return classes


def make_pricer(st: Setup, options: ServeOptions, context: int, progress: Progress = lambda s: None) -> IterationPricer:
    """The iteration pricer of a setup: each point lowered (`api.lower`) and scheduled (`api.solve`)."""
    hw = pricing_hardware(st.hw)
    pim = pim_dispatch(st, context)
    so = SolveOptions(solver=options.solver, objective="latency", time_limit=options.time_limit, seed=options.seed,
                      threads=1)
    count = [0]

    def solve(p: Point) -> float:
        count[0] += 1
        if count[0] % 10 == 0:
            progress(f"simulating: {count[0]} iteration schedules compiled")
        r = api.solve(api.lower(iteration_spec(st, p), hw, pim=pim), so)
        return float(r.metrics.makespan)

    return IterationPricer(solve, exact=options.exact, exact_seqs=max(st.microbatches.values()))


# ---- traffic and runs --------------------------------------------------------------------------------------
def traffic(st: Setup, options: ServeOptions, rate: float | None) -> tuple[tr.Request, ...]:
    """The requests of one run: the trace (limited by --requests / --duration, rescaled to `rate`), or a
    generated process at `rate` (default the one in --arrivals)."""
    a = options.arrivals
    if a.kind == "trace":
        reqs = tr.read_trace(a.path, st.models, st.max_seq)
        if options.duration is not None:
            reqs = tuple(r for r in reqs if r.arrival < options.duration)
        if options.requests is not None:
            reqs = reqs[:options.requests]
        if not reqs:
            raise MapcError(f"trace {a.path}: no request within the --duration / --requests limit")
        return tr.rescale(reqs, rate) if rate is not None else reqs
    dist = tr.check_lengths(options.lengths)
    return tr.generate(a, dist, st.models, st.max_seq, options.seed, n=options.requests, duration=options.duration,
                       rate=rate)


def serve(spec: Spec, hw: Hardware, options: ServeOptions, progress: Progress = lambda s: None) -> ServeReport:
    """Simulate the file's serving under the traffic of `options` at each rate (module doc)."""
    t0 = time.perf_counter()
    tr.check_lengths(options.lengths)
    st = setup(spec, hw, options, progress)
    rates: tuple[float | None, ...] = options.rates or (None,)
    loads = [(r, traffic(st, options, r)) for r in rates]
    if not any(reqs for _, reqs in loads):
        raise MapcError("no request arrives within --duration", hint="raise --duration or the rate")
    first = next(reqs for _, reqs in loads if reqs)
    ctx = int(sum(r.prompt + r.output / 2 for r in first) / len(first))
    pricer = make_pricer(st, options, ctx, progress)
    runs, sums = [], []
    for rate, reqs in loads:
        progress(f"simulating {len(reqs)} requests" + (f" at {rate:g}/s" if rate is not None else ""))
        sim = simulate(reqs, st.engine, pricer)
        offered = rate if rate is not None else (options.arrivals.rate or tr.trace_rate(reqs))
        runs.append((rate, sim))
        sums.append(rep.summarise(sim, st.spec.workload.ttft_slo if st.spec.workload else None,
                                  st.spec.workload.tpot_slo if st.spec.workload else None, offered))
    return ServeReport(st, tuple(runs), tuple(sums), pricer.stats, time.perf_counter() - t0, st.notes)


# ---- outputs -----------------------------------------------------------------------------------------------
def to_doc(r: ServeReport, options: ServeOptions) -> dict[str, Any]:
    st, e = r.setup, r.setup.engine
    wl = st.spec.workload
    return {
        "schema": SCHEMA, "input": {"file": st.spec.file, "sha256": st.spec.sha256}, "hardware": st.hw.name,
        "models": list(st.models), "arrivals": options.arrivals.label(),
        "lengths": None if options.arrivals.kind == "trace" else {
            "name": options.lengths, "source": tr.LENGTHS[options.lengths].source},
        "seed": options.seed,
        "engine": {"max_batch": e.max_batch, "chunk_tokens": e.chunk or None, "pd": st.parallel.pd,
                   "pd_prefill": st.parallel.pd_prefill, "pd_decode": st.parallel.pd_decode,
                   "kv_capacity_bytes": e.kv_capacity, "kv_bytes_per_token": e.kv_bytes, "width": e.width,
                   "microbatches": st.microbatches, "kv_link_bandwidth_bytes_per_s": e.link_bw or None,
                   "kv_link_latency_s": e.link_latency or None},
        "pim": st.pim, "solver": options.solver,
        "pricing": {"bucketing": "exact" if options.exact else "grid", **r.pricing.to_dict()},
        "slo": {"ttft_s": wl.ttft_slo if wl else None, "tpot_s": wl.tpot_slo if wl else None},
        "runs": list(r.summaries), "rate_goodput_per_s": rep.rate_goodput(list(r.summaries)),
        "notes": list(r.notes), "wall_s": r.wall_s,
    }


def write_serve(out_dir: str | os.PathLike, r: ServeReport, options: ServeOptions) -> list[str]:
    """requests.csv and serve.json, and with --rates sweep.csv and latency_throughput.png, atomically."""
    wl = r.setup.spec.workload
    ttft, tpot = (wl.ttft_slo, wl.tpot_slo) if wl else (None, None)
    doc = to_doc(r, options)

    def build(tmp: Path) -> None:
        (tmp / "requests.csv").write_text(rep.requests_csv(list(r.runs), ttft, tpot), encoding="utf-8")
        (tmp / "serve.json").write_text(json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        if options.rates:
            (tmp / "sweep.csv").write_text(rep.sweep_csv(list(r.summaries)), encoding="utf-8")
            pts = [(s["rate_per_s"], s["throughput_requests_per_s"], s["ttft_s"]["p50"], s["ttft_s"]["p99"],
                    s["tpot_s"]["p99"] or 0.0) for s in r.summaries]
            plots.render_latency_throughput([(f"{r.setup.parallel.pd}", pts)], tmp / "latency_throughput.png",
                                            ttft, tpot, f"{Path(r.setup.spec.file).name} on {r.setup.hw.name}")

    return write_dir_atomic(out_dir, build, OUTPUT_FILES)


def table(r: ServeReport) -> Table:
    t = Table(title=escape(f"{Path(r.setup.spec.file).name} on {r.setup.hw.name}: {', '.join(r.setup.models)} "
                           f"(pd {r.setup.parallel.pd}, pim {r.setup.pim})"))
    for c in ("rate/s", "reqs", "req/s", "tok/s", "TTFT p50", "p90", "p99", "TPOT p50", "p90", "p99", "E2E p99",
              "SLO met", "goodput req/s", "preempt"):
        t.add_column(c, justify="right")

    def ms(x: float | None) -> str:
        return "-" if x is None else fmt_si(x, "s")

    for s in r.summaries:
        slo = s["slo"]
        t.add_row("-" if s["rate_per_s"] is None else f"{s['rate_per_s']:.3g}", str(s["requests"]),
                  f"{s['throughput_requests_per_s']:.3g}", f"{s['throughput_output_tokens_per_s']:,.0f}",
                  *(ms(s["ttft_s"][q]) for q in ("p50", "p90", "p99")), *(ms(s["tpot_s"][q]) for q in ("p50", "p90", "p99")),
                  ms(s["e2e_s"]["p99"]), "-" if slo["attainment"] is None else f"{slo['attainment']:.1%}",
                  "-" if slo["goodput_requests_per_s"] is None else f"{slo['goodput_requests_per_s']:.3g}",
                  str(s["preemptions"]))
    return t


# ---- command line ------------------------------------------------------------------------------------------
def _rates(s: str) -> tuple[float, ...]:
    out = []
    for x in s.split(","):
        out.append(positive_float(x.strip()))
    return tuple(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `mapc serve`."""
    p.add_argument("file", type=nonempty, help="mapc source file serving a decoder model")
    p.add_argument("--hw", type=nonempty, help="preset or hardware file (default: the file's hardware block)")
    p.add_argument("--arrivals", required=True, metavar="A",
                   help="poisson:RATE (requests/s), gamma:RATE,CV, or a CSV trace arrival_s,prompt_tokens,"
                        "output_tokens[,model]")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--duration", type=positive_float, metavar="S", help="simulate the requests arriving in S seconds")
    g.add_argument("--requests", type=positive_int, metavar="N", help="simulate N requests")
    p.add_argument("--rates", type=_rates, default=(), metavar="R1,R2,...",
                   help="sweep the arrival rate (requests/s): sweep.csv and latency_throughput.png")
    p.add_argument("--lengths", choices=tuple(tr.LENGTHS), default="sharegpt",
                   help="prompt/output length distribution of generated requests (default sharegpt)")
    p.add_argument("--chunk", type=positive_int, default=0, metavar="TOKENS",
                   help="chunked prefill: at most TOKENS prefill tokens per iteration (default: whole prompts)")
    p.add_argument("--max-batch", type=positive_int, default=None, metavar="N",
                   help="running requests per model (default: the file's decode batch, else 64)")
    p.add_argument("--pim", default="policy", metavar="MODE",
                   help="PIM dispatch on PIM hardware: policy (mapc policy's thresholds per step, default), auto (the "
                        "cost model per kernel), off (all on the cores), all (every PIM-capable kernel on PIM), or "
                        f"a static mapping: kernel classes always on PIM, comma-separated ({', '.join(CLASSES)}; "
                        "e.g. attention, AttAcc-style)")
    p.add_argument("--solver", default=DEFAULT_SOLVER, help=f"solver of the iteration schedules (default {DEFAULT_SOLVER})")
    p.add_argument("--time-limit", type=positive_float, default=5.0, metavar="S",
                   help="solver budget per iteration schedule (default 5; greedy needs far less)")
    p.add_argument("--exact", action="store_true",
                   help="one schedule per distinct iteration shape instead of the bucketing grid (slower)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed of the traffic (default 0)")
    p.add_argument("-o", "--out", type=nonempty, metavar="DIR", help="output directory (default ./<stem>.serve/)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def options_from(args: argparse.Namespace) -> ServeOptions:
    """`ServeOptions` of parsed arguments; `MapcError` (exit 2) for a bad combination."""
    arr = tr.parse_arrivals(args.arrivals)
    if arr.kind != "trace" and args.duration is None and args.requests is None:
        raise MapcError(f"--arrivals {args.arrivals} needs --duration S or --requests N",
                        hint="e.g. --requests 1000, or --duration 60")
    api.check_options(SolveOptions(solver=args.solver, objective="latency", time_limit=args.time_limit,
                                   seed=args.seed, threads=1))
    if args.pim not in PIM_MODES:
        check_classes(c.strip() for c in args.pim.split(","))
    return ServeOptions(arr, args.requests, args.duration, tuple(args.rates), args.lengths, args.seed,
                        args.max_batch, args.chunk, args.pim, args.solver, args.time_limit, args.exact)


def cli_main(args: argparse.Namespace) -> int:
    """`mapc serve`: simulate, print the table (or JSON), write the files."""
    options = options_from(args)
    out = Path(args.out) if args.out else Path.cwd() / f"{Path(args.file).stem}.serve"
    check_output_dir(out)
    spec = api.load(args.file)
    hw = api.hardware(args.hw, spec)
    with progress(not args.json, f"reading {args.file}") as step:
        r = serve(spec, hw, options, step)
    files = write_serve(out, r, options)
    if args.json:
        print_json({"ok": True, "command": "serve", "output_dir": str(out), "files": files, **to_doc(r, options)})
        return EXIT_OK
    for n in r.notes:
        print(f"note: {n}", file=sys.stderr)
    console().print(table(r))
    ps = r.pricing
    for s in r.summaries:
        if not s["keeps_up"]:
            at = f"at {s['rate_per_s']:g} requests/s " if s["rate_per_s"] is not None else ""
            print(f"note: {at}the system falls behind: {s['backlog']} of {s['requests']} requests were still waiting "
                  f"for their first token when the last one arrived (served {s['throughput_requests_per_s']:.3g} "
                  f"requests/s); the queue grows for the whole run, so its percentiles depend on --requests",
                  file=sys.stderr)
    g = rep.rate_goodput(list(r.summaries))
    if g is not None:
        print(f"goodput (DistServe): {g:g} requests/s, the highest swept rate with >= 90% of requests meeting the SLO "
              f"that the system keeps up with")
    print(f"{ps.calls:,} iterations priced from {ps.points} compiled schedules "
          f"({'exact shapes' if options.exact else 'bucketing grid'}, {ps.solve_s:.1f} s); {r.wall_s:.1f} s in all; "
          f"wrote {out}{os.sep} ({', '.join(Path(f).name for f in files)})")
    return EXIT_OK
