"""Patient/{id}/$summary: the chart on opening, in one document and one query."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from search_data import transaction

from helpers import body, post, put


@pytest.fixture
def chart(http: httpx.Client) -> httpx.Client:
    assert post(http, "", transaction()).status_code == 200
    older_weight = {"resourceType": "Observation", "id": "o0", "status": "final",
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                              "code": "vital-signs"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                    "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2023-01-10",
                    "valueQuantity": {"value": 10.1, "unit": "kg"}}
    allergy = {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p1"},
               "code": {"text": "Пенициллин"}}
    refuted = {"resourceType": "AllergyIntolerance", "id": "a2", "patient": {"reference": "Patient/p1"},
               "code": {"text": "Молоко"}, "verificationStatus": {"coding": [
                   {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "code": "refuted"}]}}
    medication = {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
                  "medicationCodeableConcept": {"text": "Сальбутамол"}, "subject": {"reference": "Patient/p1"}}
    for r in (older_weight, allergy, refuted, medication):
        assert put(http, f"/{r['resourceType']}/{r['id']}", r).status_code == 201
    return http


def sections(doc: dict[str, Any]) -> dict[str, list[str]]:
    composition = doc["entry"][0]["resource"]
    return {s["code"]["coding"][0]["code"]: [e["reference"] for e in s.get("entry", [])]
            for s in composition["section"]}


def test_summary_is_a_document_with_the_chart(chart: httpx.Client) -> None:
    r = chart.get("/Patient/p1/$summary")
    assert r.status_code == 200
    doc = body(r)
    assert doc["type"] == "document"
    assert doc["identifier"]["value"].startswith("urn:uuid:")
    assert "timestamp" in doc
    composition = doc["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["subject"] == {"reference": "Patient/p1"}
    assert doc["entry"][1]["resource"]["id"] == "p1"
    found = sections(doc)
    assert found["11450-4"] == ["Condition/c1"]  # active problems only: c2 is resolved
    assert found["48765-2"] == ["AllergyIntolerance/a1"]  # the refuted one is left out
    assert found["10160-0"] == ["MedicationRequest/m1"]
    assert found["11369-6"] == ["Immunization/i1"]
    assert found["46240-8"] == ["Encounter/e2", "Encounter/e1"]  # newest first
    assert sorted(found["8716-3"]) == ["Observation/o1", "Observation/o2"]  # the latest weight, not o0
    assert found["18776-5"] == ["ServiceRequest/s1"]
    assert sorted(found["30954-2"]) == ["DiagnosticReport/d1", "Observation/o4"]
    listed = {ref for refs in found.values() for ref in refs}
    included = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in doc["entry"][1:]}
    assert included == listed | {"Patient/p1"}


def test_an_empty_section_says_so(chart: httpx.Client) -> None:
    doc = body(chart.get("/Patient/p3/$summary"))
    problems = next(s for s in doc["entry"][0]["resource"]["section"] if s["code"]["coding"][0]["code"] == "11450-4")
    assert "entry" not in problems
    assert problems["emptyReason"]["coding"][0]["code"] == "nilknown"
    assert len(doc["entry"]) == 2  # the Composition and the Patient


def test_summary_of_unknown_or_deleted_patient(chart: httpx.Client) -> None:
    assert chart.get("/Patient/nobody/$summary").status_code == 404
    chart.delete("/Patient/p4")
    assert chart.get("/Patient/p4/$summary").status_code == 410


def test_summary_makes_one_query_whatever_the_size_of_the_record(
        chart: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = psycopg.AsyncConnection.execute

    async def counting(self: psycopg.AsyncConnection, query: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(query)[:40])
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "execute", counting)
    chart.get("/Patient/p1/$summary")
    small = len(calls)
    for i in range(40):  # a much larger record
        post(chart, "/Observation", {"resourceType": "Observation", "status": "final", "code": {"coding": [
            {"system": "http://loinc.org", "code": "8310-5"}]}, "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": f"2024-04-{1 + i % 28:02d}"})
    calls.clear()
    doc = body(chart.get("/Patient/p1/$summary"))
    # The same statements whatever the size: the gate's (token, access decision, audit entry) and
    # exactly one for the summary itself.
    assert len(calls) == small
    assert sum(1 for c in calls if c.lstrip().startswith("WITH")) == 1, calls
    assert len(sections(doc)["8716-3"]) == 3  # weight, height, the latest temperature
