"""The compiled search expressions: a type filter on a choice element reads only that type's keys."""

from __future__ import annotations

from decimal import Decimal

import pytest

from medcard.fhir.search.index import indexer
from medcard.fhir.search.params import registry

QUANTITY = {"value": Decimal("12.5"), "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
CONCEPT = {"coding": [{"system": "http://snomed.info/sct", "code": "260385009"}], "text": "Отрицательно"}


def observation(**elements: object) -> dict[str, object]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "test"}, **elements}


@pytest.mark.parametrize(("rtype", "code", "keys"), [
    ("Observation", "value-quantity", {"valueQuantity", "valueSampledData"}),  # (X.value as Quantity)
    ("Observation", "value-concept", {"valueCodeableConcept"}),
    ("Observation", "value-string", {"valueString", "valueCodeableConcept"}),  # (... as CodeableConcept).text
    ("Condition", "onset-age", {"onsetAge", "onsetRange"}),  # X.onset.as(Age)
    ("Observation", "component-value-quantity", {"component"}),  # the filter is deeper than the first key
])
def test_root_keys_of_a_type_filter_are_the_keys_of_that_type(rtype: str, code: str, keys: set[str]) -> None:
    param = registry().get(rtype, code)
    assert param is not None
    assert param.root_keys == frozenset(keys)


def nodes(rtype: str, code: str, resource: dict[str, object]) -> list[tuple[object, str]]:
    param = registry().get(rtype, code)
    assert param is not None
    assert param.path is not None
    return param.path(resource)


def test_a_type_filter_keeps_only_values_of_its_type() -> None:
    quantity, concept = observation(valueQuantity=QUANTITY), observation(valueCodeableConcept=CONCEPT)
    assert nodes("Observation", "value-quantity", quantity) == [(QUANTITY, "Quantity")]
    assert nodes("Observation", "value-quantity", concept) == []
    assert nodes("Observation", "value-concept", concept) == [(CONCEPT, "CodeableConcept")]
    assert nodes("Observation", "value-string", concept) == [("Отрицательно", "string")]
    assert nodes("Observation", "value-string", observation(valueString="да")) == [("да", "string")]
    component = observation(component=[{"code": {"text": "a"}, "valueQuantity": QUANTITY},
                                       {"code": {"text": "b"}, "valueString": "нет"}])
    assert nodes("Observation", "component-value-quantity", component) == [(QUANTITY, "Quantity")]


def test_profiles_of_quantity_pass_a_quantity_filter() -> None:
    age = {"value": 3, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/p"}, "onsetAge": age}
    assert nodes("Condition", "onset-age", condition) == [(age, "Age")]


def test_index_rows_of_each_kind_of_value() -> None:
    rows = indexer().rows(observation(valueQuantity=QUANTITY))
    assert [r[0] for r in rows.quantity] == ["value-quantity"]
    assert not [r for r in rows.token if r[0] == "value-concept"]
    rows = indexer().rows(observation(valueCodeableConcept=CONCEPT))
    assert rows.quantity == []
    assert ("value-concept", "http://snomed.info/sct", "260385009", "отрицательно") in rows.token
    assert [r[:2] for r in rows.string if r[0] == "value-string"] == [("value-string", "отрицательно")]
