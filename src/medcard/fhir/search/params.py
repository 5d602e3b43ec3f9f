"""The registry of search parameters: which ones each resource type has, compiled.

Built from the R4 SearchParameter definitions. A parameter is offered on a type only when
its expression compiles (see :mod:`medcard.fhir.fhirpath`) and its type is one the search
engine implements; the CapabilityStatement is generated from this registry, so it lists
exactly what works.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from medcard.fhir.fhirpath import Path, UnsupportedExpression, compiler
from medcard.fhir.spec import SearchParamDef, Spec, r4

log = logging.getLogger(__name__)

# Parameter types whose values are kept in the index tables.
INDEXED_TYPES = ("token", "string", "date", "number", "quantity", "reference", "uri")
# Parameters answered from the resource table's own columns, for every type.
COLUMN_PARAMS = ("_id", "_lastUpdated")


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter of one resource type."""

    code: str
    type: str
    resource_type: str
    path: Path | None
    targets: tuple[str, ...]
    definition: SearchParamDef | None
    description: str = ""


class Registry:
    """Search parameters by resource type and code."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._by_type: dict[str, dict[str, SearchParam]] = {t: {} for t in spec.resource_types}
        for definition in spec.search_parameters:
            self._add(definition)

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
            targets = definition.targets or ()
            self._by_type[rtype][definition.code] = SearchParam(
                definition.code, definition.type, rtype, path, targets, definition)

    def get(self, resource_type: str, code: str) -> SearchParam | None:
        return self._by_type.get(resource_type, {}).get(code)

    def for_type(self, resource_type: str) -> dict[str, SearchParam]:
        return self._by_type.get(resource_type, {})

    def indexed(self, resource_type: str) -> list[SearchParam]:
        """The parameters whose values are extracted into the index tables."""
        return [p for p in self.for_type(resource_type).values() if p.path is not None]


@cache
def registry() -> Registry:
    """The process-wide registry (built once)."""
    return Registry(r4())
