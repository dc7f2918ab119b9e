"""The serving engine of `mapc serve` (mapc.compiler.serve_sim) under a synthetic iteration price."""

from __future__ import annotations

import pytest

from mapc.compiler.serve_cost import Shape
from mapc.compiler.serve_sim import EngineConfig, pool_link, simulate
from mapc.compiler.traffic import Request
from mapc.core.errors import InfeasibleError
from mapc.hw import presets

BPT = 1000.0                    # KV bytes per token


def price(s: Shape) -> float:
    """1 ms per iteration, + 1 us per prefill token, + 10 us per decode request."""
    return 1e-3 + 1e-6 * s.prefill_tokens + 1e-5 * s.batch


def cfg(**kw) -> EngineConfig:
    base = dict(max_batch=8, kv_capacity=1e9, kv_bytes={"m": BPT})
    base.update(kw)
    return EngineConfig(**base)


def reqs(*rows) -> tuple[Request, ...]:
    return tuple(Request(i, t, p, o, "m") for i, (t, p, o) in enumerate(rows))


def test_a_lone_request_gets_the_priced_prefill_and_decode_times():
    r = simulate(reqs((1.0, 500, 5)), cfg(), price).requests[0]
    assert r.ttft == pytest.approx(1e-3 + 500e-6)
    assert r.tpot == pytest.approx(1e-3 + 1e-5)
    assert r.e2e == pytest.approx(r.ttft + 4 * r.tpot) and r.preemptions == 0


def test_every_request_completes_and_tokens_add_up():
    rows = [(0.001 * i, 50 + 7 * i, 1 + (i * 13) % 40) for i in range(60)]
    sim = simulate(reqs(*rows), cfg(), price)
    assert [r.id for r in sim.requests] == list(range(60))
    pool = sim.pools[0]
    assert pool.decode_tokens == sum(o - 1 for _, _, o in rows)
    assert pool.prefill_tokens == sum(p for _, p, _ in rows)
    assert all(r.finish >= r.first_token > r.arrival for r in sim.requests)
    assert sim.requests[1].tpot is not None and all((r.tpot is None) == (r.output == 1) for r in sim.requests)


def test_batch_cap_and_prefill_first_without_chunking():
    seen: list[Shape] = []

    def rec(s: Shape) -> float:
        seen.append(s)
        return price(s)

    simulate(reqs(*[(0.0, 100, 20)] * 20), cfg(max_batch=4), rec)
    assert max(s.batch for s in seen) == 4
    assert all(s.batch == 0 or s.prefill_tokens == 0 for s in seen)       # no mixed iterations
    assert seen[0] == Shape("m", 0, 0.0, 1, 4, 400)                       # simultaneous arrivals batch together


def test_chunked_prefill_mixes_decode_with_at_most_chunk_tokens():
    seen: list[Shape] = []

    def rec(s: Shape) -> float:
        seen.append(s)
        return price(s)

    sim = simulate(reqs((0.0, 64, 50), (0.01, 1000, 3)), cfg(chunk=256), rec)
    assert max(s.prefill_tokens for s in seen) == 256
    assert any(s.batch > 0 and s.prefill_tokens > 0 for s in seen)
    assert sum(1 for s in seen if s.prefill_tokens and s.prefill_seqs == 1 and s.batch == 1) >= 3
    assert sim.pools[0].prefill_tokens == 1064


def test_kv_capacity_preempts_and_recomputes():
    seen: list[Shape] = []

    def rec(s: Shape) -> float:
        seen.append(s)
        return price(s)

    cap = 2000 * BPT
    sim = simulate(reqs(*[(0.0, 300, 400)] * 4), cfg(kv_capacity=cap), rec)
    assert sum(r.preemptions for r in sim.requests) > 0
    assert all(s.batch * s.context <= cap / BPT + 1e-6 for s in seen)       # decode never exceeds the cache
    assert all(r.finish > 0 for r in sim.requests) and len(sim.requests) == 4
    assert sim.pools[0].prefill_tokens > 4 * 300                            # recomputed prefills


def test_a_request_larger_than_the_cache_is_infeasible():
    with pytest.raises(InfeasibleError, match="KV"):
        simulate(reqs((0.0, 900, 200)), cfg(kv_capacity=1000 * BPT), price)


def test_disaggregated_pools_move_the_kv_over_the_link():
    link_bw, lat = 1e9, 1e-6
    sim = simulate(reqs((0.0, 500, 5)), cfg(disaggregated=True, link_bw=link_bw, link_latency=lat), price)
    r = sim.requests[0]
    move = 500 * BPT / link_bw + lat                      # the prompt's KV (the first token's comes later)
    assert r.ttft == pytest.approx(1e-3 + 500e-6)
    assert r.e2e == pytest.approx(r.ttft + move + 4 * (1e-3 + 1e-5))
    assert [p.name for p in sim.pools] == ["prefill", "decode"] and sim.kv_transfers == 1


def test_disaggregated_prefill_does_not_wait_for_decode():
    heavy = lambda s: 1e-3 + 1e-6 * s.prefill_tokens + 5e-3 * s.batch
    rows = [(0.0, 100, 200)] * 4 + [(0.05, 100, 2)]
    fused = simulate(reqs(*rows), cfg(), heavy).requests[4]
    dis = simulate(reqs(*rows), cfg(disaggregated=True, link_bw=1e12), heavy).requests[4]
    assert dis.ttft == pytest.approx(1e-3 + 100e-6) and dis.ttft < fused.ttft


def test_models_take_turns():
    rs = (Request(0, 0.0, 100, 10, "a"), Request(1, 0.0, 100, 10, "b"))
    seen: list[str] = []

    def rec(s: Shape) -> float:
        seen.append(s.model)
        return price(s)

    simulate(rs, cfg(kv_bytes={"a": BPT, "b": BPT}), rec)
    assert seen[:4] == ["a", "b", "a", "b"]


@pytest.mark.parametrize("kw", [{}, {"chunk": 64}, {"kv_capacity": 1500 * BPT}, {"max_batch": 3},
                                {"disaggregated": True, "link_bw": 1e8, "link_latency": 1e-6},
                                {"width": {"m": 3}}])
def test_fast_forward_makes_the_same_decisions_as_step_by_step(kw):
    rows = [(0.0004 * i + (0.05 if i > 30 else 0.0), 30 + 11 * i, 2 + (7 * i) % 60) for i in range(45)]
    ctx = lambda s: 1e-3 + 1e-6 * s.prefill_tokens + 1e-5 * s.batch + 1e-8 * s.batch * s.context
    a = simulate(reqs(*rows), cfg(fast_forward=True, **kw), ctx)
    b = simulate(reqs(*rows), cfg(fast_forward=False, **kw), ctx)
    assert [(r.preemptions, r.output) for r in a.requests] == [(r.preemptions, r.output) for r in b.requests]
    for x, y in zip(a.requests, b.requests):
        assert x.first_token == pytest.approx(y.first_token, rel=1e-9) and x.finish == pytest.approx(y.finish, rel=1e-9)
    assert [(p.iterations, p.decode_tokens, p.prefill_tokens) for p in a.pools] == \
        [(p.iterations, p.decode_tokens, p.prefill_tokens) for p in b.pools]
    assert a.pools[-1].iterations > 50


def test_deterministic():
    rows = [(0.0003 * i, 30 + i, 2 + i % 9) for i in range(40)]
    assert simulate(reqs(*rows), cfg(chunk=64), price) == simulate(reqs(*rows), cfg(chunk=64), price)


def test_pool_link_on_npu4x4():
    hw = presets.get("npu4x4")
    bw, lat = pool_link(hw, tuple(range(8)), tuple(range(8, 16)))
    assert bw == 4 * hw.nop.link_bw                       # rows 0-1 meet rows 2-3 over four vertical links
    assert lat == pytest.approx(1.5 * hw.nop.hop_latency)   # row 1 is one hop away, row 0 two
    with pytest.raises(InfeasibleError):
        pool_link(hw, (0,), (15,))
