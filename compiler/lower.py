"""Lowering a `Spec` to the computation execution graph (DESIGN.md section 4).

One task per (model, phase, micro-batch, layer segment, decode step). Decisions:

- Micro-batches and variable lengths: request j of a phase has length `lengths[j % len(lengths)]` (prompt
  length for prefill, context length for decode, sequence length for forward) and joins micro-batch
  `j % mb` (round robin), `mb = min(batch, ServeSpec.microbatches)`. So sizes differ by at most one (the first
  `batch % mb` micro-batches take the extra request) and sum to `batch` exactly; when the number of lengths
  divides `mb`, micro-batch i holds only `lengths[i % len(lengths)]` (each micro-batch its own length); with
  fewer micro-batches than lengths a micro-batch holds several lengths (ragged batching, no padding): its
  weight GEMMs see all its tokens at once and attention runs per length. Either way the graph holds the real mix, not
  an average. `Task.seq` is the longest length in the micro-batch (decode: the width); `Task.context` the
  longest context.
- Decode: a decode length is the KV length the first step attends to (the cache including that step's new
  tokens); step t attends to `context = length + t * width` keys. Step t+1 depends on step t: an edge from
  step t's last segment to step t+1's first segment carries the sampled token ids, and an edge per segment
  (kind "kv") carries the K/V of the new tokens written by step t for those layers.
- Prefill and decode of one serve are independent request sets (a serving snapshot: new prompts and ongoing
  generations in one iteration, PD fusion), so there is no edge between phases. They share weights:
  `weight_key = f"{model}/L{first}-{last}"` for every phase and micro-batch.
- Edges between consecutive segments of one micro-batch carry the segment's output activations
  (`T * hidden * dtype` for transformers, the last layer's output feature map for CNNs).
- `Task.tokens` (last segment only): prefill: one per sequence (the first generated token); decode:
  `batch * width` per step; forward: one per input (image classified / sequence encoded).
- Request mixes (`requests "file.csv"`, `PhaseSpec.linked`): the decode phase continues the prefill's requests
  (request j in micro-batch j % mb of both phases). Request j decodes `outputs[j]` steps and then leaves its
  micro-batch (continuous batching by iteration: step t of micro-batch i batches only the requests still
  generating, each at its own context); a micro-batch with no request left has no further tasks. Step 0 of
  each segment depends on the same micro-batch's prefill of that segment: under `pd disaggregated` the edge
  carries the prompt's K/V for the segment's layers (`sum(prompt) * layers * kv_width * dtype`; `kv_width` is
  2 * kv_heads * head_dim, or the latent plus RoPE key under MLA; kind "kv", moved from the prefill to the
  decode cores); otherwise (fused: the KV stays in the shared DRAM) it carries only the first sampled token ids.
- Task ids: serves in order, phases in order, then (decode) step, micro-batch, segment: every edge goes from a
  lower to a higher id.
"""

from __future__ import annotations

from typing import Any

from mapc.core.graph import Edge, ExecutionGraph, Operator, Task
from mapc.compiler.graph_ops import graph_segment
from mapc.compiler.ops import TOKEN_ID_BYTES, cnn_segment, param_count, transformer_segment_mixed
from mapc.core.spec import CNNModel, GraphModel, Model, Phase, PhaseSpec, ServeSpec, Spec, TransformerModel
from mapc.core.errors import DslError


def split_batch(batch: int, microbatches: int) -> tuple[int, ...]:
    """Micro-batch sizes: as even as possible, larger ones first, summing to `batch` (no empty micro-batch)."""
    if batch < 1:
        raise DslError(f"batch must be >= 1, got {batch}")
    if microbatches < 1:
        raise DslError(f"microbatches must be >= 1, got {microbatches}")
    mb = min(batch, microbatches)
    q, r = divmod(batch, mb)
    return tuple(q + 1 if i < r else q for i in range(mb))


def segments(n_layers: int, segment: int) -> tuple[tuple[int, int], ...]:
    """(first, last) inclusive layer ranges of `segment` layers each; the last one may be shorter."""
    return tuple((a, min(a + segment, n_layers) - 1) for a in range(0, n_layers, segment))


def lower(spec: Spec, *, segment: int | None = None) -> ExecutionGraph:
    """Build the execution graph of `spec.workload` with `segment` layers per task (default
    `spec.parallel.segment`)."""
    seg = spec.parallel.segment if segment is None else segment
    if not isinstance(seg, int) or seg < 1:
        raise DslError(f"segment (layers per task) must be a positive integer, got {seg!r}")
    wl = spec.workload
    if wl is None:
        raise DslError(f"{spec.file}: no workload to compile (add a `workload` block)")
    if not wl.serves:
        raise DslError(f"workload {wl.name} serves no model")
    tasks: list[Task] = []
    edges: list[Edge] = []
    summary: list[dict[str, Any]] = []
    for sv in wl.serves:
        m = spec.models.get(sv.model)
        if m is None:
            known = ", ".join(sorted(spec.models)) or "none"
            raise DslError(f"workload {wl.name} serves unknown model {sv.model!r} (known: {known})", sv.loc)
        phases: list[dict[str, Any]] = []
        prefill_ids: dict[tuple[int, int], int] = {}
        for ph in sv.phases:
            sizes = _lower_phase(m, sv, ph, seg, tasks, edges, prefill_ids, spec.parallel.pd == "disaggregated")
            phases.append({"phase": ph.phase, "batch": ph.batch, "lengths": list(ph.lengths),
                           "steps": ph.steps, "width": ph.width, "microbatches": len(sizes),
                           "microbatch_sizes": list(sizes), "linked": ph.linked, "outputs": list(ph.outputs)})
        summary.append({"model": sv.model, "kind": "cnn" if isinstance(m, CNNModel) else
                        "onnx" if isinstance(m, GraphModel) else "transformer",
                        "params": param_count(m), "phases": phases})
    models = tuple(dict.fromkeys(sv.model for sv in wl.serves))
    wbytes: dict[str, float] = {}
    for t in tasks:
        if t.weight_bytes > wbytes.get(t.weight_key, -1.0):
            wbytes[t.weight_key] = t.weight_bytes
    meta = {
        "workload": wl.name, "models": list(models), "serves": summary, "segment": seg,
        "tasks": len(tasks), "edges": len(edges),
        "total_flops": float(sum(t.flops for t in tasks)),
        "weight_bytes": float(sum(wbytes.values())),       # largest weight read of each weight set
        "kv_read_bytes": float(sum(t.kv_read_bytes for t in tasks)),
        "kv_write_bytes": float(sum(t.kv_write_bytes for t in tasks)),
        "tokens": int(sum(t.tokens for t in tasks)),
        "ttft_slo": wl.ttft_slo, "tpot_slo": wl.tpot_slo, "pd": spec.parallel.pd,
    }
    return ExecutionGraph(tuple(tasks), tuple(edges), models, meta)


def _lower_phase(m: Model, sv: ServeSpec, ph: PhaseSpec, seg: int, tasks: list[Task], edges: list[Edge],
                 prefill_ids: dict[tuple[int, int], int], disaggregated: bool = False) -> tuple[int, ...]:
    name = sv.model
    if isinstance(m, (CNNModel, GraphModel)):
        if ph.phase != "forward":
            raise DslError(f"model {name} is a CNN: it has only a forward phase, not {ph.phase}", ph.loc)
        n_layers = len(m.layers)
    elif isinstance(m, TransformerModel):
        if m.encoder_only and ph.phase != "forward":
            raise DslError(f"model {name} is encoder-only: it has only a forward phase, not {ph.phase}", ph.loc)
        n_layers = m.layers
    else:
        raise DslError(f"model {name}: unsupported model type {type(m).__name__}")
    if not ph.lengths or min(ph.lengths) < 1:
        raise DslError(f"model {name} {ph.phase}: lengths must be positive, got {ph.lengths}", ph.loc)
    if ph.steps < 1 or ph.width < 1:
        raise DslError(f"model {name} {ph.phase}: steps and width must be >= 1", ph.loc)
    sizes = split_batch(ph.batch, sv.microbatches)
    groups = microbatch_lengths(ph.batch, len(sizes), ph.lengths)
    if ph.outputs and len(ph.outputs) != ph.batch:
        raise DslError(f"model {name} decode: {len(ph.outputs)} output lengths for {ph.batch} requests", ph.loc)
    if ph.linked and (ph.phase != "decode" or not prefill_ids):
        raise DslError(f"model {name}: a linked decode phase needs the serve's prefill phase before it", ph.loc)
    prompts = microbatch_lengths(ph.batch, len(sizes), tuple(L - ph.width for L in ph.lengths)) if ph.linked else ()
    segs = segments(n_layers, seg)
    last_seg = len(segs) - 1
    dt = m.dtype_bytes
    # K and V bytes per token per layer (transformers; a CNN has neither decode steps nor linked phases)
    kv_token = m.kv_width * dt if isinstance(m, TransformerModel) else 0.0   # K and V (or MLA's latent) per token
    steps = ph.steps if ph.phase == "decode" else 1
    prev_step: list[list[int]] = [[] for _ in sizes]      # task ids of the previous decode step, per mb
    prev_b: list[int] = list(sizes)                        # its batch (requests still generating)
    prev_act = 0.0                                         # output bytes of the previous segment
    for t in range(steps):
        for i, b in enumerate(sizes):
            grp = groups[i]
            if ph.outputs:      # requests still generating at step t (continuous batching)
                grp, b = _active(ph, len(sizes), i, t)
                if b == 0:
                    continue
            ids: list[int] = []
            for s, (first, last) in enumerate(segs):
                if isinstance(m, (CNNModel, GraphModel)):
                    ops = cnn_segment(m, b, first, last) if isinstance(m, CNNModel) else \
                        graph_segment(m, b, first, last)
                    seq, ctx, act = 1, 0, ops[-1].out_bytes
                    tokens = b if s == last_seg else 0
                elif ph.phase == "decode":
                    seq, ctx = ph.width, max(L for _, L in grp) + t * ph.width
                    ops = _mixed_segment(m, "decode", grp, ph.width, t, first, last)
                    act = b * seq * m.hidden * dt
                    tokens = b * ph.width if s == last_seg else 0
                else:
                    seq, ctx = max(L for _, L in grp), 0
                    ops = _mixed_segment(m, ph.phase, grp, 0, 0, first, last)
                    act = sum(c * L for c, L in grp) * m.hidden * dt
                    tokens = b if s == last_seg else 0
                tid = len(tasks)
                step_tag = f"/s{t}" if ph.phase == "decode" else ""
                tasks.append(Task(id=tid, name=f"{name}/{ph.phase}/mb{i}{step_tag}/L{first}-{last}", model=name,
                                  phase=ph.phase, microbatch=i, layers=(first, last), ops=ops,
                                  weight_key=f"{name}/L{first}-{last}", batch=b, seq=seq, context=ctx,
                                  tokens=tokens, step=t))
                if ph.phase == "prefill":
                    prefill_ids[(i, s)] = tid
                if s > 0:
                    edges.append(Edge(ids[-1], tid, float(prev_act), "act"))
                if ph.linked and t == 0:
                    nl = last - first + 1
                    if disaggregated:   # the prompt's K/V of these layers moves to the decode cores
                        kv = sum(c * L for c, L in prompts[i]) * nl * kv_token
                        edges.append(Edge(prefill_ids[(i, s)], tid, float(kv), "kv"))
                    elif s == 0:        # fused: the KV stays in shared DRAM; the first token ids
                        edges.append(Edge(prefill_ids[(i, last_seg)], tid, float(b * TOKEN_ID_BYTES), "act"))
                if t > 0:
                    p = prev_step[i]
                    nl = last - first + 1
                    pb = prev_b[i]      # the K/V written and tokens sampled by step t-1's requests
                    kv_new = pb * ph.width * kv_token * nl
                    tok = float(pb * ph.width * TOKEN_ID_BYTES)
                    if s == 0 and last_seg == 0:    # one segment: the KV and the token ids share one edge
                        edges.append(Edge(p[0], tid, float(kv_new) + tok, "kv"))
                    else:
                        edges.append(Edge(p[s], tid, float(kv_new), "kv"))
                        if s == 0:
                            edges.append(Edge(p[last_seg], tid, tok, "act"))
                ids.append(tid)
                prev_act = act
            prev_step[i] = ids
            prev_b[i] = b
    return sizes


def _active(ph: PhaseSpec, mb: int, i: int, t: int) -> tuple[tuple[tuple[int, int], ...], int]:
    """(count, length) groups and size of micro-batch i at decode step t: the requests j = i, i + mb, ... whose
    `outputs[j] > t` (the rest have finished)."""
    d: dict[int, int] = {}
    L = len(ph.lengths)
    for j in range(i, ph.batch, mb):
        if ph.outputs[j] > t:
            d[ph.lengths[j % L]] = d.get(ph.lengths[j % L], 0) + 1
    return tuple((c, ln) for ln, c in sorted(d.items())), sum(d.values())


def microbatch_lengths(batch: int, mb: int, lengths: tuple[int, ...]) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per micro-batch, its (count, length) groups sorted by length: request j has length
    `lengths[j % len(lengths)]` and joins micro-batch `j % mb`."""
    counts: list[dict[int, int]] = [{} for _ in range(mb)]
    L = len(lengths)
    for j in range(batch):
        d = counts[j % mb]
        d[lengths[j % L]] = d.get(lengths[j % L], 0) + 1
    return tuple(tuple((c, ln) for ln, c in sorted(d.items())) for d in counts)


def _mixed_segment(m: TransformerModel, phase: Phase, groups: tuple[tuple[int, int], ...], width: int, step: int,
                   first: int, last: int) -> tuple[Operator, ...]:
    """A segment's operators for a micro-batch of (count, length) groups: weights read once for all tokens,
    attention per length (`ops.transformer_segment_mixed`)."""
    if phase == "decode":
        g = tuple((c, width, length + step * width) for c, length in groups)
    else:
        g = tuple((c, length, 0) for c, length in groups)
    return transformer_segment_mixed(m, phase, g, first, last)
