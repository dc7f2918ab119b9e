"""The mapc language: parsing, resolution, units, hardware blocks and every required error (file:line:col)."""

from __future__ import annotations

import glob
import os

import pytest

from mapc.dsl import load, load_hardware, loads, validate
from mapc.core import units as U
from mapc.core.spec import CNNModel, TransformerModel
from mapc.core.errors import DslError, Loc
from mapc.hw import presets

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")


def err(text: str, file: str = "t.dsl") -> DslError:
    with pytest.raises(DslError) as ei:
        loads(text, file)
    return ei.value


def verr(text: str, hw="mcm6x6") -> DslError:
    spec = loads(text, "t.dsl")
    with pytest.raises(DslError) as ei:
        validate(spec, presets.get(hw) if isinstance(hw, str) else hw)
    return ei.value


CHAT = """workload chat {
  serve llama2_7b
  prefill batch=4 seq=512..2048
  decode batch=32 context=1024
  microbatches 8
}
"""

HW = """hardware h {
  grid 2 x 3
  chiplet a { pes 16x16 dataflow ws freq 1 GHz sram 1 MiB }
  chiplet b { pes 32x32 dataflow os freq 500 MHz sram 512 KiB mac 0.1 pJ/MAC }
  place a rows 0..0
  place b rows 1
  nop mesh { link 50 GB/s hop 10 ns energy 2 pJ/bit }
  dram d { at west, east bandwidth 100 GB/s energy 4 pJ/bit capacity 8 GiB }
}
"""


# ---- good input -----------------------------------------------------------------------------------------
def test_chat_workload_resolves():
    spec = loads(CHAT + "parallel { tensor 2 pipeline 4 placement snake tp 2d pd fused segment 2 }")
    (sv,) = spec.workload.serves
    assert sv.model == "llama2_7b" and sv.microbatches == 8
    pre, dec = sv.phases
    assert pre.phase == "prefill" and pre.batch == 4 and pre.lengths == (512, 1024, 1536, 2048)
    assert dec.phase == "decode" and dec.lengths == (1024,) and dec.steps == 1 and dec.width == 1
    assert spec.models["llama2_7b"].layers == 32
    p = spec.parallel
    assert (p.tensor, p.pipeline, p.placement, p.tp_scheme, p.pd, p.segment) == (2, 4, "snake", "2d", "fused", 2)


def test_range_spread_and_list():
    spec = loads("workload w { serve llama2_7b prefill batch=8 seq=100..200 microbatches 3 }")
    assert spec.workload.serves[0].phases[0].lengths == (100, 150, 200)
    spec = loads("workload w { serve llama2_7b prefill batch=8 seq=[1, 2, 3] }")
    assert spec.workload.serves[0].phases[0].lengths == (1, 2, 3)
    spec = loads("workload w { serve llama2_7b prefill batch=8 seq=100..200 }")   # one micro-batch: midpoint
    assert spec.workload.serves[0].phases[0].lengths == (150,)


def test_models_transformer_alias_cnn():
    spec = loads("""
model tiny = transformer(layers=4, hidden=512, heads=8, kv_heads=2, ffn=1376, vocab=1000, dtype=bf16,
                         experts=4, top_k=1, gated=false)
model big = llama2_70b
model net = cnn(dtype=int8) { conv c1 in=3 out=16 k=3 stride=2 hw=64  pool p1 k=2  fc head out=10 }
workload w { serve tiny { prefill batch=1 seq=16 }  serve net { forward batch=2 } }
""")
    t = spec.models["tiny"]
    assert isinstance(t, TransformerModel) and (t.kv_heads, t.experts, t.top_k, t.gated_ffn, t.dtype) == \
        (2, 4, 1, False, "bf16")
    assert spec.models["big"].name == "big" and spec.models["big"].kv_heads == 8
    net = spec.models["net"]
    assert isinstance(net, CNNModel) and net.dtype == "int8"
    c1, p1, fc = net.layers
    assert (c1.out_h, c1.pad) == (32, 1)                         # (64 + 2 - 3) // 2 + 1
    assert (p1.in_ch, p1.in_h, p1.stride, p1.out_h) == (16, 32, 2, 16)
    assert (fc.in_ch, fc.out_ch) == (16 * 16 * 16, 10)
    assert [s.model for s in spec.workload.serves] == ["tiny", "net"]


def test_derived_model_overrides_keys_of_its_base():
    """`model q = llama2_70b(weights=int4)`: the zoo model's numbers with the given keys changed (and checked)."""
    spec = loads("model q = llama2_70b(weights=int4, max_seq=8192)\nmodel h = q(layers=40)\n"
                 "workload w { serve h decode batch=8 context=6000 }")
    from mapc.dsl import zoo
    base, q, h = zoo.MODELS["llama2_70b"], spec.models["q"], spec.models["h"]
    assert (q.name, q.layers, q.kv_heads, q.weight_dtype, q.max_seq, q.dtype) == \
        ("q", 80, 8, "int4", 8192, base.dtype)
    assert (h.layers, h.weight_dtype, h.hidden) == (40, "int4", 8192)
    e = err("model q = llama2_70b(heads=60)\nworkload w { serve q decode batch=1 context=8 }")
    _at(e, 1, 22)
    assert e.message == "hidden=8192 is not a multiple of heads=60"
    e = err("model q = resnet50(weights=int4)\nworkload w { serve q forward batch=1 }")
    assert "is not a transformer" in e.message
    e = err("model q = llama2_70b(weight=int4)\nworkload w { serve q decode batch=1 context=8 }")
    assert "unknown parameter `weight`" in e.message and "did you mean `weights`" in e.hint


def test_multi_tenant_flat_and_block_forms():
    spec = loads("""workload w {
  serve llama2_7b prefill batch=2 seq=128 microbatches 2
  serve resnet50 { forward batch=16 microbatches 4 }
  slo ttft 200 ms tpot 50 ms
}""")
    a, b = spec.workload.serves
    assert (a.model, a.microbatches, b.model, b.microbatches) == ("llama2_7b", 2, "resnet50", 4)
    assert b.phases[0].lengths == (1,)
    assert spec.workload.ttft_slo == pytest.approx(0.2) and spec.workload.tpot_slo == pytest.approx(0.05)


def test_hardware_block_builds_hardware():
    spec = loads(HW)
    hw = spec.hardware
    assert (hw.rows, hw.cols, hw.n) == (2, 3, 6)
    assert [c.type.name for c in hw.chiplets] == ["a"] * 3 + ["b"] * 3
    assert hw.chiplets[4].x == 1 and hw.chiplets[4].y == 1 and hw.chiplets[4].id == 4
    b = hw.chiplets[5].type
    assert (b.pe_rows, b.dataflow, b.freq, b.sram, b.mac_energy) == (32, "os", 500e6, 512 * 1024,
                                                                       pytest.approx(0.1e-12))
    assert hw.nop.link_bw == 50e9 and hw.nop.hop_latency == pytest.approx(10e-9)
    assert hw.nop.energy_per_bit == pytest.approx(2e-12)
    assert [ch.attach for ch in hw.dram] == [(0, 3), (2, 5)]
    assert sum(ch.bandwidth for ch in hw.dram) == pytest.approx(100e9)
    assert sum(ch.capacity for ch in hw.dram) == 8 * 2**30
    assert hw.chiplets[0].type.mac_energy == pytest.approx(0.0873e-12)   # default from mapc.hw.constants


def test_hardware_preset_and_pim():
    spec = loads('hardware p = mcm6x6\nhardware q = "npu-pim"')
    assert spec.hardware_blocks["p"].n == 36 and spec.hardware_blocks["q"].pim
    hw = loads("""hardware h { grid 2x2 chiplet c { pes 8x8 dataflow rs freq 1 GHz sram 64 KiB }
      dram d { at north bandwidth 64 GB/s }  pim p { at south bandwidth 1 TB/s compute 2 TFLOP/s } }""").hardware
    assert [c.type.name for c in hw.chiplets] == ["c"] * 4          # one chiplet type: placed everywhere
    (u,) = hw.pim
    assert u.attach == (2, 3) and u.peak_flops == 2e12 and u.bandwidth == 1e12


def test_units():
    assert U.to_si(2, "MiB", "size") == 2 * 2**20
    assert U.to_si(2, "MB", "size") == 2e6
    assert U.to_si(100, "GB/s", "bandwidth") == 100e9
    assert U.to_si(1, "GiB/s", "bandwidth") == 2**30
    assert U.to_si(20, "ns", "time") == pytest.approx(20e-9)
    assert U.to_si(1.3, "pJ/bit", "energy_bit") == pytest.approx(1.3e-12)
    assert U.to_si(8, "pJ/B", "energy_bit") == pytest.approx(1e-12)
    assert U.to_si(1, "GHz", "frequency") == 1e9
    assert U.to_si(5, "mW", "power") == pytest.approx(5e-3)
    with pytest.raises(U.UnitError, match=r"expected a bandwidth like `100 GB/s`, got `100`"):
        U.to_si(100, None, "bandwidth")
    with pytest.raises(U.UnitError, match=r"got `20 ns` \(a time\)"):
        U.to_si(20, "ns", "bandwidth")


def test_imports_relative_and_shared(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "models.dsl").write_text("model m = llama2_7b\n")
    (tmp_path / "lib" / "hw.dsl").write_text('import "models.dsl"\nhardware h = mcm6x6\n')
    main = tmp_path / "main.dsl"
    main.write_text('import "lib/models.dsl"\nimport "lib/hw.dsl"\nworkload w { serve m decode batch=1 context=8 }\n')
    spec = load(str(main))      # models.dsl imported twice (diamond): read once, no duplicate error
    assert spec.models["m"].name == "m" and spec.hardware.name == "mcm6x6"


def test_examples_parse_and_validate():
    files = sorted(glob.glob(os.path.join(EXAMPLES, "*.dsl")))
    assert len(files) >= 6
    for f in files:
        spec = load(f)
        if spec.workload is not None:
            validate(spec, presets.get("mcm6x6"))
    hw = load_hardware(os.path.join(EXAMPLES, "custom_hw.dsl"))
    assert hw.n == 16 and {c.type.dataflow for c in hw.chiplets} == {"ws", "os"}
    spec = load(os.path.join(EXAMPLES, "hf_model.dsl"))
    assert spec.models["mistral7b"].kv_heads == 8 and spec.models["mistral7b"].dtype == "bf16"


# ---- errors: each asserts file:line:col and the message --------------------------------------------------
def _at(e: DslError, line: int, col: int, file: str = "t.dsl"):
    assert e.loc == Loc(file, line, col), e.render()
    assert e.source_line is not None
    r = e.render()
    assert r.startswith(f"{file}:{line}:{col}: error: ")
    assert r.splitlines()[2].index("^") == 4 + col - 1     # caret under the column


def test_error_syntax_expected_tokens():
    e = err("workload w {\n  serve llama2_7b\n  prefil batch=4 seq=8\n}")
    _at(e, 3, 3)
    assert "unknown keyword `prefil`" in e.message and "`prefill`" in e.hint and "`decode`" in e.hint


def test_error_unknown_keyword_in_parallel():
    e = err("parallel {\n  tensor 2 pipelines 4\n}")
    _at(e, 2, 12)
    assert "unknown keyword `pipelines`" in e.message and "`pipeline`" in e.hint


def test_error_unexpected_character_and_eof():
    e = err("model m = llama2_7b\nworkload w { serve m $ }")
    _at(e, 2, 22)
    assert "unexpected character `$`" in e.message
    e = err("workload w {\n  serve llama2_7b")
    assert e.loc.line == 2 and "end of file" in e.message and "`}`" in e.hint


def test_error_missing_unit():
    e = err(HW.replace("link 50 GB/s", "link 50"))
    _at(e, 7, 19)
    assert e.message == "expected a bandwidth like `100 GB/s`, got `50`"


def test_error_wrong_unit_kind_and_unknown_unit():
    e = err(HW.replace("hop 10 ns", "hop 10 GB/s"))
    _at(e, 7, 34)
    assert "expected a time like `20 ns`, got `10 GB/s` (a bandwidth)" == e.message
    e = err(HW.replace("sram 1 MiB", "sram 1 Mib"))
    _at(e, 3, 55)
    assert "unknown unit `Mib`" in e.message and "MiB" in e.hint


def test_error_unknown_model():
    e = err("workload w {\n  serve llama2_7c\n  prefill batch=1 seq=8\n}")
    _at(e, 2, 9)
    assert e.message == "unknown model `llama2_7c`" and "did you mean `llama2_7b`" in e.hint
    e = err("model x = gpt5\n")
    _at(e, 1, 11)


def test_error_unknown_preset():
    e = err("\nhardware h = mcm7x7")
    _at(e, 2, 14)
    assert "unknown hardware preset `mcm7x7`" in e.message and "mcm6x6" in e.hint


@pytest.mark.parametrize("text,line,col,msg", [
    ("workload w { serve llama2_7b prefill batch=0 seq=8 }", 1, 44, "`batch` must be positive, got 0"),
    ("workload w { serve llama2_7b prefill batch=2 seq=-8 }", 1, 50, "`seq` must be positive, got -8"),
    ("workload w { serve llama2_7b\n microbatches 0 prefill batch=1 seq=1 }", 2, 15,
     "microbatches must be positive, got 0"),
    ("model m = transformer(layers=0, hidden=8, heads=2, ffn=8, vocab=8)", 1, 30, "`layers` must be positive"),
    ("parallel { tensor -2 }", 1, 19, "`tensor` must be positive, got -2"),
    ("hardware h { grid 2 x 2 chiplet c { pes 8x8 dataflow ws freq 1 GHz sram 0 MiB } }", 1, 73,
     "`sram` must be positive, got `0 MiB`"),
    ("workload w { serve llama2_7b prefill batch=2.5 seq=8 }", 1, 44, "`batch` must be a whole number"),
])
def test_error_zero_negative_sizes(text, line, col, msg):
    e = err(text)
    _at(e, line, col)
    assert msg in e.message


def test_error_tensor_does_not_divide_heads():
    e = verr(CHAT + "parallel {\n  pipeline auto\n  tensor 3\n}")
    _at(e, 9, 3)
    assert e.message == "tensor 3 does not divide heads=32 of `llama2_7b`"


def test_error_more_pipeline_stages_than_chiplets():
    e = verr(CHAT + "parallel { pipeline 40 }")
    _at(e, 7, 12)
    assert "pipeline 40 has more stages than 36 chiplets" in e.message
    e = verr(CHAT + "parallel { tensor 4 pipeline 10 }")
    assert "36 chiplets / tensor 4 = 9 groups" in e.message
    e = verr(CHAT + "parallel { pd disaggregated(prefill=20, decode=20) }")
    _at(e, 7, 12)
    assert "= 40 chiplets, but `mcm6x6` has 36" in e.message


def test_error_pd_disaggregated_without_the_split_shows_the_form():
    e = err(CHAT + "parallel { pd disaggregated }")
    _at(e, 7, 15)
    assert "needs `prefill=` and `decode=`" in e.message and "pd disaggregated(prefill=12, decode=24)" in e.hint
    e = err(CHAT + "parallel { pd disaggregated(prefill=12) }")
    assert "needs `decode=`" in e.message and "prefill=` and" not in e.message


def test_error_workload_naming_no_model():
    e = err("workload w {\n  serve\n  prefill batch=1 seq=8\n}")
    _at(e, 2, 3)
    assert e.message == "`serve` names no model"
    e = err("workload w { }")
    _at(e, 1, 10)
    assert e.message == "workload `w` names no model"
    e = err("workload w {\n  prefill batch=1 seq=8\n}")
    _at(e, 2, 3)
    assert "before any `serve`" in e.message


def test_error_duplicate_name():
    e = err("model a = llama2_7b\n\nmodel a = llama2_13b\n")
    _at(e, 3, 7)
    assert e.message == "duplicate model `a`" and "t.dsl:1:7" in e.hint
    e = err("hardware h = mcm6x6\nhardware h = npu4x4")
    _at(e, 2, 10)
    e = err("model n = cnn { conv c in=3 out=4 k=3 hw=8 conv c out=4 k=3 }")
    _at(e, 1, 49)


def test_error_import_cycle_and_missing(tmp_path):
    (tmp_path / "a.dsl").write_text('import "b.dsl"\n')
    (tmp_path / "b.dsl").write_text('model x = llama2_7b\nimport "a.dsl"\n')
    with pytest.raises(DslError) as ei:
        load(str(tmp_path / "a.dsl"))
    e = ei.value
    _at(e, 2, 8, str(tmp_path / "b.dsl"))
    assert e.message == "import cycle: a.dsl -> b.dsl -> a.dsl"
    (tmp_path / "c.dsl").write_text('\n  import "nope.dsl"\n')
    with pytest.raises(DslError) as ei:
        load(str(tmp_path / "c.dsl"))
    _at(ei.value, 2, 10, str(tmp_path / "c.dsl"))
    assert "file not found" in ei.value.message


def test_error_hardware_placement():
    e = err(HW.replace("place b rows 1\n", ""))
    _at(e, 1, 10)
    assert "3 cell(s) of the 2x3 grid have no chiplet: (0,1), (1,1), (2,1)" in e.message
    e = err(HW.replace("place b rows 1", "place b all"))
    _at(e, 6, 3)
    assert "placed twice" in e.message
    e = err(HW.replace("place b rows 1", "place b rows 2"))
    _at(e, 6, 16)
    assert "outside the grid" in e.message


def test_error_phase_model_kind_and_context():
    e = err("workload w { serve resnet50 { prefill batch=1 seq=8 } }")
    _at(e, 1, 31)
    assert "is a CNN" in e.message
    e = err("workload w { serve llama2_7b prefill batch=1 seq=5000 }")
    _at(e, 1, 50)
    assert "exceeds the 4096-token context" in e.message


def test_load_hardware_errors(tmp_path):
    f = tmp_path / "x.dsl"
    f.write_text(CHAT)
    with pytest.raises(DslError, match="no hardware block"):
        load_hardware(str(f))
    with pytest.raises(DslError, match="file not found"):
        load(str(tmp_path / "missing.dsl"))


def test_design_md_hardware_block_equals_mcm6x6_preset():
    hw = loads("""hardware mcm6x6 {
  grid 6 x 6
  chiplet ws_core { pes 32x32  dataflow ws  freq 1 GHz  sram 2 MiB }
  chiplet os_core { pes 32x32  dataflow os  freq 1 GHz  sram 2 MiB }
  place ws_core rows 0..2
  place os_core rows 3..5
  nop mesh { link 100 GB/s  hop 20 ns  energy 1.3 pJ/bit }
  dram hbm { at west, east  bandwidth 256 GB/s  energy 3.9 pJ/bit  capacity 256 GiB  channels 2 }
}""").hardware
    ref = presets.get("mcm6x6")
    assert hw.chiplets == ref.chiplets
    assert hw.nop == ref.nop
    assert [(c.edge, c.attach, c.bandwidth, c.capacity) for c in hw.dram] == \
        [(c.edge, c.attach, c.bandwidth, c.capacity) for c in ref.dram]
    assert [c.energy_per_bit for c in hw.dram] == pytest.approx([c.energy_per_bit for c in ref.dram])


def test_syntax_hints_list_only_tokens_that_can_follow():
    """The hint after a syntax error names what the grammar really accepts there (not every LALR lookahead),
    and a misspelt keyword gets a close-match suggestion."""
    with pytest.raises(DslError) as ei:
        loads("workload w {\n  serve llama2_7b\n  prefill batch=4 seq=512\n", "eof.dsl")
    assert "unexpected end of file" in ei.value.message
    assert "`prefill`" in ei.value.hint and "`chiplet`" not in ei.value.hint and "`conv`" not in ei.value.hint
    with pytest.raises(DslError) as ei:
        loads("parallel { tensr 2 }\n", "p.dsl")
    assert (ei.value.loc.line, ei.value.loc.col) == (1, 12)
    assert "did you mean `tensor`?" in ei.value.message
