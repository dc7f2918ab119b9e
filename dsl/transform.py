"""Lark parse tree -> typed syntax tree (`mapc.dsl.syntax`): one method per rule of `mapc.lark`, beside it.

In the style of Lark's own examples (a grammar and its `Transformer`): each method receives the rule's meta
(its first token's position, kept because the parser runs with `propagate_positions`) and its children, already
transformed bottom-up, and returns the node of that rule. Optional parts arrive as None (`maybe_placeholders`).
Nothing here can fail on user input: numbers stay text and every check is the resolver's, so a file's errors
come out in the order the resolver meets them.

    tree = parser.parse(text, file)                  # lark.Tree
    node = TreeToSyntax(file).transform(tree)        # syntax.File
"""

from __future__ import annotations

from lark import Token, Transformer, Tree, v_args
from lark.tree import Meta

from mapc.core.errors import Loc
from mapc.dsl import syntax as S

# A transformed child: a token, a node, a tuple of kwargs (`kwargs`), a tuple of serve items (`serve_block`),
# or None for an absent optional part.
Child = Token | S.Name | S.Number | S.Str | S.Range | S.NumList | S.KwArg | S.Unit | S.Quantity | S.Dims | \
    S.TopItem | S.ModelExpr | S.CnnLayer | S.WorkloadItem | S.SloItem | S.ParallelItem | S.HardwareItem | \
    S.ChipletItem | S.MemoryItem | S.PlaceSpan | S.PlaceAll | tuple[S.KwArg, ...] | tuple[S.ServeItem, ...] | None


@v_args(meta=True, inline=True)
class TreeToSyntax(Transformer[Token, S.File]):
    """Turns the parse tree of one file (`file` names it in every `Loc`) into a `syntax.File`."""

    def __init__(self, file: str) -> None:
        super().__init__(visit_tokens=False)
        self.file = file

    # -- positions and leaves --
    def _tok_loc(self, tok: Token) -> Loc:
        """Where token `tok` starts."""
        return Loc(self.file, tok.line or 1, tok.column or 1)

    def _loc(self, meta: Meta, *children: Child) -> Loc:
        """The rule's position; a rule that matched no token has none: then its first child's, else 1:1."""
        line = getattr(meta, "line", None)
        if line is not None:
            return Loc(self.file, line, getattr(meta, "column", 1) or 1)
        for c in children:
            if isinstance(c, Token):
                return self._tok_loc(c)
            if isinstance(c, tuple) and c:
                return c[0].loc
            if c is not None and not isinstance(c, tuple):
                return c.loc
        return Loc(self.file, 1, 1)

    def _name(self, tok: Token) -> S.Name:
        """A NAME (or keyword, `1d`/`2d`) token as a node."""
        return S.Name(str(tok), self._tok_loc(tok))

    def _number(self, tok: Token) -> S.Number:
        """A NUMBER token as a node (still text: the resolver converts it)."""
        return S.Number(str(tok), self._tok_loc(tok))

    def _str(self, tok: Token) -> S.Str:
        """A STRING token as a node (quotes kept in `text`)."""
        return S.Str(str(tok), self._tok_loc(tok))

    def _dims(self, toks: tuple[Token, ...]) -> S.Dims:
        """`_dims: DIMS | NUMBER "x" NUMBER`: `RxC` is split at the `x` (the columns keep their own column, so
        a bad one is reported there), `R x C` is two numbers."""
        first = toks[0]
        loc = self._tok_loc(first)
        if len(toks) == 1:
            r, c = str(first).split("x")
            return S.Dims(S.Number(r, loc), S.Number(c, Loc(self.file, loc.line, loc.col + len(r) + 1)), loc)
        return S.Dims(self._number(toks[0]), self._number(toks[1]), loc)

    def _keyword(self, meta: Meta, tok: Token) -> S.Name:
        """The `!rules` that keep their keyword (`!layer_kind: "conv" | "pool" | "fc"`, `!phase_kind`,
        `!slo_kind`, `!par_num_key`, `!par_word_key`, `!word_key`, `!setting_key`, `!place_axis`) as a Name."""
        return self._name(tok)

    layer_kind = phase_kind = slo_kind = par_num_key = par_word_key = word_key = setting_key = place_axis = \
        _keyword

    # -- file, imports --
    def start(self, meta: Meta, *items: S.TopItem) -> S.File:
        """`start: _item*`"""
        return S.File(self.file, items)

    def import_stmt(self, meta: Meta, path: Token) -> S.Import:
        """`import_stmt: "import" STRING`"""
        return S.Import(self._str(path), self._loc(meta, path))

    # -- models --
    def model_def(self, meta: Meta, name: Token, expr: S.ModelExpr) -> S.ModelDef:
        """`model_def: "model" NAME "=" _model_expr`"""
        return S.ModelDef(self._name(name), expr, self._loc(meta, name))

    def transformer(self, meta: Meta, args: tuple[S.KwArg, ...] | None) -> S.Transformer:
        """`transformer: "transformer" "(" [kwargs] ")"`"""
        return S.Transformer(args or (), self._loc(meta, args))

    def hf(self, meta: Meta, path: Token) -> S.HfConfig:
        """`hf: "hf" "(" STRING ")"`"""
        return S.HfConfig(self._str(path), self._loc(meta, path))

    def onnx(self, meta: Meta, path: Token, args: tuple[S.KwArg, ...] | None) -> S.OnnxModel:
        """`onnx: "onnx" "(" STRING ["," [kwargs]] ")"`"""
        return S.OnnxModel(self._str(path), args or (), self._loc(meta, path))

    def cnn(self, meta: Meta, args: tuple[S.KwArg, ...] | None, *layers: S.CnnLayer) -> S.Cnn:
        """`cnn: "cnn" ["(" [kwargs] ")"] "{" cnn_layer* "}"`"""
        return S.Cnn(args or (), layers, self._loc(meta, args, *layers))

    def alias(self, meta: Meta, target: Token, args: tuple[S.KwArg, ...] | None = None) -> S.Alias:
        """`alias: NAME ["(" [kwargs] ")"]`"""
        return S.Alias(self._name(target), self._loc(meta, target), args or ())

    def cnn_layer(self, meta: Meta, kind: S.Name, name: Token, *args: S.KwArg) -> S.CnnLayer:
        """`cnn_layer: layer_kind NAME kwarg*`"""
        return S.CnnLayer(kind, self._name(name), args, self._loc(meta, kind))

    def kwargs(self, meta: Meta, *args: S.KwArg) -> tuple[S.KwArg, ...]:
        """`kwargs: kwarg (","? kwarg)* ","?`"""
        return args

    def kwarg(self, meta: Meta, name: Token, value: S.Value) -> S.KwArg:
        """`kwarg: NAME "=" _value`"""
        return S.KwArg(self._name(name), value, self._tok_loc(name))

    def number(self, meta: Meta, tok: Token) -> S.Number:
        """`number: NUMBER`"""
        return S.Number(str(tok), self._loc(meta, tok))

    def word(self, meta: Meta, tok: Token) -> S.Name:
        """`word: NAME`"""
        return S.Name(str(tok), self._loc(meta, tok))

    def range(self, meta: Meta, lo: Token, hi: Token) -> S.Range:
        """`range: NUMBER ".." NUMBER`"""
        return S.Range(self._number(lo), self._number(hi), self._loc(meta, lo))

    def list(self, meta: Meta, *items: Token | None) -> S.NumList:
        """`list: "[" [NUMBER ("," NUMBER)* ","?] "]"`"""
        toks = tuple(t for t in items if t is not None)
        return S.NumList(tuple(self._number(t) for t in toks), self._loc(meta, *toks))

    def string(self, meta: Meta, tok: Token) -> S.Str:
        """`string: STRING`"""
        return S.Str(str(tok), self._loc(meta, tok))

    # -- workload --
    def workload_def(self, meta: Meta, name: Token, *items: S.WorkloadItem) -> S.Workload:
        """`workload_def: "workload" NAME "{" _wl_item* "}"`"""
        return S.Workload(self._name(name), items, self._loc(meta, name))

    def serve(self, meta: Meta, model: Token | None, block: tuple[S.ServeItem, ...] | None) -> S.Serve:
        """`serve: "serve" [NAME] [serve_block]`"""
        return S.Serve(self._name(model) if model is not None else None, block, self._loc(meta, model, block))

    def serve_block(self, meta: Meta, *items: S.ServeItem) -> tuple[S.ServeItem, ...]:
        """`serve_block: "{" (phase | microbatches | requests)* "}"`"""
        return items

    def requests(self, meta: Meta, path: Token, *args: S.KwArg) -> S.Requests:
        """`requests: "requests" STRING kwarg*`"""
        return S.Requests(self._str(path), args, self._loc(meta, path))

    def phase(self, meta: Meta, kind: S.Name, *args: S.KwArg) -> S.Phase:
        """`phase: phase_kind kwarg*`"""
        return S.Phase(kind, args, self._loc(meta, kind))

    def microbatches(self, meta: Meta, count: Token) -> S.Microbatches:
        """`microbatches: "microbatches" NUMBER`"""
        return S.Microbatches(self._number(count), self._loc(meta, count))

    def slo(self, meta: Meta, *items: S.SloItem) -> S.Slo:
        """`slo: "slo" slo_item+`"""
        return S.Slo(items, self._loc(meta, *items))

    def slo_item(self, meta: Meta, kind: S.Name, value: S.Quantity) -> S.SloItem:
        """`slo_item: slo_kind quantity`"""
        return S.SloItem(kind, value, self._loc(meta, kind))

    # -- parallelism --
    def parallel_def(self, meta: Meta, *items: S.ParallelItem) -> S.Parallel:
        """`parallel_def: "parallel" "{" _par_item* "}"`"""
        return S.Parallel(items, self._loc(meta, *items))

    def par_num(self, meta: Meta, key: S.Name, value: Token) -> S.ParNum:
        """`par_num: par_num_key NUMBER`"""
        return S.ParNum(key, self._number(value), self._loc(meta, key))

    def par_word(self, meta: Meta, key: S.Name, value: Token) -> S.ParWord:
        """`par_word: par_word_key (NUMBER | NAME | TP_SCHEME)`"""
        word = self._number(value) if value.type == "NUMBER" else self._name(value)
        return S.ParWord(key, word, self._loc(meta, key))

    def pd(self, meta: Meta, mode: Token, args: tuple[S.KwArg, ...] | None) -> S.Pd:
        """`pd: "pd" NAME ["(" [kwargs] ")"]`"""
        return S.Pd(self._name(mode), args or (), self._loc(meta, mode))

    # -- hardware --
    def hardware_block(self, meta: Meta, name: Token, *items: S.HardwareItem) -> S.HardwareBlock:
        """`hardware_def: "hardware" NAME "{" _hw_item* "}"  -> hardware_block`"""
        return S.HardwareBlock(self._name(name), items, self._loc(meta, name))

    def hardware_preset(self, meta: Meta, name: Token, preset: Token) -> S.HardwarePreset:
        """`hardware_def: "hardware" NAME "=" (NAME | STRING)  -> hardware_preset`"""
        value = self._str(preset) if preset.type == "STRING" else self._name(preset)
        return S.HardwarePreset(self._name(name), value, self._loc(meta, name))

    def hardware_import(self, meta: Meta, name: Token, importer: Token, path: Token) -> S.HardwareImport:
        """`hardware_def: "hardware" NAME "=" NAME "(" STRING ")"  -> hardware_import`"""
        return S.HardwareImport(self._name(name), self._name(importer), self._str(path), self._loc(meta, name))

    def grid(self, meta: Meta, *dims: Token) -> S.Grid:
        """`grid: "grid" _dims`"""
        return S.Grid(self._dims(dims), self._loc(meta, *dims))

    def chiplet(self, meta: Meta, name: Token, *items: S.ChipletItem) -> S.Chiplet:
        """`chiplet: "chiplet" NAME "{" _chip_item* "}"`"""
        return S.Chiplet(self._name(name), items, self._loc(meta, name))

    def pes(self, meta: Meta, *dims: Token) -> S.Pes:
        """`pes: "pes" _dims`"""
        return S.Pes(self._dims(dims), self._loc(meta, *dims))

    def word_setting(self, meta: Meta, key: S.Name, value: Token) -> S.WordSetting:
        """`word_setting: word_key NAME`"""
        return S.WordSetting(key, self._name(value), self._loc(meta, key))

    def setting(self, meta: Meta, key: S.Name, value: S.Quantity) -> S.Setting:
        """`setting: setting_key quantity`"""
        return S.Setting(key, value, self._loc(meta, key))

    def quantity(self, meta: Meta, number: Token, unit: S.Unit | None) -> S.Quantity:
        """`quantity: NUMBER [unit]`"""
        return S.Quantity(self._number(number), unit, self._loc(meta, number))

    def unit(self, meta: Meta, first: Token, per: Token | None) -> S.Unit:
        """`unit: NAME ["/" NAME]`"""
        text = str(first) if per is None else f"{first}/{per}"
        return S.Unit(text, self._tok_loc(first))

    def place(self, meta: Meta, chiplet: Token, where: S.PlaceSpan | S.PlaceAll) -> S.Place:
        """`place: "place" NAME place_where`"""
        return S.Place(self._name(chiplet), where, self._loc(meta, chiplet))

    def place_span(self, meta: Meta, axis: S.Name, span: S.Range | S.Number) -> S.PlaceSpan:
        """`place_where: place_axis (range | number)  -> place_span`"""
        return S.PlaceSpan(axis, span, self._loc(meta, axis))

    def place_all(self, meta: Meta) -> S.PlaceAll:
        """`place_where: "all"  -> place_all`"""
        return S.PlaceAll(self._loc(meta))

    def nop(self, meta: Meta, topology: Token, *settings: S.Setting | None) -> S.Nop:
        """`nop: "nop" NAME ["{" setting* "}"]`"""
        return S.Nop(self._name(topology), tuple(s for s in settings if s is not None), self._loc(meta, topology))

    def dram(self, meta: Meta, name: Token, *items: S.MemoryItem) -> S.Memory:
        """`dram: "dram" NAME "{" _mem_item* "}"`"""
        return S.Memory("dram", self._name(name), items, self._loc(meta, name))

    def pim(self, meta: Meta, name: Token, *items: S.MemoryItem) -> S.Memory:
        """`pim: "pim" NAME "{" _mem_item* "}"`"""
        return S.Memory("pim", self._name(name), items, self._loc(meta, name))

    def at(self, meta: Meta, *edges: Token) -> S.At:
        """`at: "at" NAME ("," NAME)*`"""
        return S.At(tuple(self._name(e) for e in edges), self._loc(meta, *edges))

    def channels(self, meta: Meta, count: Token) -> S.Channels:
        """`channels: "channels" NUMBER`"""
        return S.Channels(self._number(count), self._loc(meta, count))


def to_syntax(tree: Tree, file: str) -> S.File:
    """The `syntax.File` of one parsed file."""
    return TreeToSyntax(file).transform(tree)
