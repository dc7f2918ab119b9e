"""Request traffic for `mapc serve`: arrival processes, request-length distributions and CSV traces (SI: s).

Arrivals (`--arrivals`):

* `poisson:RATE`: exponential inter-arrival times of mean 1/RATE (RATE in requests/s), as vLLM's
  `benchmark_serving` and DistServe draw them.
* `gamma:RATE,CV`: gamma inter-arrival times of mean 1/RATE and coefficient of variation CV (shape 1/CV^2,
  scale CV^2/RATE): CV = 1 is Poisson, CV > 1 is bursty traffic (BurstGPT fits gamma inter-arrivals to Azure's
  traces), CV < 1 smoother than Poisson.
* a CSV trace `arrival_s,prompt_tokens,output_tokens[,model]`: one request per row, arrival in seconds from the
  start, token counts >= 1, an optional served model name (default: the first decoder the file serves). A first
  row whose first field is not a number is a header (column names); blank lines and `#` lines are skipped; rows may come in any order (they
  are sorted by arrival, ties kept in file order). A bad row raises `DslError` at the trace's file:line:col
  (exit 2). `--rates` rescales a trace's arrival times so that its mean rate ((n - 1) / span) is each rate.

Lengths (`--lengths`, generated traffic only): log-normal prompt and output lengths with the means of a
published dataset; `LENGTHS` holds each one with its source. No published log-normal *fit* (mean and shape)
was found for either dataset, so each uses a published mean and a shape chosen by us (said below):

* `sharegpt`: ShareGPT conversations, mean prompt 161.31 and mean output 337.99 tokens (Kwon et al., "Efficient
  Memory Management for Large Language Model Serving with PagedAttention" (vLLM), SOSP 2023, Fig. 11a; the
  same figure gives Alpaca 19.31 / 58.45, consistent with its text's "8.4x longer prompts, 5.8x longer
  outputs"). Shape sigma = 1.0 for both (our choice: the figure shows a long right tail; a log-normal of
  sigma 1 has a coefficient of variation of 1.31).
* `govreport`: GovReport long-document summarisation (Huang et al., "Efficient Attentions for Long Document
  Summarization", NAACL 2021), mean report 9,000 and mean summary 500 tokens (the dataset card of
  ccdv/govreport-summarization gives "< 9,000 / < 500" average RoBERTa tokens; we take the bounds). Shape sigma
  0.5 for reports and 0.4 for summaries (our choice: reports vary less than chat turns).

Lengths are rounded to whole tokens >= 1; an output is cut to the model's context minus one token, and a prompt
to the context minus its output (truncation, as serving benchmarks do with prompts longer than the context).

Determinism: lengths, arrivals and the model of each request are drawn from three NumPy PCG64 streams seeded
by (seed, 1), (seed, 2) and (seed, 3), so the same seed gives the same requests, and a `--rates` sweep serves the
same requests (same lengths, same order) at each rate: only the arrival times scale.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from mapc.core.errors import DslError, Loc, MapcError
from mapc.dsl.parser import error_at

TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens", "model")


@dataclass(frozen=True)
class LengthModel:
    """Log-normal prompt and output lengths (tokens): means and shapes (sigma of the underlying normal)."""

    name: str
    prompt_mean: float
    prompt_sigma: float
    output_mean: float
    output_sigma: float
    source: str


LENGTHS: dict[str, LengthModel] = {
    "sharegpt": LengthModel("sharegpt", 161.31, 1.0, 337.99, 1.0,
                            "ShareGPT means from vLLM (Kwon et al., SOSP 2023, Fig. 11a); log-normal shape 1.0 "
                            "chosen by mapc"),
    "govreport": LengthModel("govreport", 9000.0, 0.5, 500.0, 0.4,
                             "GovReport (Huang et al., NAACL 2021) means from the ccdv/govreport-summarization "
                             "dataset card (< 9,000 / < 500 tokens); log-normal shapes 0.5 / 0.4 chosen by mapc"),
}


@dataclass(frozen=True)
class Request:
    """One request: arrival time (s), prompt and output lengths (tokens), the served model it goes to."""

    id: int
    arrival: float
    prompt: int
    output: int
    model: str


@dataclass(frozen=True)
class Arrivals:
    """A parsed `--arrivals` value: kind poisson | gamma (rate in requests/s, cv) or trace (path)."""

    kind: Literal["poisson", "gamma", "trace"]
    rate: float = 0.0
    cv: float = 1.0
    path: str = ""

    def label(self) -> str:
        if self.kind == "trace":
            return f"trace {self.path}"
        return f"poisson {self.rate:g}/s" if self.kind == "poisson" else f"gamma {self.rate:g}/s cv {self.cv:g}"


def parse_arrivals(text: str) -> Arrivals:
    """`poisson:RATE`, `gamma:RATE,CV` or the path of a CSV trace; `MapcError` (exit 2) otherwise."""
    s = text.strip()
    hint = "use poisson:RATE (requests/s), gamma:RATE,CV, or the path of a CSV trace"
    kind, sep, rest = s.partition(":")
    if sep and kind in ("poisson", "gamma"):
        parts = [x.strip() for x in rest.split(",")]
        want = 1 if kind == "poisson" else 2
        if len(parts) != want:
            raise MapcError(f"--arrivals {s}: {kind} takes {'RATE' if want == 1 else 'RATE,CV'}", hint=hint)
        vals = []
        for x in parts:
            try:
                v = float(x)
            except ValueError:
                raise MapcError(f"--arrivals {s}: `{x}` is not a number", hint=hint) from None
            if not (v > 0 and math.isfinite(v)):
                raise MapcError(f"--arrivals {s}: `{x}` must be a finite number > 0", hint=hint)
            vals.append(v)
        return Arrivals(kind, vals[0], vals[1] if kind == "gamma" else 1.0)  # type: ignore[arg-type]
    if not os.path.isfile(s):
        raise MapcError(f"--arrivals {s}: no such trace file", hint=hint)
    return Arrivals("trace", path=s)


def check_lengths(name: str) -> LengthModel:
    if name not in LENGTHS:
        raise MapcError(f"unknown length distribution {name!r}", hint="use one of: " + ", ".join(LENGTHS))
    return LENGTHS[name]


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def sample_lengths(dist: LengthModel, n: int, seed: int, max_seq: int) -> tuple[np.ndarray, np.ndarray]:
    """(prompts, outputs): n log-normal lengths each (`LengthModel`), truncated to fit `max_seq` (module doc)."""
    rng = _rng(seed, 1)

    def draw(mean: float, sigma: float) -> np.ndarray:
        return rng.lognormal(math.log(mean) - sigma * sigma / 2.0, sigma, size=n)

    p = np.maximum(1, np.rint(draw(dist.prompt_mean, dist.prompt_sigma))).astype(np.int64)
    o = np.maximum(1, np.rint(draw(dist.output_mean, dist.output_sigma))).astype(np.int64)
    o = np.minimum(o, max(1, max_seq - 1))
    p = np.maximum(1, np.minimum(p, max_seq - o))
    return p, o


def arrival_times(kind: str, rate: float, cv: float, seed: int, *, n: int | None = None,
                  duration: float | None = None) -> np.ndarray:
    """Arrival times (s) of `n` requests, or of every request arriving before `duration`: cumulative sums of
    exponential (poisson) or gamma inter-arrival times of mean 1/rate."""
    rng = _rng(seed, 2)
    k = 1.0 / (cv * cv)

    def gaps(m: int) -> np.ndarray:
        if kind == "poisson":
            return rng.exponential(1.0 / rate, size=m)
        return rng.gamma(k, 1.0 / (rate * k), size=m)

    if n is not None:
        return np.cumsum(gaps(n))
    assert duration is not None
    out = np.cumsum(gaps(int(rate * duration * 1.2) + 16))
    while out[-1] < duration:
        out = np.concatenate([out, out[-1] + np.cumsum(gaps(int(rate * duration * 0.2) + 16))])
    return out[out < duration]


def generate(arr: Arrivals, dist: LengthModel, models: tuple[str, ...], max_seq: dict[str, int], seed: int, *,
             n: int | None = None, duration: float | None = None, rate: float | None = None) -> tuple[Request, ...]:
    """Requests of a poisson or gamma process at `rate` (default the parsed one) with `dist` lengths; each goes
    to one of `models` drawn uniformly. The lengths do not depend on the rate (module doc)."""
    r = arr.rate if rate is None else rate
    t = arrival_times(arr.kind, r, arr.cv, seed, n=n, duration=duration)
    which = _rng(seed, 3).integers(0, len(models), size=len(t)) if len(models) > 1 else np.zeros(len(t), int)
    cap = min(max_seq[m] for m in models)
    p, o = sample_lengths(dist, len(t), seed, cap)
    return tuple(Request(i, float(t[i]), int(p[i]), int(o[i]), models[int(which[i])]) for i in range(len(t)))


def read_trace(path: str, models: tuple[str, ...], max_seq: dict[str, int]) -> tuple[Request, ...]:
    """The requests of a CSV trace (module doc), sorted by arrival; `models` are the served decoders (the first
    is the default); a row longer than its model's context is refused with its line."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    rows: list[tuple[float, int, int, str]] = []
    first = True
    for i, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [x.strip() for x in text.split(",")]
        if first and not _is_number(fields[0]):        # a header row (column names)
            first = False
            continue
        first = False
        rows.append(_row(path, i, line, fields, models, max_seq))
    if not rows:
        raise MapcError(f"trace {path} has no requests", hint="one `arrival_s,prompt_tokens,output_tokens[,model]` "
                                                            "row per request")
    order = sorted(range(len(rows)), key=lambda j: (rows[j][0], j))
    return tuple(Request(k, rows[j][0], rows[j][1], rows[j][2], rows[j][3]) for k, j in enumerate(order))


def _row(path: str, i: int, line: str, fields: list[str], models: tuple[str, ...],
         max_seq: dict[str, int]) -> tuple[float, int, int, str]:
    cols: list[int] = []
    pos = 0
    for x in fields:                                  # 1-based column of each field, for the caret
        at = line.find(x, pos) if x else pos
        cols.append(at + 1)
        pos = at + len(x)
    hint = "each row is arrival_s,prompt_tokens,output_tokens[,model]"
    if len(fields) not in (3, 4):
        raise error_at(f"expected 3 or 4 fields ({','.join(TRACE_COLUMNS)}), got {len(fields)}",
                       Loc(path, i, cols[0]), hint=hint)
    try:
        t = float(fields[0])
    except ValueError:
        t = math.nan
    if not (math.isfinite(t) and t >= 0):
        raise error_at(f"`{fields[0]}` is not an arrival time in seconds >= 0", Loc(path, i, cols[0]), hint=hint)
    vals = []
    for j in (1, 2):
        try:
            v = int(fields[j])
        except ValueError:
            v = 0
        if v < 1:
            raise error_at(f"`{fields[j]}` is not a positive whole number of tokens", Loc(path, i, cols[j]),
                           hint=hint)
        vals.append(v)
    model = fields[3] if len(fields) == 4 and fields[3] else models[0]
    if model not in models:
        raise error_at(f"model `{model}` is not served by the workload", Loc(path, i, cols[3]),
                       hint="served decoders: " + ", ".join(models))
    if vals[0] + vals[1] > max_seq[model]:
        raise error_at(f"prompt {vals[0]} + output {vals[1]} tokens exceed the {max_seq[model]}-token context of "
                       f"`{model}`", Loc(path, i, cols[1]), hint="shorten the request or serve a longer-context model")
    return t, vals[0], vals[1], model


def _is_number(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def rescale(requests: tuple[Request, ...], rate: float) -> tuple[Request, ...]:
    """A trace's requests with arrival times scaled so that its mean rate ((n - 1) / span) is `rate`."""
    if len(requests) < 2:
        return requests
    t0 = requests[0].arrival
    span = requests[-1].arrival - t0
    if span <= 0:
        raise DslError("a trace whose requests all arrive at once has no rate to rescale",
                       hint="give --rates only with a trace whose arrivals span some time")
    f = (len(requests) - 1) / span / rate
    return tuple(replace(r, arrival=t0 + (r.arrival - t0) * f) for r in requests)


def trace_rate(requests: tuple[Request, ...]) -> float | None:
    """Mean arrival rate (requests/s) of a trace, None with fewer than two requests or no span."""
    if len(requests) < 2 or requests[-1].arrival <= requests[0].arrival:
        return None
    return (len(requests) - 1) / (requests[-1].arrival - requests[0].arrival)
