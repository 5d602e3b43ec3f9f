"""The API driven by a real FHIR client library (fhirpy)."""

from __future__ import annotations

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

from medcard.fhir.validation import validation_issues


def test_create_read_update_delete_with_fhirpy(fhir: SyncFHIRClient) -> None:
    patient = fhir.resource("Patient", name=[{"family": "Соколова", "given": ["Мария"]}], gender="female",
                            birthDate="2018-07-01")
    patient.save()
    assert patient.id
    assert patient["meta"]["versionId"] == "1"

    fetched = fhir.reference("Patient", patient.id).to_resource()
    assert fetched["name"][0]["family"] == "Соколова"
    assert not validation_issues(fetched.serialize())

    fetched["gender"] = "other"
    fetched.save()
    assert fetched["meta"]["versionId"] == "2"
    assert fhir.reference("Patient", patient.id).to_resource()["gender"] == "other"

    fetched.delete()
    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", patient.id).to_resource()


def test_fhirpy_search_by_id_and_compartment(fhir: SyncFHIRClient) -> None:
    child = fhir.resource("Patient", gender="male", birthDate="2020-01-01")
    child.save()
    for value in (10, 11):
        fhir.resource("Observation", status="final", code={"text": "вес"},
                      subject=child.to_reference(), valueQuantity={"value": value, "unit": "kg"}).save()
    found = fhir.resources("Patient").search(_id=child.id).fetch()
    assert [p.id for p in found] == [child.id]
    observations = fhir.resources("Observation").search(subject=f"Patient/{child.id}").fetch_all()
    assert sorted(o["valueQuantity"]["value"] for o in observations) == [10, 11]


def test_fhirpy_sees_validation_errors_as_operation_outcome(fhir: SyncFHIRClient) -> None:
    with pytest.raises(OperationOutcome) as raised:
        fhir.resource("Patient", gender="boy").save()
    assert "administrative-gender" in str(raised.value)


def test_fhirpy_conditional_create(fhir: SyncFHIRClient) -> None:
    resources = fhir.resources("Patient").search(identifier="urn:fhirpy|1")
    p1, created1 = resources.get_or_create(fhir.resource("Patient", identifier=[{"system": "urn:fhirpy",
                                                                                 "value": "1"}]))
    p2, created2 = resources.get_or_create(fhir.resource("Patient", identifier=[{"system": "urn:fhirpy",
                                                                                 "value": "1"}]))
    assert created1
    assert not created2
    assert p1.id == p2.id


def test_fhirpy_searches_pages_and_includes(fhir: SyncFHIRClient) -> None:
    child = fhir.resource("Patient", gender="female", birthDate="2020-02-02", name=[{"family": "Павлова"}])
    child.save()
    for value in range(7):
        fhir.resource("Observation", status="final", code={"coding": [{"system": "http://loinc.org",
                                                                       "code": "29463-7"}]},
                      subject=child.to_reference(), valueQuantity={"value": 10 + value, "unit": "kg"},
                      effectiveDateTime=f"2024-0{1 + value}-01").save()
    search = fhir.resources("Observation").search(subject=f"Patient/{child.id}").sort("-date").limit(3)
    everything = search.fetch_all()  # follows the next links, 3 at a time
    assert [o["valueQuantity"]["value"] for o in everything] == [16, 15, 14, 13, 12, 11, 10]
    assert search.count() == 7
    raw = fhir.resources("Observation").search(code="29463-7").include("Observation", "subject").fetch_raw()
    modes = [e["search"]["mode"] for e in raw["entry"]]
    assert modes.count("include") == 1
    assert raw["entry"][modes.index("include")]["resource"]["id"] == child.id
    found = fhir.resources("Patient").search(family="павл").fetch()
    assert [p.id for p in found] == [child.id]
