"""The syntax tree of a mapc source file: frozen, typed nodes made by `mapc.dsl.transform` from Lark's parse tree.

Every node carries the `Loc` (file:line:col) of its first token, and every literal keeps its source text, so that
the resolver (`mapc.dsl.resolve` and the modules it calls) can give meaning to the nodes and still report an error
at the offending token, quoting it as written. Nothing here checks anything: a number is its text until the
resolver converts it, so errors come out in the order the resolver meets them, not the order of parsing.

The node classes follow the grammar (`mapc.lark`), one per rule that carries information:

    File           import_stmt | model_def | workload_def | parallel_def | hardware_def ...
    Import         import "path"
    ModelDef       model NAME = Transformer(kwargs) | HfConfig("path") | OnnxModel("path", kwargs)
                   | Cnn(kwargs){layers} | Alias NAME[(kwargs)]
    Workload       workload NAME { Serve | Phase | Microbatches | Requests | Slo ... }
    Parallel       parallel { ParNum | ParWord | Pd ... }
    HardwareBlock  hardware NAME { Grid | Chiplet | Place | Nop | Memory ... }
    HardwarePreset hardware NAME = NAME | "NAME"
    HardwareImport hardware NAME = zigzag("core.yaml") | stream("accelerator.yaml")
"""

from __future__ import annotations

from dataclasses import dataclass

from mapc.core.errors import Loc


# ---- leaves -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Name:
    """An identifier or keyword as written (a model, chiplet or parameter name, `conv`, `ttft`, `1d`, ...)."""

    text: str
    loc: Loc


@dataclass(frozen=True)
class Number:
    """A number as written (`-1.5e3`); the resolver converts it, so a bad one is reported where it is used."""

    text: str
    loc: Loc


@dataclass(frozen=True)
class Str:
    """A quoted string; `text` keeps the quotes, `value` is what is between them."""

    text: str
    loc: Loc

    @property
    def value(self) -> str:
        """The string without its quotes."""
        return self.text[1:-1]


@dataclass(frozen=True)
class Range:
    """`lo..hi` (a length spread, a span of grid rows or columns)."""

    lo: Number
    hi: Number
    loc: Loc

    @property
    def text(self) -> str:
        """The range as written, without spaces."""
        return f"{self.lo.text}..{self.hi.text}"


@dataclass(frozen=True)
class NumList:
    """`[a, b, ...]` (explicit lengths); `loc` is the opening bracket."""

    items: tuple[Number, ...]
    loc: Loc

    @property
    def text(self) -> str:
        """The list with its numbers as written."""
        return "[" + ", ".join(n.text for n in self.items) + "]"


# A value on the right of `key=`: a number, a word (a Name), a range, a list or a string.
Value = Number | Name | Range | NumList | Str


@dataclass(frozen=True)
class KwArg:
    """`name=value`; `loc` is the name."""

    name: Name
    value: Value
    loc: Loc


@dataclass(frozen=True)
class Unit:
    """The unit of a quantity, `GB/s` or `ns` (`text` joins its parts with `/`); `loc` is its first word."""

    text: str
    loc: Loc


@dataclass(frozen=True)
class Quantity:
    """`NUMBER [unit]`, e.g. `100 GB/s`; the resolver checks the unit against the kind the setting needs."""

    number: Number
    unit: Unit | None
    loc: Loc


@dataclass(frozen=True)
class Dims:
    """`RxC` or `R x C` (grid and PE-array sizes); `loc` is the first token."""

    rows: Number
    cols: Number
    loc: Loc


# ---- imports and models -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    """`import "path"` (relative to the importing file)."""

    path: Str
    loc: Loc


@dataclass(frozen=True)
class Transformer:
    """`transformer(key=value, ...)`."""

    args: tuple[KwArg, ...]
    loc: Loc


@dataclass(frozen=True)
class HfConfig:
    """`hf("config.json")`: a local Hugging Face config."""

    path: Str
    loc: Loc


@dataclass(frozen=True)
class OnnxModel:
    """`onnx("model.onnx", batch=.., seq=.., NAME=..)`: a local ONNX file, symbolic dimensions fixed by the kwargs."""

    path: Str
    args: tuple[KwArg, ...]
    loc: Loc


@dataclass(frozen=True)
class CnnLayer:
    """`conv|pool|fc NAME key=value ...` inside `cnn { ... }`."""

    kind: Name
    name: Name
    args: tuple[KwArg, ...]
    loc: Loc


@dataclass(frozen=True)
class Cnn:
    """`cnn [(key=value, ...)] { layer ... }`."""

    args: tuple[KwArg, ...]
    layers: tuple[CnnLayer, ...]
    loc: Loc


@dataclass(frozen=True)
class Alias:
    """`model NAME = OTHER` or `OTHER(key=value, ...)`: another model (defined or built in) under a new name,
    with the given `transformer(...)` keys overridden (a quantised or shortened zoo model)."""

    target: Name
    loc: Loc
    args: tuple[KwArg, ...] = ()


ModelExpr = Transformer | HfConfig | OnnxModel | Cnn | Alias


@dataclass(frozen=True)
class ModelDef:
    """`model NAME = expr`; `loc` is the `model` keyword, the name has its own."""

    name: Name
    expr: ModelExpr
    loc: Loc


# ---- workload ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Phase:
    """`prefill|decode|forward key=value ...`."""

    kind: Name
    args: tuple[KwArg, ...]
    loc: Loc


@dataclass(frozen=True)
class Microbatches:
    """`microbatches N`."""

    count: Number
    loc: Loc


@dataclass(frozen=True)
class Requests:
    """`requests "file.csv" key=value ...`: a request mix read from a CSV file."""

    path: Str
    args: tuple[KwArg, ...]
    loc: Loc


ServeItem = Phase | Microbatches | Requests


@dataclass(frozen=True)
class Serve:
    """`serve [MODEL] [{ item ... }]`: `block` is None in the flat form (the items that follow belong to it)."""

    model: Name | None
    block: tuple[ServeItem, ...] | None
    loc: Loc


@dataclass(frozen=True)
class SloItem:
    """`ttft|tpot QUANTITY`."""

    kind: Name
    value: Quantity
    loc: Loc


@dataclass(frozen=True)
class Slo:
    """`slo ttft 200 ms tpot 50 ms`."""

    items: tuple[SloItem, ...]
    loc: Loc


WorkloadItem = Serve | Phase | Microbatches | Requests | Slo


@dataclass(frozen=True)
class Workload:
    """`workload NAME { item ... }`."""

    name: Name
    items: tuple[WorkloadItem, ...]
    loc: Loc


# ---- parallelism ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParNum:
    """`tensor|data|segment N`."""

    key: Name
    value: Number
    loc: Loc


@dataclass(frozen=True)
class ParWord:
    """`pipeline|placement|tp WORD`, where WORD may be a number (`pipeline 4`), a name or `1d`/`2d`."""

    key: Name
    value: Number | Name
    loc: Loc


@dataclass(frozen=True)
class Pd:
    """`pd MODE [(key=value, ...)]`."""

    mode: Name
    args: tuple[KwArg, ...]
    loc: Loc


ParallelItem = ParNum | ParWord | Pd


@dataclass(frozen=True)
class Parallel:
    """`parallel { item ... }`."""

    items: tuple[ParallelItem, ...]
    loc: Loc


# ---- hardware ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """`key QUANTITY` (`freq 1 GHz`, `bandwidth 256 GB/s`)."""

    key: Name
    value: Quantity
    loc: Loc


@dataclass(frozen=True)
class WordSetting:
    """`dataflow|precision WORD`."""

    key: Name
    value: Name
    loc: Loc


@dataclass(frozen=True)
class Pes:
    """`pes RxC`."""

    dims: Dims
    loc: Loc


ChipletItem = Pes | Setting | WordSetting


@dataclass(frozen=True)
class Chiplet:
    """`chiplet NAME { item ... }`: a chiplet type."""

    name: Name
    items: tuple[ChipletItem, ...]
    loc: Loc


@dataclass(frozen=True)
class Grid:
    """`grid RxC`."""

    dims: Dims
    loc: Loc


@dataclass(frozen=True)
class PlaceSpan:
    """`rows|cols A..B` or `rows|cols N`."""

    axis: Name
    span: Range | Number
    loc: Loc


@dataclass(frozen=True)
class PlaceAll:
    """`all`: every cell of the grid."""

    loc: Loc


@dataclass(frozen=True)
class Place:
    """`place CHIPLET where`."""

    chiplet: Name
    where: PlaceSpan | PlaceAll
    loc: Loc


@dataclass(frozen=True)
class Nop:
    """`nop TOPOLOGY [{ setting ... }]`."""

    topology: Name
    settings: tuple[Setting, ...]
    loc: Loc


@dataclass(frozen=True)
class At:
    """`at EDGE, EDGE ...`."""

    edges: tuple[Name, ...]
    loc: Loc


@dataclass(frozen=True)
class Channels:
    """`channels N`."""

    count: Number
    loc: Loc


MemoryItem = At | Setting | Channels


@dataclass(frozen=True)
class Memory:
    """`dram NAME { ... }` or `pim NAME { ... }` (`kind` says which)."""

    kind: str
    name: Name
    items: tuple[MemoryItem, ...]
    loc: Loc


HardwareItem = Grid | Chiplet | Place | Nop | Memory


@dataclass(frozen=True)
class HardwareBlock:
    """`hardware NAME { item ... }`."""

    name: Name
    items: tuple[HardwareItem, ...]
    loc: Loc


@dataclass(frozen=True)
class HardwarePreset:
    """`hardware NAME = PRESET` or `= "PRESET"`."""

    name: Name
    preset: Name | Str
    loc: Loc


@dataclass(frozen=True)
class HardwareImport:
    """`hardware NAME = IMPORTER("file.yaml")`: another tool's hardware description (`zigzag`, `stream`)."""

    name: Name
    importer: Name
    path: Str
    loc: Loc


# ---- a file -----------------------------------------------------------------------------------------------
TopItem = Import | ModelDef | Workload | Parallel | HardwareBlock | HardwarePreset | HardwareImport


@dataclass(frozen=True)
class File:
    """The top-level nodes of one source file, in source order."""

    file: str
    items: tuple[TopItem, ...]
