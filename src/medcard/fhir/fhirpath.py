"""The subset of FHIRPath that the R4 search parameter expressions use, compiled to Python.

Search needs the values of each parameter for every resource written, thousands of times a
second, so the expressions are compiled once into chains of small functions over the JSON
(no interpreter at write time). Supported: paths (``Observation.code``), unions (``|``),
type filters (``.as(T)``, ``.ofType(T)``, ``(X as T)``), ``.where(resolve() is T)``,
``.where(field='literal')``, ``[n]``, ``.first()``, and the one boolean form R4 uses
(``Patient.deceased.exists() and Patient.deceased != false``). Any other expression raises
:class:`UnsupportedExpression` when compiled, and its parameter is not offered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from medcard.fhir.spec import Spec, r4

# A node is a value found in the resource with its FHIR type name.
Node = tuple[Any, str]
Step = Callable[[list[Node]], list[Node]]
Path = Callable[[dict[str, Any]], list[Node]]

_WHERE_RESOLVE = re.compile(r"where\(resolve\(\) is ([A-Za-z]+)\)")
_WHERE_EQUALS = re.compile(r"where\(([a-zA-Z]+) ?= ?'([^']*)'\)")
_TYPE_FILTER = re.compile(r"(?:as|ofType)\(([A-Za-z]+)\)")
_INDEX = re.compile(r"([a-zA-Z]+)\[(\d+)\]")
_NAME = re.compile(r"[a-zA-Z]+")
_PAREN_AS = re.compile(r"^\((.+) as ([A-Za-z]+)\)(.*)$")
_DECEASED = re.compile(r"^([A-Za-z]+)\.(\w+)\.exists\(\) and \1\.\2 != false$")


class UnsupportedExpression(ValueError):
    """The expression uses FHIRPath beyond the supported subset."""


def _split_top(text: str, separator: str) -> list[str]:
    """Split at ``separator`` where it is outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == separator:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def split_union(expression: str) -> list[str]:
    """Split ``a | b`` at the top level."""
    return [p.strip() for p in _split_top(expression, "|") if p.strip()]


def split_steps(path: str) -> list[str]:
    """Split a dotted path into steps, keeping function arguments whole."""
    return _split_top(path, ".")


class Compiler:
    """Compiles expressions against one version of the specification."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._keys: dict[tuple[str, str], tuple[tuple[str, str], ...] | None] = {}

    def compile(self, expression: str, resource_type: str) -> Path | None:
        """A function giving the nodes of ``expression`` for a ``resource_type`` resource.

        Only the union parts rooted at ``resource_type`` (or at ``Resource``) are kept; None
        when no part applies to the type.
        """
        paths = []
        for part in split_union(expression):
            compiled = self._part(part, resource_type)
            if compiled is not None:
                paths.append(compiled)
        if not paths:
            return None
        if len(paths) == 1:
            return paths[0]

        def union(resource: dict[str, Any]) -> list[Node]:
            out: list[Node] = []
            for p in paths:
                out.extend(p(resource))
            return out

        return union

    def root_keys(self, expression: str, resource_type: str) -> frozenset[str] | None:
        """The top-level JSON keys the expression can read on ``resource_type``.

        A resource without any of them yields nothing, so the indexer skips the expression.
        None when that cannot be told from the expression.
        """
        keys: set[str] = set()
        for part in split_union(expression):
            deceased = _DECEASED.match(part)
            if deceased:
                if deceased.group(1) == resource_type:
                    return None  # yields false when the element is absent
                continue
            paren = _PAREN_AS.match(part)
            steps = split_steps(paren.group(1) if paren else part)
            if steps[0] not in (resource_type, "Resource", "DomainResource"):
                continue
            if len(steps) < 2:
                return None
            name = _INDEX.sub(r"\1", steps[1])
            if not _NAME.fullmatch(name):
                return None
            # A type filter right after the first element (``(X.value as Quantity)``) reads only
            # the keys of that type: ``valueQuantity``, not every ``value[x]``.
            wanted = paren.group(2) if paren and len(steps) == 2 else (
                m.group(1) if len(steps) > 2 and (m := _TYPE_FILTER.fullmatch(steps[2])) else None)
            only = _aliases(wanted) if wanted else None
            keys.update(key for key, child_type in self._keys_of(resource_type, name)
                        if only is None or child_type in only)
        return frozenset(keys)

    def _part(self, part: str, resource_type: str) -> Path | None:
        deceased = _DECEASED.match(part)
        if deceased:
            if deceased.group(1) != resource_type:
                return None
            return self._exists_not_false(deceased.group(2))
        suffix_filter: str | None = None
        paren = _PAREN_AS.match(part)
        if paren:
            part, suffix_filter, rest = paren.group(1), paren.group(2), paren.group(3)
            if rest:
                part = part + ".as(" + suffix_filter + ")" + rest
                suffix_filter = None
        steps = split_steps(part)
        root = steps[0]
        if root not in (resource_type, "Resource", "DomainResource"):
            return None
        rest_steps = [*steps[1:], *([f"as({suffix_filter})"] if suffix_filter else [])]
        compiled: list[Step] = []
        i = 0
        while i < len(rest_steps):
            step = rest_steps[i]
            typed = _TYPE_FILTER.fullmatch(rest_steps[i + 1]) if i + 1 < len(rest_steps) else None
            if typed and _NAME.fullmatch(step):
                # an element and a type filter on it: read only the keys of that type (valueQuantity)
                compiled.append(self._child(step, _aliases(typed.group(1))))
                i += 2
                continue
            compiled.append(self._step(step))
            i += 1

        def run(resource: dict[str, Any]) -> list[Node]:
            nodes: list[Node] = [(resource, resource_type)]
            for step in compiled:
                if not nodes:
                    return nodes
                nodes = step(nodes)
            return nodes

        return run

    def _step(self, step: str) -> Step:
        if m := _TYPE_FILTER.fullmatch(step):
            return self._type_filter(m.group(1))
        if m := _WHERE_RESOLVE.fullmatch(step):
            return _resolves_to(m.group(1))
        if m := _WHERE_EQUALS.fullmatch(step):
            return _field_equals(m.group(1), m.group(2))
        if step == "first()":
            return lambda nodes: nodes[:1]
        if m := _INDEX.fullmatch(step):
            child, index = self._child(m.group(1)), int(m.group(2))
            return lambda nodes: child(nodes)[index:index + 1]
        if _NAME.fullmatch(step):
            return self._child(step)
        raise UnsupportedExpression(step)

    def _child(self, name: str, only: frozenset[str] | None = None) -> Step:
        """The element ``name`` of each node; ``only``: just its values of these types (a type filter)."""
        keys_by_type: dict[str, tuple[tuple[str, str], ...]] = {}  # this step's keys, per type of node

        def child(nodes: list[Node]) -> list[Node]:
            out: list[Node] = []
            for value, type_name in nodes:
                if not isinstance(value, dict):
                    continue
                if type_name == "Resource":
                    type_name = value.get("resourceType", "")
                keys = keys_by_type.get(type_name)
                if keys is None:
                    keys = keys_by_type[type_name] = tuple(
                        (key, t) for key, t in self._keys_of(type_name, name) if only is None or t in only)
                for key, child_type in keys:
                    found = value.get(key)
                    if found is None:
                        continue
                    if isinstance(found, list):
                        out.extend((v, child_type) for v in found if v is not None)
                    else:
                        out.append((found, child_type))
            return out

        return child

    def _keys_of(self, type_name: str, name: str) -> tuple[tuple[str, str], ...]:
        cache_key = (type_name, name)
        keys = self._keys.get(cache_key)
        if keys is None:
            keys = ()
            if type_name in self.spec.types or type_name in ("SimpleQuantity", "MoneyQuantity"):
                element = self.spec.type_def(type_name).elements.get(name)
                if element is not None and element.choice:
                    keys = tuple((name + t[0].upper() + t[1:], t) for t in element.types)
                elif element is not None:
                    keys = ((name, element.types[0] if element.types else "string"),)
            self._keys[cache_key] = keys
        return keys

    def _type_filter(self, wanted: str) -> Step:
        aliases = _aliases(wanted)
        return lambda nodes: [n for n in nodes if n[1] in aliases]

    def _exists_not_false(self, name: str) -> Path:
        child = self._child(name)

        def run(resource: dict[str, Any]) -> list[Node]:
            found = child([(resource, resource.get("resourceType", ""))])
            present = bool(found) and not any(v is False for v, _ in found)
            return [(present, "boolean")]

        return run


def _aliases(wanted: str) -> frozenset[str]:
    """The type names a type filter keeps: the type, and for Quantity its profiles."""
    if wanted == "Quantity":
        return frozenset({wanted, "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"})
    return frozenset({wanted})


def _resolves_to(target_type: str) -> Step:
    prefix = target_type + "/"

    def keep(nodes: list[Node]) -> list[Node]:
        out = []
        for value, type_name in nodes:
            ref = value.get("reference") if isinstance(value, dict) else None
            if isinstance(ref, str) and (ref.startswith(prefix) or f"/{prefix}" in ref):
                out.append((value, type_name))
        return out

    return keep


def _field_equals(field: str, literal: str) -> Step:
    return lambda nodes: [n for n in nodes if isinstance(n[0], dict) and n[0].get(field) == literal]


@cache
def compiler(spec: Spec | None = None) -> Compiler:
    return Compiler(spec or r4())
