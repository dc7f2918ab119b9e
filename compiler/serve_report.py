"""What `mapc serve` reports of a simulation: percentiles, throughput, SLO attainment and goodput (SI: s).

* Throughput over the run's span (first arrival to last token): requests/s, output tokens/s, and prompt +
  output tokens/s.
* Percentiles p50/p90/p99 (NumPy's linear interpolation) and means of TTFT, TPOT and end-to-end latency; TPOT
  over the requests with more than one output token.
* SLO (the workload's `slo ttft .. tpot ..`): a request meets it when its TTFT and its TPOT are within the
  targets that are set (a one-token output has no TPOT and meets that target). Goodput, DistServe's (Zhong et
  al., OSDI 2024): requests per second (and their output tokens per second) meeting both, over the same span.
  Over a `--rates` sweep, DistServe's rate goodput is also given: the highest swept rate whose attainment
  reaches 90 % (`ATTAINMENT_GOAL`) and that the system keeps up with.
* Keeping up (`keeps_up`): the requests still waiting for their first token when the last request arrives
  (`backlog`) are at most `BACKLOG_LIMIT` of the run. An overloaded system's queue grows for the whole run, so
  its backlog is most of the requests; a stable one's is the few that arrived within one TTFT of the end.
  Without it, a workload that sets only a TPOT target would count any offered rate as goodput (its TPOT is met
  while requests wait in the queue for ever); decided here, the report says which runs fall behind.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np

from mapc.compiler.serve_sim import RequestResult, SimResult

ATTAINMENT_GOAL = 0.9
BACKLOG_LIMIT = 0.1      # fraction of a run's requests still waiting at the last arrival for it to keep up
REQUEST_COLUMNS = ("rate_per_s", "id", "model", "arrival_s", "prompt_tokens", "output_tokens", "first_token_s",
                   "finish_s", "ttft_s", "tpot_s", "e2e_s", "preemptions", "meets_slo")


def stats(values: list[float]) -> dict[str, float | None]:
    """mean, p50, p90, p99, max of `values` (None for each when empty)."""
    if not values:
        return {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    a = np.asarray(values, dtype=np.float64)
    p = np.percentile(a, [50, 90, 99])
    return {"mean": float(a.mean()), "p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2]),
            "max": float(a.max())}


def meets(r: RequestResult, ttft_slo: float | None, tpot_slo: float | None) -> bool:
    """Whether a request meets every SLO target that is set (module doc)."""
    tp = r.tpot
    return (ttft_slo is None or r.ttft <= ttft_slo) and (tpot_slo is None or tp is None or tp <= tpot_slo)


def summarise(sim: SimResult, ttft_slo: float | None, tpot_slo: float | None,
              rate: float | None = None) -> dict[str, Any]:
    """The summary of one simulated run (module doc); `rate` is the offered load it ran at (requests/s)."""
    rs = sim.requests
    t0 = min((r.arrival for r in rs), default=0.0)
    t1 = max((r.finish for r in rs), default=0.0)
    span = t1 - t0
    out_tok = sum(r.output for r in rs)
    in_tok = sum(r.prompt for r in rs)
    per = (lambda x: x / span) if span > 0 else (lambda x: 0.0)
    ok = [r for r in rs if meets(r, ttft_slo, tpot_slo)]
    has_slo = ttft_slo is not None or tpot_slo is not None
    last = max((r.arrival for r in rs), default=0.0)
    backlog = sum(1 for r in rs if r.first_token > last)
    return {
        "rate_per_s": rate, "requests": len(rs), "span_s": span,
        "throughput_requests_per_s": per(len(rs)), "throughput_output_tokens_per_s": per(out_tok),
        "throughput_tokens_per_s": per(out_tok + in_tok),
        "prompt_tokens": in_tok, "output_tokens": out_tok,
        "ttft_s": stats([r.ttft for r in rs]), "tpot_s": stats([t for r in rs if (t := r.tpot) is not None]),
        "e2e_s": stats([r.e2e for r in rs]),
        "slo": {"ttft_s": ttft_slo, "tpot_s": tpot_slo,
                "attainment": (len(ok) / len(rs) if rs else None) if has_slo else None,
                "goodput_requests_per_s": per(len(ok)) if has_slo else None,
                "goodput_output_tokens_per_s": per(sum(r.output for r in ok)) if has_slo else None},
        "backlog": backlog, "keeps_up": backlog <= BACKLOG_LIMIT * len(rs),
        "preemptions": sum(r.preemptions for r in rs),
        "requests_preempted": sum(1 for r in rs if r.preemptions),
        "pools": [{"name": p.name, "iterations": p.iterations, "busy_s": p.busy_s,
                   "utilisation": p.busy_s / span if span > 0 else 0.0, "decode_tokens": p.decode_tokens,
                   "prefill_tokens": p.prefill_tokens, "mean_decode_batch": p.mean_batch} for p in sim.pools],
        "kv_transfers": sim.kv_transfers, "kv_link_busy_s": sim.kv_transfer_s,
    }


def rate_goodput(summaries: list[dict[str, Any]]) -> float | None:
    """DistServe's goodput over a sweep: the highest rate whose SLO attainment reaches `ATTAINMENT_GOAL` and that
    the system keeps up with (None without SLO, rates, or any rate that qualifies)."""
    ok = [s["rate_per_s"] for s in summaries if s["rate_per_s"] is not None and s["slo"]["attainment"] is not None
          and s["slo"]["attainment"] >= ATTAINMENT_GOAL and s.get("keeps_up", True)]
    return max(ok) if ok else None


def requests_csv(runs: list[tuple[float | None, SimResult]], ttft_slo: float | None, tpot_slo: float | None) -> str:
    """requests.csv: one row per request per run (`REQUEST_COLUMNS`; times in s, rate empty for a trace run as
    it is)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(REQUEST_COLUMNS)
    for rate, sim in runs:
        for r in sim.requests:
            tp = r.tpot
            w.writerow(["" if rate is None else f"{rate:g}", r.id, r.model, _f(r.arrival), r.prompt, r.output,
                        _f(r.first_token), _f(r.finish), _f(r.ttft), "" if tp is None else _f(tp), _f(r.e2e),
                        r.preemptions, int(meets(r, ttft_slo, tpot_slo))])
    return buf.getvalue()


def sweep_csv(summaries: list[dict[str, Any]]) -> str:
    """sweep.csv: one row per rate: load, throughput, percentiles, attainment, goodput."""
    cols = ["rate_per_s", "requests", "throughput_requests_per_s", "throughput_output_tokens_per_s"]
    lat = [f"{k}_{q}" for k in ("ttft_s", "tpot_s", "e2e_s") for q in ("p50", "p90", "p99")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols + lat + ["slo_attainment", "goodput_requests_per_s", "preemptions"])
    for s in summaries:
        row = [s[c] for c in cols] + [s[k][q] for k in ("ttft_s", "tpot_s", "e2e_s") for q in ("p50", "p90", "p99")]
        row += [s["slo"]["attainment"], s["slo"]["goodput_requests_per_s"], s["preemptions"]]
        w.writerow(["" if v is None else (_f(v) if isinstance(v, float) else v) for v in row])
    return buf.getvalue()


def _f(x: float) -> str:
    return f"{x:.9g}" if math.isfinite(x) else ""
