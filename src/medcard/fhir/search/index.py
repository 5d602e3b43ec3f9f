"""Extraction of the index rows of a resource: one row per searchable value.

For each search parameter of the resource's type, the compiled expression yields FHIR
values; each is turned into rows of the index table of the parameter's type (``sp_token``,
``sp_string``, ``sp_date``, ``sp_number``, ``sp_quantity``, ``sp_reference``, ``sp_uri``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from medcard.core.errors import Issue, Unprocessable
from medcard.fhir.fhirpath import Node, split_union
from medcard.fhir.search.params import Registry, SearchParam, registry
from medcard.fhir.search.values import MAX_TIME, MIN_TIME, date_range, fold
from medcard.fhir.spec import r4

_STRING_PARTS = {
    "HumanName": ("text", "family", "given", "prefix", "suffix"),
    "Address": ("text", "line", "city", "district", "state", "postalCode", "country"),
}
_QUANTITY_TYPES = {"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity"}
_DATE_TYPES = {"date", "dateTime", "instant"}
MAX_INDEXED_STRING = 512  # longer strings are indexed (and searched) by their beginning
# The longest value of a token, reference, URI or quantity unit that is indexed whole, in UTF-8 bytes. A
# B-tree row of PostgreSQL holds at most 2,704 bytes; a token row carries a code and a system besides
# the type, parameter and ids. Exact matches cannot be cut short, so a longer value is refused.
MAX_INDEXED_BYTES = 1024
_SHORT = MAX_INDEXED_BYTES // 4  # a character is at most 4 bytes in UTF-8: shorter values always fit
NOT_IN_RECORDS = frozenset({"Group"})


@dataclass(slots=True)
class IndexRows:
    """The index rows of one resource, by table; each row starts with the parameter code."""

    token: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    string: list[tuple[str, str, str]] = field(default_factory=list)
    date: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    number: list[tuple[str, Decimal]] = field(default_factory=list)
    quantity: list[tuple[str, Decimal, str | None, str | None]] = field(default_factory=list)
    reference: list[tuple[str, str | None, str | None, str | None]] = field(default_factory=list)
    uri: list[tuple[str, str]] = field(default_factory=list)

    def patient_references(self, params: tuple[str, ...]) -> list[str]:
        """Ids of the patients referenced through the index rows ``params``, in their order."""
        out: list[str] = []
        for wanted in params:
            for param, target_type, target_id, _url in self.reference:
                if param == wanted and target_type == "Patient" and target_id and target_id not in out:
                    out.append(target_id)
        return out


class _TypeParams:
    """A type's indexed parameters, and which of them read each top-level key."""

    def __init__(self, params: list[SearchParam]) -> None:
        self.params = params
        self.always = [i for i, p in enumerate(params) if p.root_keys is None]  # cannot be told: always run
        self.by_key: dict[str, list[int]] = {}
        for i, p in enumerate(params):
            for key in p.root_keys or ():
                self.by_key.setdefault(key, []).append(i)


class Indexer:
    """Turns resources into index rows using a registry of search parameters."""

    def __init__(self, reg: Registry) -> None:
        self.registry = reg
        self._params: dict[str, _TypeParams] = {}
        self._implicit_systems: dict[str, str | None] = {}
        self._compartment: dict[str, tuple[str, ...]] = {}

    def compartment_params(self, resource_type: str) -> tuple[str, ...]:
        """The index rows (parameter codes) naming the patients whose record a resource is in.

        A Group is a list of patients (a clinic's children), not part of any one record, although
        the R4 compartment definition lists its members: medcard keeps Groups out of records.
        """
        found = self._compartment.get(resource_type)
        if found is None:
            codes: list[str] = []
            names = () if resource_type in NOT_IN_RECORDS else r4().patient_compartment.get(resource_type, ())
            for name in names:
                param = self.registry.get(resource_type, name)
                for code, _target in param.rows_of if param else ():
                    if code not in codes:
                        codes.append(code)
            found = self._compartment[resource_type] = tuple(codes)
        return found

    def rows(self, resource: dict[str, Any]) -> IndexRows:
        rtype = resource["resourceType"]
        known = self._params.get(rtype)
        if known is None:
            known = self._params[rtype] = _TypeParams(self.registry.indexed(rtype))
        # Only the parameters that read a key the resource has (6 of an Observation's 29), in their order.
        wanted = set(known.always)
        by_key = known.by_key
        for key in resource:
            found = by_key.get(key)
            if found is not None:
                wanted.update(found)
        out = IndexRows()
        params = known.params
        for i in sorted(wanted):
            param = params[i]
            assert param.path is not None
            nodes = param.path(resource)
            if nodes:
                self._add(out, param, nodes)
        return out

    def _add(self, out: IndexRows, param: SearchParam, nodes: list[Node]) -> None:
        code = param.code
        kind = param.type
        if kind == "token":
            for value, type_name in nodes:
                for system, token, text in self._tokens(value, type_name, param):
                    if len(system or "") > _SHORT or len(token or "") > _SHORT:
                        _check_length(param, system, token)
                    out.token.append((code, system, token, text))
        elif kind == "string":
            for value, type_name in nodes:
                for text in _strings(value, type_name):
                    exact = text[:MAX_INDEXED_STRING]
                    # folding can lengthen text (NFKD makes 18 characters of U+FDFA): cut it again
                    out.string.append((code, fold(exact)[:MAX_INDEXED_STRING], exact))
        elif kind == "date":
            for value, type_name in nodes:
                rng = _date_value(value, type_name)
                if rng is not None:
                    out.date.append((code, *rng))
        elif kind == "reference":
            for value, type_name in nodes:
                ref = _reference(value, type_name)
                if ref is not None:
                    if len(ref[0] or "") > _SHORT or len(ref[1] or "") > _SHORT or len(ref[2] or "") > _SHORT:
                        _check_length(param, *ref)
                    out.reference.append((code, *ref))
        elif kind == "quantity":
            for value, type_name in nodes:
                if type_name in _QUANTITY_TYPES and isinstance(value, dict) and "value" in value:
                    system, unit = value.get("system"), value.get("code") or value.get("unit")
                    if len(system or "") > _SHORT or len(unit or "") > _SHORT:
                        _check_length(param, system, unit)
                    out.quantity.append((code, Decimal(value["value"]), system, unit))
        elif kind == "number":
            for value, _type_name in nodes:
                if isinstance(value, int | Decimal) and not isinstance(value, bool):
                    out.number.append((code, Decimal(value)))
        elif kind == "uri":
            for value, _type_name in nodes:
                if isinstance(value, str):
                    if len(value) > _SHORT:
                        _check_length(param, value)
                    out.uri.append((code, value))

    def _tokens(self, value: Any, type_name: str, param: SearchParam
                ) -> list[tuple[str | None, str | None, str | None]]:
        if type_name == "CodeableConcept" and isinstance(value, dict):
            # The concept's text rides on each coding's row (for :text), so it costs no row of its own.
            text = value.get("text") if isinstance(value.get("text"), str) else None
            rows = [_coding(c, text) for c in value.get("coding", ()) if isinstance(c, dict)]
            if not rows and text:
                rows.append((None, None, fold(text)))
            return rows
        if type_name == "Coding" and isinstance(value, dict):
            return [_coding(value)]
        if type_name == "Identifier" and isinstance(value, dict):
            type_text = value.get("type", {}).get("text") if isinstance(value.get("type"), dict) else None
            return [(value.get("system"), value.get("value"), fold(type_text) if type_text else None)]
        if type_name == "ContactPoint" and isinstance(value, dict):
            return [(value.get("system"), value.get("value"), None)]
        if type_name == "boolean" and isinstance(value, bool):
            return [(None, "true" if value else "false", None)]
        if isinstance(value, str):
            return [(self._implicit_system(param), value, None)]
        return []

    def _implicit_system(self, param: SearchParam) -> str | None:
        """The code system of a ``code`` element, when its required value set has just one."""
        key = f"{param.resource_type}.{param.code}"
        if key not in self._implicit_systems:
            system = None
            expr = param.definition.expression if param.definition else None
            if expr:
                element = _element_of(param.resource_type, expr)
                if element and element.binding:
                    systems = r4().codes(element.binding) or {}
                    system = next(iter(systems)) if len(systems) == 1 else None
            self._implicit_systems[key] = system
        return self._implicit_systems[key]


def _check_length(param: SearchParam, *texts: str | None) -> None:
    """Refuse (422) a value too long for its index row, naming the elements the parameter reads."""
    for text in texts:
        if text is not None and len(text.encode()) > MAX_INDEXED_BYTES:
            where = _expression_of(param)
            message = (f"a value of {len(text.encode())} bytes at {where} is longer than the {MAX_INDEXED_BYTES} "
                       f"bytes medcard indexes for the search parameter '{param.code}'")
            raise Unprocessable(message, [Issue(message, code="too-long", expression=(where,))])


def _expression_of(param: SearchParam) -> str:
    """The FHIRPath of the elements a parameter reads, in its own resource type."""
    expression = param.definition.expression if param.definition and param.definition.expression else ""
    mine = [part.strip() for part in split_union(expression) if part.strip().startswith(param.resource_type + ".")]
    return " | ".join(mine) or f"{param.resource_type} (search parameter {param.code})"


def _element_of(resource_type: str, expression: str) -> Any:
    path = expression.split("|")[0].strip()
    steps = path.split(".")
    if steps[0] != resource_type or len(steps) != 2:
        return None
    tdef = r4().types.get(resource_type)
    return tdef.elements.get(steps[1]) if tdef else None


def _coding(coding: dict[str, Any], text: str | None = None) -> tuple[str | None, str | None, str | None]:
    display = coding.get("display")
    words = " ".join(t for t in (text, display if isinstance(display, str) else None) if t)
    return coding.get("system"), coding.get("code"), fold(words) if words else None


def _strings(value: Any, type_name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    parts = _STRING_PARTS.get(type_name)
    if parts is None or not isinstance(value, dict):
        return []
    out: list[str] = []
    for part in parts:
        v = value.get(part)
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out.extend(x for x in v if isinstance(x, str))
    return out


def _date_value(value: Any, type_name: str) -> tuple[datetime, datetime] | None:
    if type_name in _DATE_TYPES and isinstance(value, str):
        return date_range(value)
    if type_name == "Period" and isinstance(value, dict):
        start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
        end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
        if start is None and end is None:
            return None
        return (start[0] if start else MIN_TIME), (end[1] if end else MAX_TIME)
    if type_name == "Timing" and isinstance(value, dict):
        events = [date_range(e) for e in value.get("event", ()) if isinstance(e, str)]
        ranges = [r for r in events if r is not None]
        if ranges:
            return min(r[0] for r in ranges), max(r[1] for r in ranges)
        bounds = value.get("repeat", {}).get("boundsPeriod") if isinstance(value.get("repeat"), dict) else None
        return _date_value(bounds, "Period") if bounds else None
    return None


def _reference(value: Any, type_name: str) -> tuple[str | None, str | None, str | None] | None:
    """(target type, target id, url) of a reference or canonical."""
    if type_name in ("canonical", "uri", "url") and isinstance(value, str):
        return None, None, value
    if not isinstance(value, dict):
        return None
    ref = value.get("reference")
    if not isinstance(ref, str):
        return None
    if ref.startswith("#"):
        return None
    if ref.startswith(("urn:", "http://", "https://")):
        return None, None, ref  # a resource on another server, or not yet resolved
    parts = ref.split("/_history/")[0].split("/")
    if len(parts) == 2:
        return parts[0], parts[1], None
    return None, None, ref


@cache
def indexer() -> Indexer:
    """The process-wide indexer."""
    return Indexer(registry())
