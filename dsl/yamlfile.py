"""YAML files of other tools (ZigZag cores, Stream accelerators) read with every key's file:line:col kept, so that
an unsupported key or a bad value is reported where it is written (exit 2), like an error in mapc's own language.

`read_yaml(path)` returns a `YamlMap` (a dict that also knows where each of its keys is) for a mapping document.
A key written twice keeps its last value, as PyYAML and ZigZag do, and is listed in `duplicates` so the importer
can say so (ZigZag's own tpu_like.yaml repeats `ports`).
"""

from __future__ import annotations

import os
from typing import Any

from mapc.core.errors import DslError, Loc
from mapc.dsl.parser import error_at


class YamlMap(dict):
    """A YAML mapping: its items, where it starts (`loc`) and where each key is written (`locs`)."""

    def __init__(self, loc: Loc) -> None:
        super().__init__()
        self.loc = loc
        self.locs: dict[Any, Loc] = {}
        self.duplicates: list[tuple[Any, Loc]] = []

    def at(self, key: Any) -> Loc:
        """Where `key` is written (the mapping's start if it is absent)."""
        return self.locs.get(key, self.loc)


def read_yaml(path: str, what: str, loc: Loc | None = None) -> YamlMap:
    """The mapping document at `path` (`what` names it in errors: "ZigZag core", ...)."""
    import yaml      # PyYAML: imported with the first YAML file (mapc's own language needs none)

    class _Loader(yaml.SafeLoader):
        """SafeLoader whose mappings are `YamlMap`s."""

    def mapping(loader: Any, node: Any) -> YamlMap:
        m = YamlMap(_loc(path, node.start_mark))
        for k_node, v_node in node.value:
            key = loader.construct_object(k_node, deep=True)
            if key in m:
                m.duplicates.append((key, _loc(path, k_node.start_mark)))
            m[key] = loader.construct_object(v_node, deep=True)
            m.locs[key] = _loc(path, k_node.start_mark)
        return m

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    if not os.path.isfile(path):
        raise DslError(f"{what} file not found: {path}", loc=loc)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=_Loader)   # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = _loc(path, mark) if mark is not None else Loc(path, 1, 1)
        raise error_at(f"invalid YAML: {e.problem}", where) from None
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        raise DslError(f"cannot read {what} {path}: {e}", loc=loc) from None
    if not isinstance(doc, YamlMap):
        raise error_at(f"a {what} file holds a mapping at the top level", Loc(path, 1, 1))
    return doc


def _loc(path: str, mark: Any) -> Loc:
    return Loc(path, mark.line + 1, mark.column + 1)


def check_keys(m: YamlMap, used: tuple[str, ...], ignored: tuple[str, ...], what: str) -> None:
    """Exit 2 at the first key of `m` that is neither `used` nor knowingly `ignored` (hint: both lists)."""
    for key in m:
        if key not in used and key not in ignored:
            raise error_at(f"unsupported key `{key}` in {what}", m.at(key),
                           hint="mapc reads: " + ", ".join(used)
                           + (f"; and accepts without using: {', '.join(ignored)}" if ignored else ""))


def need(m: YamlMap, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """`m[key]`, which must be there and of `kind` (error at the mapping, or at the key)."""
    if key not in m:
        raise error_at(f"{what} needs `{key}`", m.loc)
    v = m[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(v, bool) and bool not in kinds or not isinstance(v, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise error_at(f"`{key}` of {what} must be a {names}, got {v!r}", m.at(key))
    return v


def number(m: YamlMap, key: str, what: str, default: float | None = None, minimum: float = 0.0) -> float:
    """A number >= `minimum` at `key` (or `default` when absent and a default is given)."""
    if key not in m and default is not None:
        return default
    v = need(m, key, (int, float), what)
    if v < minimum:
        raise error_at(f"`{key}` of {what} must be >= {minimum:g}, got {v!r}", m.at(key))
    return float(v)
