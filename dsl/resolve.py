"""From syntax trees (one per file, imports first) to the frozen `Spec`: the orchestration of resolution.

`resolve(units, main_file)` collects the definitions of every file in order (models by name, the one workload,
the one parallel block, hardware blocks built as they are met), rejects duplicates, then resolves the models
(`mapc.dsl.models`), the workload (`mapc.dsl.workload`) and the parallel block (`mapc.dsl.parallel`). Hardware
blocks are built by `mapc.dsl.hardware_block`; the checks that need the chosen hardware are
`mapc.dsl.validate`. Every error is a `DslError` located at the offending token, with its source line.
"""

from __future__ import annotations

import os

from mapc.core.hardware import Hardware
from mapc.core.spec import Model, Spec
from mapc.dsl import syntax as S
from mapc.dsl import zoo
from mapc.dsl.hardware_block import build_hardware, build_preset
from mapc.dsl.models import ModelTable
from mapc.dsl.parallel import build_parallel
from mapc.dsl.parser import error_at
from mapc.dsl.stream import stream_hardware, zigzag_hardware
from mapc.dsl.values import duplicate
from mapc.dsl.workload import build_workload


class _Definitions:
    """What the files of one compilation define, collected in file order with duplicates rejected."""

    def __init__(self) -> None:
        self.models = ModelTable()
        self.workload: S.Workload | None = None
        self.parallel: S.Parallel | None = None
        self.hardware: dict[str, tuple[Hardware, str, S.Name]] = {}   # name -> (hardware, its file, its name)

    def collect(self, file: str, tree: S.File) -> None:
        """Add the top-level definitions of `file`; hardware blocks are built here, in source order."""
        for node in tree.items:
            if isinstance(node, S.ModelDef):
                self.models.define(node)
            elif isinstance(node, S.Workload):
                if self.workload is not None:
                    first = self.workload.name
                    raise error_at(f"a second workload `{node.name.text}`", node.name.loc,
                                   hint=f"one workload per compilation; `{first.text}` is defined at "
                                        f"{first.loc.file}:{first.loc.line}")
                self.workload = node
            elif isinstance(node, S.Parallel):
                if self.parallel is not None:
                    raise error_at("a second parallel block", node.loc,
                                   hint=f"the first one is at {self.parallel.loc.file}:{self.parallel.loc.line}")
                self.parallel = node
            elif isinstance(node, (S.HardwareBlock, S.HardwarePreset, S.HardwareImport)):
                name = node.name
                if name.text in self.hardware:
                    raise duplicate("hardware", name.text, name.loc, self.hardware[name.text][2].loc)
                hw = build_hardware(node) if isinstance(node, S.HardwareBlock) else build_preset(node) \
                    if isinstance(node, S.HardwarePreset) else _import_hardware(node)
                self.hardware[name.text] = (hw, file, name)


IMPORTERS = {"zigzag": zigzag_hardware, "stream": stream_hardware}


def _import_hardware(node: S.HardwareImport) -> Hardware:
    """`hardware NAME = zigzag("core.yaml")` or `stream("accelerator.yaml")`, the path relative to the file."""
    kind = node.importer.text
    if kind not in IMPORTERS:
        raise error_at(f"unknown hardware importer `{kind}`", node.importer.loc,
                       hint="zigzag(\"core.yaml\") reads a ZigZag core, stream(\"accelerator.yaml\") a Stream "
                            "accelerator")
    file = node.path.loc.file
    base = os.path.dirname(file) if not file.startswith("<") else os.getcwd()
    return IMPORTERS[kind](os.path.join(base, node.path.value), node.name.text, node.path.loc)


def resolve(units: list[tuple[str, S.File]], main_file: str) -> Spec:
    """The `Spec` of `main_file` given (file, syntax tree) for it and its imports (imports first).

    `Spec.hardware` is the main file's one hardware block, else the only block of all the files, else None;
    `Spec.models` holds the defined models and the zoo models the workload serves."""
    d = _Definitions()
    for file, tree in units:
        d.collect(file, tree)
    d.models.resolve_all()
    workload = build_workload(d.workload, d.models) if d.workload is not None else None
    parallel = build_parallel(d.parallel)
    models: dict[str, Model] = dict(d.models.resolved)
    if workload is not None:
        for s in workload.serves:
            if s.model not in models:       # not defined in the files, so a zoo model
                models[s.model] = zoo.MODELS[s.model]
    hw_all = {n: hw for n, (hw, _, _) in d.hardware.items()}
    in_main = [hw for hw, f, _ in d.hardware.values() if f == main_file]
    hardware = in_main[0] if len(in_main) == 1 else (next(iter(hw_all.values())) if len(hw_all) == 1 else None)
    return Spec(file=main_file, models=models, workload=workload, parallel=parallel, hardware=hardware,
                hardware_blocks=hw_all)
