"""Request traffic of `mapc serve` (mapc.compiler.traffic): arrival processes, length distributions, traces."""

from __future__ import annotations

import numpy as np
import pytest

from mapc.compiler import traffic as tr
from mapc.core.errors import DslError, MapcError

MAXSEQ = {"m": 4096, "n": 2048}


def test_parse_arrivals_kinds(tmp_path):
    assert tr.parse_arrivals("poisson:2.5") == tr.Arrivals("poisson", 2.5, 1.0)
    assert tr.parse_arrivals("gamma:4,2") == tr.Arrivals("gamma", 4.0, 2.0)
    f = tmp_path / "t.csv"
    f.write_text("0,1,1\n")
    assert tr.parse_arrivals(str(f)) == tr.Arrivals("trace", path=str(f))


@pytest.mark.parametrize("text, needle", [("poisson:0", "> 0"), ("poisson:x", "not a number"),
                                          ("gamma:1", "RATE,CV"), ("poisson:inf", "finite"),
                                          ("nope.csv", "no such trace")])
def test_parse_arrivals_errors(text, needle):
    with pytest.raises(MapcError) as e:
        tr.parse_arrivals(text)
    assert needle in e.value.message and e.value.exit_code == 2


def test_poisson_and_gamma_rates_and_burstiness():
    t = tr.arrival_times("poisson", 5.0, 1.0, 0, n=20000)
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert abs(gaps.mean() - 0.2) < 0.01 and abs(gaps.std() / gaps.mean() - 1.0) < 0.05
    g = np.diff(np.concatenate([[0.0], tr.arrival_times("gamma", 5.0, 3.0, 0, n=20000)]))
    assert abs(g.mean() - 0.2) < 0.02 and abs(g.std() / g.mean() - 3.0) < 0.3
    d = tr.arrival_times("poisson", 10.0, 1.0, 1, duration=30.0)
    assert d.max() < 30.0 and 240 < len(d) < 360 and np.all(np.diff(d) >= 0)


def test_sharegpt_lengths_have_the_published_means_and_fit_the_context():
    p, o = tr.sample_lengths(tr.LENGTHS["sharegpt"], 50000, 0, 4096)
    assert abs(p.mean() / 161.31 - 1) < 0.05 and abs(o.mean() / 337.99 - 1) < 0.05
    assert p.min() >= 1 and o.min() >= 1 and (p + o).max() <= 4096
    p2, o2 = tr.sample_lengths(tr.LENGTHS["govreport"], 2000, 0, 4096)
    assert (p2 + o2).max() <= 4096 and np.median(p2) > 3000        # long documents, cut to the context


def test_same_seed_same_requests_and_rates_share_lengths():
    a = tr.Arrivals("poisson", 2.0)
    r1 = tr.generate(a, tr.LENGTHS["sharegpt"], ("m", "n"), MAXSEQ, 7, n=200)
    r2 = tr.generate(a, tr.LENGTHS["sharegpt"], ("m", "n"), MAXSEQ, 7, n=200)
    r3 = tr.generate(a, tr.LENGTHS["sharegpt"], ("m", "n"), MAXSEQ, 8, n=200)
    assert r1 == r2 and r1 != r3
    assert {r.model for r in r1} == {"m", "n"} and all(r.prompt + r.output <= 2048 for r in r1)
    fast = tr.generate(a, tr.LENGTHS["sharegpt"], ("m", "n"), MAXSEQ, 7, n=200, rate=20.0)
    assert [(r.prompt, r.output) for r in fast] == [(r.prompt, r.output) for r in r1]
    assert fast[-1].arrival == pytest.approx(r1[-1].arrival / 10)


def test_trace_is_read_sorted_with_header_and_models(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("# a trace\narrival_s,prompt_tokens,output_tokens,model\n2.0,10,5,n\n\n0.5,20,3\n0.5,30,4,m\n")
    rs = tr.read_trace(str(f), ("m", "n"), MAXSEQ)
    assert [(r.arrival, r.prompt, r.output, r.model) for r in rs] == [(0.5, 20, 3, "m"), (0.5, 30, 4, "m"),
                                                                       (2.0, 10, 5, "n")]
    assert [r.id for r in rs] == [0, 1, 2]
    assert tr.trace_rate(rs) == pytest.approx(2 / 1.5)
    fast = tr.rescale(rs, 4.0)
    assert tr.trace_rate(fast) == pytest.approx(4.0) and fast[0].arrival == 0.5


@pytest.mark.parametrize("row, needle, col", [
    ("1.0,abc,5", "not a positive whole number", 5),
    ("1.0,10", "expected 3 or 4 fields", 1),
    ("-1,10,5", "arrival time", 1),
    ("1.0,10,0", "not a positive whole number", 8),
    ("1.0,10,5,gpt9", "not served", 10),
    ("1.0,2000,100,n", "exceed the 2048-token context", 5),
])
def test_bad_trace_row_names_file_line_and_column(tmp_path, row, needle, col):
    f = tmp_path / "bad.csv"
    f.write_text(f"arrival_s,prompt_tokens,output_tokens\n0,1,1\n{row}\n")
    with pytest.raises(DslError) as e:
        tr.read_trace(str(f), ("m", "n"), MAXSEQ)
    err = e.value
    assert needle in err.message and err.loc is not None
    assert (err.loc.file, err.loc.line, err.loc.col) == (str(f), 3, col) and err.exit_code == 2
    assert f"{f}:3:{col}" in err.render()


def test_empty_trace_is_an_input_error(tmp_path):
    f = tmp_path / "e.csv"
    f.write_text("arrival_s,prompt_tokens,output_tokens\n# nothing\n")
    with pytest.raises(MapcError, match="no requests"):
        tr.read_trace(str(f), ("m",), MAXSEQ)
