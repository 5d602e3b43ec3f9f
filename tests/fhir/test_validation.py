"""The validator against real-world FHIR and against broken resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medcard.core import jsonutil
from medcard.fhir.validation import validation_issues

SYNTHEA = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthea-10-patients"


def synthea_resources() -> list[dict[str, Any]]:
    out = []
    for path in sorted(SYNTHEA.glob("*.ndjson")):
        if path.name == "log.ndjson":
            continue
        out += [jsonutil.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


@pytest.mark.skipif(not SYNTHEA.exists(), reason="shared Synthea sample not present next to the project")
def test_every_synthea_resource_is_valid() -> None:
    resources = synthea_resources()
    assert len(resources) == 7160
    problems = [(r["resourceType"], r.get("id"), validation_issues(r)[:1]) for r in resources
                if validation_issues(r)]
    assert problems == []


def expressions(resource: dict[str, Any]) -> dict[str, str]:
    return {i.expression[0] if i.expression else "": i.code for i in validation_issues(resource)}


def test_cardinality_both_ways() -> None:
    found = expressions({"resourceType": "Patient", "name": {"family": "x"}, "gender": ["male"]})
    assert found == {"Patient.name": "structure", "Patient.gender": "structure"}


def test_primitive_types_and_lexical_forms() -> None:
    found = expressions({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                         "effectiveDateTime": "2024-13-01", "valueInteger": 2**40, "issued": "2024-01-01"})
    assert found == {"Observation.effective.ofType(dateTime)": "value", "Observation.value.ofType(integer)": "value",
                     "Observation.issued": "value"}


@pytest.mark.parametrize(("element", "value", "code"), [
    ("gender", "", "invariant"),  # ele-1
    ("gender", "boy", "code-invalid"),  # not in the required value set
    ("birthDate", "2024-02-30", "value"),  # not a real date
    ("birthDate", "2024-2-3", "value"),  # not the lexical form
    ("implicitRules", "a b", "value"),  # a uri has no spaces
    ("language", "x" * (1024 * 1024 + 1), "too-costly"),  # over 1 MB
])
def test_each_check_of_a_single_string_value(element: str, value: str, code: str) -> None:
    # The common case, a valid single string, is settled without a path, and values found of the
    # right form are remembered; every way of being wrong is still reported, before and after.
    good = {"birthDate": "2024-02-29", "gender": "male", "language": "ru", "implicitRules": "urn:x"}[element]
    for _ in range(2):
        assert expressions({"resourceType": "Patient", element: good}) == {}
        issues = validation_issues({"resourceType": "Patient", element: value})
        assert {i.expression for i in issues} == {(f"Patient.{element}",)}
        assert code in {i.code for i in issues}


def test_true_as_string_and_number_as_string_are_wrong_json_types() -> None:
    found = expressions({"resourceType": "Patient", "active": "true", "multipleBirthInteger": "2"})
    assert found == {"Patient.active": "value", "Patient.multipleBirth.ofType(integer)": "value"}


def test_required_binding_on_coding_and_codeable_concept() -> None:
    ok = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
    assert expressions(ok) == {}
    bad = {"resourceType": "AllergyIntolerance", "patient": {"display": "x"},
           "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                          "code": "gone"}]}}
    assert expressions(bad) == {"AllergyIntolerance.clinicalStatus": "code-invalid"}


def test_a_bound_coding_with_an_object_for_its_system_or_code_is_reported_not_a_crash() -> None:
    system = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
    for coding in ({"system": {"x": 1}, "code": "active"}, {"system": system, "code": {"c": 1}}):
        bad = {"resourceType": "AllergyIntolerance", "patient": {"display": "x"},
               "clinicalStatus": {"coding": [coding]}}
        wrong = next(key for key, value in coding.items() if not isinstance(value, str))
        assert expressions(bad) == {f"AllergyIntolerance.clinicalStatus.coding[0].{wrong}": "value",
                                    "AllergyIntolerance.clinicalStatus": "code-invalid"}


def test_reference_targets_are_checked() -> None:
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "Medication/1"}}
    assert expressions(obs) == {"Observation.subject.reference": "value"}
    obs["subject"] = {"reference": "Nonsense/1"}
    assert expressions(obs) == {"Observation.subject.reference": "value"}
    obs["subject"] = {"reference": "Patient/1/_history/2"}
    assert expressions(obs) == {}


def test_primitive_extensions_are_validated() -> None:
    good = {"resourceType": "Patient", "_birthDate": {"extension": [{"url": "http://x", "valueString": "y"}]}}
    assert expressions(good) == {}
    bad = {"resourceType": "Patient", "_name": {"extension": []}}
    assert "Patient._name" in expressions(bad)
    arrays = {"resourceType": "Patient", "name": [{"given": ["A", None],
                                                    "_given": [None, {"extension": [{"url": "u", "valueCode": "c"}]}]}]}
    assert expressions(arrays) == {}


def test_contained_resources_are_validated_with_their_own_rules() -> None:
    r = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
         "contained": [{"resourceType": "Patient", "id": "p", "gender": "nope", "meta": {"versionId": "1"}}]}
    found = expressions(r)
    assert found == {"Observation.contained[0].gender": "code-invalid", "Observation.contained[0].meta": "invariant"}


def test_validation_of_nested_resources_in_bundles() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": {"resourceType": "Patient", "gender": "x"}}]}
    assert expressions(bundle) == {"Bundle.entry[0].resource.gender": "code-invalid"}


def test_extension_needs_value_or_extensions_but_not_both() -> None:
    both = {"resourceType": "Patient", "extension": [{"url": "u", "valueString": "a",
                                                      "extension": [{"url": "v", "valueString": "b"}]}]}
    assert expressions(both) == {"Patient.extension[0]": "invariant"}
