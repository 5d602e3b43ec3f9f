"""The registry of search parameters: which ones each resource type has, compiled.

Built from the R4 SearchParameter definitions. A parameter is offered on a type only when
its expression compiles (see :mod:`medcard.fhir.fhirpath`) and its type is one the search
engine implements; the CapabilityStatement is generated from this registry, so it lists
exactly what works.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from functools import cache

from medcard.fhir.fhirpath import Path, UnsupportedExpression, compiler, split_union
from medcard.fhir.spec import SearchParamDef, Spec, r4

log = logging.getLogger(__name__)

# Parameter types whose values are kept in the index tables.
INDEXED_TYPES = ("token", "string", "date", "number", "quantity", "reference", "uri")
# Parameters answered from the resource table's own columns, for every type.
COLUMN_PARAMS = ("_id", "_lastUpdated")
# medcard's own parameters, beside the standard ones.
MEDCARD_PARAMS = (
    # Whom an access grant names, by account (the policy finds a relative's grants by it).
    SearchParamDef("actor-identifier", ("Consent",), "token", "Consent.provision.actor.reference.identifier",
                   "urn:medcard:search-parameter:Consent-actor-identifier"),
)


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter of one resource type."""

    code: str
    type: str
    resource_type: str
    path: Path | None
    targets: tuple[str, ...]
    definition: SearchParamDef | None
    # Top-level JSON keys the expression reads; a resource with none of them has no values.
    root_keys: frozenset[str] | None = None
    # The index rows that answer this parameter: (parameter code, required target type).
    # A parameter that restates others (``patient`` is ``subject`` that is a Patient,
    # ``combo-code`` is ``code`` plus ``component-code``) keeps no rows of its own.
    rows_of: tuple[tuple[str, str | None], ...] = ()

    @property
    def has_own_rows(self) -> bool:
        return self.path is not None and self.rows_of == ((self.code, None),)


class Registry:
    """Search parameters by resource type and code."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._by_type: dict[str, dict[str, SearchParam]] = {t: {} for t in spec.resource_types}
        for definition in (*spec.search_parameters, *MEDCARD_PARAMS):
            self._add(definition)
        for rtype, params in self._by_type.items():
            _share_rows(rtype, params)
        # Patient.phonetic is answered from patient_lookup (phonetic skeletons), not from index rows.
        phonetic = self._by_type["Patient"].get("phonetic")
        if phonetic is not None:
            self._by_type["Patient"]["phonetic"] = replace(phonetic, rows_of=())

    def _add(self, definition: SearchParamDef) -> None:
        if definition.code in COLUMN_PARAMS:
            for rtype in self._by_type:
                self._by_type[rtype][definition.code] = SearchParam(
                    definition.code, definition.type, rtype, None, (), definition)
            return
        if definition.type not in INDEXED_TYPES or not definition.expression:
            return
        bases = self.spec.resource_types if definition.base[0] in ("Resource", "DomainResource") \
            else definition.base
        for rtype in bases:
            if rtype not in self._by_type:
                continue
            try:
                path = compiler(self.spec).compile(definition.expression, rtype)
            except UnsupportedExpression as e:
                log.debug("search parameter %s of %s not offered: %s", definition.code, rtype, e)
                continue
            if path is None:
                continue
            roots = compiler(self.spec).root_keys(definition.expression, rtype)
            self._by_type[rtype][definition.code] = SearchParam(
                definition.code, definition.type, rtype, path, definition.targets, definition, roots,
                ((definition.code, None),))

    def get(self, resource_type: str, code: str) -> SearchParam | None:
        return self._by_type.get(resource_type, {}).get(code)

    def for_type(self, resource_type: str) -> dict[str, SearchParam]:
        return self._by_type.get(resource_type, {})

    def indexed(self, resource_type: str) -> list[SearchParam]:
        """The parameters whose values are extracted into the index tables."""
        return [p for p in self.for_type(resource_type).values() if p.has_own_rows]


_RESOLVE_SUFFIX = re.compile(r"^(.*)\.where\(resolve\(\) is ([A-Za-z]+)\)$")


def _parts(param: SearchParam) -> frozenset[str]:
    expression = param.definition.expression if param.definition else None
    if not expression or param.path is None:
        return frozenset()
    root = param.resource_type
    return frozenset(" ".join(p.split()) for p in split_union(expression)
                     if p.lstrip("(").startswith((root + ".", "Resource.", "DomainResource.")))


def _share_rows(rtype: str, params: dict[str, SearchParam]) -> None:
    """Point parameters that restate others at those others' index rows."""
    parts = {code: _parts(p) for code, p in params.items()}
    singles = {next(iter(ps)): code for code, ps in parts.items() if len(ps) == 1}
    for code, param in list(params.items()):
        mine = parts[code]
        if not mine:
            continue
        if len(mine) == 1:
            match = _RESOLVE_SUFFIX.match(next(iter(mine)))
            base = singles.get(match.group(1)) if match else None
            if match and base and base != code and params[base].type == param.type:
                params[code] = replace(param, rows_of=((base, match.group(2)),))
            continue
        covering = [other for other, theirs in parts.items()
                    if other != code and theirs and theirs < mine and params[other].type == param.type
                    and params[other].rows_of == ((other, None),)]
        if covering and frozenset().union(*(parts[c] for c in covering)) == mine:
            params[code] = replace(param, rows_of=tuple((c, None) for c in sorted(covering)))


@cache
def registry() -> Registry:
    """The process-wide registry (built once)."""
    return Registry(r4())
