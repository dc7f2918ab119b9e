"""Any text, however broken, gives a DslError or a Spec: never another exception (mutations of the examples)."""

from __future__ import annotations

import glob
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapc.dsl import loads, validate
from mapc.core.errors import DslError
from mapc.hw import presets

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
SOURCES = [open(f).read() for f in sorted(glob.glob(os.path.join(EXAMPLES, "*.dsl")))]
TOKENS = ["0", "-1", "1.5", "1e999", "..", "x", "{", "}", "(", ")", "=", ",", "[", "]", "/", "GB/s", "ns", "MiB",
          "pJ/bit", "serve", "prefill", "decode", "forward", "tensor", "pipeline", "model", "hardware", "grid",
          "chiplet", "place", "rows", "all", "dram", "at", "west", "nop", "pim", "import", '"x.dsl"', "cnn", "conv",
          "fc", "pool", "hf", '"missing.json"', "transformer", "llama2_7b", "resnet50", "mcm6x6", "seq=", "batch=",
          "k=0", "hw=1", "$", "\n", "#", "1d", "32x32", "99999999999999999999", "microbatches", "slo", "ttft"]
HW = presets.get("mcm6x6")


def _mutate(src: str, ops) -> str:
    s = src
    for kind, pos, tok in ops:
        i = pos % (len(s) + 1)
        if kind == 0:       # insert a token
            s = s[:i] + " " + tok + " " + s[i:]
        elif kind == 1:     # delete a span
            s = s[:i] + s[i + 1 + pos % 7:]
        else:               # replace a span with a token
            s = s[:i] + tok + s[i + 1 + pos % 5:]
    return s


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(src=st.sampled_from(SOURCES),
       ops=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.sampled_from(TOKENS)),
                    min_size=1, max_size=4))
def test_mutated_examples_raise_only_dsl_error(src, ops):
    text = _mutate(src, ops)
    try:
        spec = loads(text, "fuzz.dsl")
        if spec.workload is not None:
            validate(spec, HW)
    except DslError as e:
        assert e.render()          # every error renders (location, caret) without failing


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_random_text_raises_only_dsl_error(text):
    try:
        loads(text, "fuzz.dsl")
    except DslError as e:
        assert e.render()
