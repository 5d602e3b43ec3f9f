"""The FHIR R4 (4.0.1) specification, as data.

``r4.json.gz`` is a digest of the official HL7 definitions made by ``tools/build_fhir_spec.py``:
resource and data type structures, expanded value sets of required bindings, search
parameters and the Patient compartment. Everything that needs to know what FHIR R4 says reads
it from here.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

PRIMITIVE_JSON_TYPES = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "number",
}
# Constrained profiles of Quantity that appear as element types.
TYPE_ALIASES = {"SimpleQuantity": "Quantity", "MoneyQuantity": "Quantity"}


@dataclass(frozen=True, slots=True)
class Element:
    """One element of a type, as the validator and the search compiler need it."""

    name: str
    min: int
    max_many: bool
    types: tuple[str, ...]
    choice: bool = False
    binding: str | None = None
    targets: tuple[str, ...] = ()
    summary: bool = False
    modifier: bool = False


@dataclass(slots=True)
class TypeDef:
    """A resource, complex data type or backbone element: its elements and JSON keys."""

    name: str
    elements: dict[str, Element]
    # JSON key -> (element, concrete type): "valueQuantity" -> (value[x], "Quantity").
    keys: dict[str, tuple[Element, str]] = field(default_factory=dict)
    required: tuple[Element, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchParamDef:
    code: str
    base: tuple[str, ...]
    type: str
    expression: str | None
    url: str
    targets: tuple[str, ...] = ()
    components: tuple[tuple[str, str], ...] = ()  # (definition url, expression)


class Spec:
    """The loaded R4 digest."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.fhir_version: str = raw["fhirVersion"]
        self.resource_types: tuple[str, ...] = tuple(raw["resources"])  # in the specification's order
        self.resource_type_names: frozenset[str] = frozenset(self.resource_types)  # for "is it a type?"
        self.primitives: dict[str, dict[str, Any]] = raw["primitives"]
        self.value_sets: dict[str, dict[str, frozenset[str]]] = {
            url: {system: frozenset(codes) for system, codes in systems.items()}
            for url, systems in raw["valueSets"].items()
        }
        self.types: dict[str, TypeDef] = {
            name: _type_def(name, elements) for name, elements in raw["types"].items()
        }
        self.search_parameters: tuple[SearchParamDef, ...] = tuple(
            _search_param(sp) for sp in raw["searchParameters"]
        )
        self.patient_compartment: dict[str, tuple[str, ...]] = {
            k: tuple(v) for k, v in raw["patientCompartment"].items()
        }

    def is_primitive(self, type_name: str) -> bool:
        return type_name in self.primitives

    def type_def(self, type_name: str) -> TypeDef:
        return self.types[TYPE_ALIASES.get(type_name, type_name)]

    def codes(self, value_set: str) -> dict[str, frozenset[str]] | None:
        """System -> codes of an enumerable value set, or None."""
        return self.value_sets.get(value_set)


def _type_def(name: str, raw_elements: dict[str, Any]) -> TypeDef:
    elements: dict[str, Element] = {}
    keys: dict[str, tuple[Element, str]] = {}
    for el_name, raw in raw_elements.items():
        element = Element(
            name=el_name,
            min=raw["min"],
            max_many=raw["max"] != "1",
            types=tuple(TYPE_ALIASES.get(t, t) for t in raw["types"]),
            choice=raw.get("choice", False),
            binding=raw.get("binding"),
            targets=tuple(raw.get("targets", ())),
            summary=raw.get("summary", False),
            modifier=raw.get("modifier", False),
        )
        elements[el_name] = element
        if element.choice:
            for t in element.types:
                keys[el_name + t[0].upper() + t[1:]] = (element, t)
        else:
            keys[el_name] = (element, element.types[0] if element.types else "string")
    required = tuple(e for e in elements.values() if e.min > 0)
    return TypeDef(name, elements, keys, required)


def _search_param(raw: dict[str, Any]) -> SearchParamDef:
    return SearchParamDef(
        code=raw["code"],
        base=tuple(raw["base"]),
        type=raw["type"],
        expression=raw.get("expression"),
        url=raw["url"],
        targets=tuple(raw.get("target", ())),
        components=tuple((c["definition"], c["expression"]) for c in raw.get("component", ())),
    )


@cache
def r4() -> Spec:
    """The R4 specification (loaded once per process)."""
    data = resources.files(__package__).joinpath("r4.json.gz").read_bytes()
    return Spec(json.loads(gzip.decompress(data)))
