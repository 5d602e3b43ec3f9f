"""Search: every parameter type, prefix and modifier against hand-worked results on a fixed data set."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from search_data import transaction

from helpers import body, post
from medcard.core import time as medcard_time


@pytest.fixture
def data(http: httpx.Client) -> httpx.Client:
    r = post(http, "", transaction())
    assert r.status_code == 200, r.text
    return http


def search(http: httpx.Client, path: str, params: Any = None, **headers: str) -> dict[str, Any]:
    r = http.get(path, params=params, headers=headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = body(r)
    return out


def matches(http: httpx.Client, path: str, params: Any = None) -> list[str]:
    bundle = search(http, path, params)
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match")


# string ------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "expected"), [
    ({"family": "иван"}, ["p1", "p2"]),  # starts with, case-insensitive
    ({"family": "ИВАНОВА"}, ["p2"]),
    ({"family": "елкин"}, ["p3"]),  # ё = е
    ({"name": "семен"}, ["p3"]),  # given names too; ё = е
    ({"family:exact": "Иванов"}, ["p1"]),
    ({"family:exact": "иванов"}, []),
    ({"family:contains": "ано"}, ["p1", "p2"]),
    ({"given": "пётр"}, ["p1"]),
    ({"name": "john smith"}, ["p4"]),  # the text of the name
    ({"family": "иван,smith"}, ["p1", "p2", "p4"]),  # OR
    ({"address-city": "москва"}, ["p1", "p2"]),
    ({"address": "тверская"}, []),  # starts-with on each part: the line starts with "ул."
    ({"address:contains": "тверская"}, ["p1"]),
    ({"address-postalcode": "125"}, ["p1"]),
])
def test_string(data: httpx.Client, params: dict[str, str], expected: list[str]) -> None:
    assert matches(data, "/Patient", params) == expected


# token -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "params", "expected"), [
    ("/Patient", {"gender": "male"}, ["p1", "p3"]),
    ("/Patient", {"gender": "http://hl7.org/fhir/administrative-gender|female"}, ["p2"]),
    ("/Patient", {"gender:not": "male"}, ["p2", "p4"]),
    ("/Patient", {"active": "false"}, ["p3"]),
    ("/Patient", {"identifier": "urn:oid:1.2.643.2.69.1.1.1.6.223|12345678964"}, ["p1"]),
    ("/Patient", {"identifier": "12345678964"}, ["p1"]),
    ("/Patient", {"identifier": "urn:oid:1.2.643.2.69.1.1.1.6.223|"}, ["p1"]),
    ("/Patient", {"telecom": "+79991112233"}, ["p1"]),
    ("/Patient", {"email": "ivanov@example.ru"}, ["p1"]),
    ("/Patient", {"phone": "ivanov@example.ru"}, []),
    ("/Observation", {"code": "http://loinc.org|29463-7"}, ["o1", "o3"]),
    ("/Observation", {"code": "29463-7,8302-2"}, ["o1", "o2", "o3"]),
    ("/Observation", {"code": "|29463-7"}, []),  # no system given means "no system": none here
    ("/Observation", {"code:text": "body"}, ["o1", "o2", "o3"]),
    ("/Observation", {"code:text": "осмотр"}, ["o5"]),
    ("/Observation", {"code:text": "кожи"}, ["o5"]),  # any word of the text
    ("/Observation", {"category": "vital-signs"}, ["o1", "o2", "o3"]),
    ("/Observation", {"status": "preliminary"}, ["o3"]),
    ("/Observation", {"combo-code": "718-7"}, ["o4"]),  # a component's code
    ("/Observation", {"combo-code": "58410-2"}, ["o4"]),
    ("/Condition", {"clinical-status": "active"}, ["c1", "c3"]),
    ("/Condition", {"code": "http://hl7.org/fhir/sid/icd-10|J45.9"}, ["c1"]),
    ("/Condition", {"category": "problem-list-item"}, ["c1"]),
    ("/Encounter", {"class": "AMB"}, ["e1", "e2", "e3"]),
    ("/Encounter", {"status": "planned"}, ["e3"]),
    ("/Encounter", {"reason-code": "J06.9"}, ["e1"]),
    ("/Encounter", {"type": "http://snomed.info/sct|410620009"}, ["e1"]),
    ("/Immunization", {"vaccine-code": "37"}, ["i1"]),
    ("/Immunization", {"status": "not-done"}, ["i2"]),
    ("/DiagnosticReport", {"category": "LAB", "code": "58410-2", "status": "final"}, ["d1"]),
    ("/ServiceRequest", {"status": "active", "category": "3457005"}, ["s1"]),
])
def test_token(data: httpx.Client, path: str, params: dict[str, str], expected: list[str]) -> None:
    assert matches(data, path, params) == expected


# date --------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "expected"), [
    ({"birthdate": "2019-05-04"}, ["p1"]),
    ({"birthdate": "2019"}, ["p1"]),
    ({"birthdate": "2019-05"}, ["p1"]),
    ({"birthdate": "eq2021"}, ["p2"]),
    ({"birthdate": "ne2019"}, ["p2", "p3"]),
    ({"birthdate": "gt2019-05-04"}, ["p2"]),
    ({"birthdate": "ge2019-05-04"}, ["p1", "p2"]),
    ({"birthdate": "lt2019-05-04"}, ["p3"]),
    ({"birthdate": "le2019-05-04"}, ["p1", "p3"]),
    ({"birthdate": "sa2019"}, ["p2"]),
    ({"birthdate": "eb2019"}, ["p3"]),
    ({"birthdate": "ge2016&birthdate=lt2020"}, []),  # not split: one value
    ([("birthdate", "ge2016"), ("birthdate", "lt2020")], ["p1"]),  # AND of two criteria
    ({"birthdate": "2015-12-31T12:00:00+03:00"}, []),  # a day is wider than a moment
])
def test_date_on_patients(data: httpx.Client, params: Any, expected: list[str]) -> None:
    if params == {"birthdate": "ge2016&birthdate=lt2020"}:
        assert data.get("/Patient", params=params).status_code == 400
        return
    assert matches(data, "/Patient", params) == expected


@pytest.mark.parametrize(("params", "expected"), [
    ({"date": "2024-03-01"}, ["e1"]),  # a period within the day
    ({"date": "2024-03"}, ["e1"]),
    ({"date": "2024"}, ["e1", "e2"]),  # e3 starts in 2023 and has no end: not contained
    ({"date": "ge2024-06-01"}, ["e2", "e3"]),  # e3's open end reaches past June
    ({"date": "lt2024-01-01"}, ["e3"]),
    ({"date": "sa2024-03-01"}, ["e2"]),
    ({"date": "eb2024-06-15"}, ["e1"]),
    # within 10 % of the way to today, 26 November 2026 (conftest.FIXED_TODAY): ~100 days; e3 has no end
    ({"date": "ap2024-03-02"}, ["e1", "e3"]),
])
def test_date_on_periods(data: httpx.Client, params: dict[str, str], expected: list[str]) -> None:
    assert matches(data, "/Encounter", params) == expected


def test_approximately_widens_with_the_distance_to_today(data: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ap`` is reckoned from medcard's today: seven months later the margin reaches e2 (15 June 2024)."""
    monkeypatch.setattr(medcard_time, "calendar", lambda: date(2027, 6, 1))
    assert matches(data, "/Encounter", {"date": "ap2024-03-02"}) == ["e1", "e2", "e3"]


def test_date_with_time_zone_precision(data: httpx.Client) -> None:
    # o1 was at 10:10 Moscow time = 07:10 UTC
    assert matches(data, "/Observation", {"date": "2024-03-01T07:10:00Z"}) == ["o1"]
    assert matches(data, "/Observation", {"date": "2024-03-01T10:10+03:00"}) == ["o1"]
    assert matches(data, "/Observation", {"date": "gt2024-03-01T07:10:00Z", "code": "29463-7"}) == []
    assert data.get("/Observation", params={"date": "01.03.2024"}).status_code == 400


def test_last_updated(data: httpx.Client) -> None:
    assert len(matches(data, "/Patient", {"_lastUpdated": "gt2000-01-01"})) == 4
    assert matches(data, "/Patient", {"_lastUpdated": "lt2000-01-01"}) == []


# number and quantity -------------------------------------------------------------------


@pytest.mark.parametrize(("params", "expected"), [
    ({"value-quantity": "12.5"}, ["o1"]),
    ({"value-quantity": "12"}, []),  # 12 means [11.5, 12.5)
    ({"value-quantity": "13"}, ["o1"]),  # [12.5, 13.5)
    ({"value-quantity": "gt10"}, ["o1", "o2"]),
    ({"value-quantity": "le8"}, ["o3"]),
    ({"value-quantity": "ap90"}, ["o2"]),
    ({"value-quantity": "12.5|http://unitsofmeasure.org|kg"}, ["o1"]),
    ({"value-quantity": "12.5|http://unitsofmeasure.org|g"}, []),
    ({"value-quantity": "ge8||kg"}, ["o1", "o3"]),
    ({"value-quantity": "ne12.5"}, ["o2", "o3"]),
])
def test_quantity(data: httpx.Client, params: dict[str, str], expected: list[str]) -> None:
    assert matches(data, "/Observation", params) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("0.3", ["ra1"]),  # 0.3 means [0.25, 0.35)
    ("0.30", []),  # two decimals: [0.295, 0.305); 0.31 is outside
    ("gt0.5", ["ra2"]),
    ("lt0.5", ["ra1"]),
    ("ge0.75", ["ra2"]),
    ("le0.31", ["ra1"]),
    ("ne0.3", ["ra2"]),
    ("ap0.8", ["ra2"]),
])
def test_number(http: httpx.Client, value: str, expected: list[str]) -> None:
    for rid, probability in (("ra1", "0.31"), ("ra2", "0.75")):
        r = http.put(f"/RiskAssessment/{rid}", content=(
            f'{{"resourceType":"RiskAssessment","id":"{rid}","status":"final","subject":{{"display":"x"}},'
            f'"prediction":[{{"probabilityDecimal":{probability}}}]}}').encode(),
            headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 201
    assert matches(http, "/RiskAssessment", {"probability": value}) == expected


# reference -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "params", "expected"), [
    ("/Observation", {"subject": "Patient/p1"}, ["o1", "o2", "o4"]),
    ("/Observation", {"patient": "p2"}, ["o3", "o5"]),
    ("/Observation", {"subject:Patient": "p2"}, ["o3", "o5"]),
    ("/Observation", {"subject:Group": "p2"}, []),
    ("/Observation", {"encounter": "Encounter/e1"}, ["o1"]),
    ("/Encounter", {"participant": "Practitioner/doc1"}, ["e1"]),
    ("/Encounter", {"practitioner": "doc2"}, ["e2"]),
    ("/Encounter", {"service-provider": "Organization/org2"}, ["e3"]),
    ("/Patient", {"general-practitioner": "Practitioner/doc1"}, ["p1"]),
    ("/Patient", {"organization": "Organization/org1"}, ["p1", "p2"]),
    ("/ServiceRequest", {"requester": "Practitioner/doc1", "performer": "Practitioner/doc2"}, ["s1"]),
    ("/DiagnosticReport", {"result": "Observation/o4"}, ["d1"]),
    ("/Condition", {"encounter": "e1"}, ["c2"]),
])
def test_reference(data: httpx.Client, path: str, params: dict[str, str], expected: list[str]) -> None:
    assert matches(data, path, params) == expected


@pytest.mark.parametrize(("path", "params", "expected"), [
    ("/Patient", {"birthdate:missing": "true"}, ["p4"]),
    ("/Patient", {"birthdate:missing": "false"}, ["p1", "p2", "p3"]),
    ("/Patient", {"general-practitioner:missing": "true"}, ["p3", "p4"]),
    ("/Encounter", {"service-provider:missing": "true"}, ["e2"]),
    ("/Observation", {"encounter:missing": "false"}, ["o1"]),
])
def test_missing(data: httpx.Client, path: str, params: dict[str, str], expected: list[str]) -> None:
    assert matches(data, path, params) == expected


def test_id_and_uri(data: httpx.Client) -> None:
    assert matches(data, "/Patient", {"_id": "p1,p3"}) == ["p1", "p3"]
    profile = "http://example.org/fhir/StructureDefinition/child_50%"
    post(data, "/Patient", {"resourceType": "Patient", "meta": {"profile": [profile]}})
    assert len(matches(data, "/Patient", {"_profile": profile})) == 1
    assert len(matches(data, "/Patient", {"_profile:below": "http://example.org/fhir/"})) == 1
    assert len(matches(data, "/Patient", {"_profile:below": "http://example.org/fhir/S_"})) == 0
    assert len(matches(data, "/Patient", {"_profile:above": profile + "/v2"})) == 1
    assert matches(data, "/Patient", {"_profile:above": profile[:-2]}) == []


# chains and _has ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "params", "expected"), [
    ("/Observation", {"subject:Patient.family": "иванова"}, ["o3", "o5"]),
    ("/Observation", {"patient.gender": "male"}, ["o1", "o2", "o4"]),
    ("/Observation", {"subject.identifier": "12345678964"}, ["o1", "o2", "o4"]),
    ("/Encounter", {"service-provider.name": "ДГП № 30"}, ["e3"]),
    ("/Patient", {"general-practitioner.family": "петров"}, ["p1"]),
    ("/Patient", {"_has:Observation:patient:code": "8302-2"}, ["p1"]),
    ("/Patient", {"_has:Condition:patient:clinical-status": "active"}, ["p1", "p2"]),
    ("/Encounter", {"_has:Condition:encounter:code": "J06.9"}, ["e1"]),
])
def test_chains(data: httpx.Client, path: str, params: dict[str, str], expected: list[str]) -> None:
    assert matches(data, path, params) == expected


def test_two_level_chain_is_refused(data: httpx.Client) -> None:
    r = data.get("/Observation", params={"subject:Patient.organization.name": "x"})
    assert r.status_code == 400


# full text and fuzzy names -------------------------------------------------------------


def test_content_search_with_russian_stemming(data: httpx.Client) -> None:
    # "астмы" (genitive) finds "астма"; the note, the display and a text attachment are all searched
    assert matches(data, "/Condition", {"_content": "астмы"}) == ["c1"]
    assert matches(data, "/Condition", {"_content": "ингалятором"}) == ["c1"]
    assert matches(data, "/DocumentReference", {"_content": "обострения астмы"}) == ["doc-1"]
    everything = search(data, "/Patient/p1/*", {"_content": "астма"})
    assert sorted(e["resource"]["id"] for e in everything["entry"]) == ["c1", "doc-1"]
    assert "entry" not in search(data, "/Patient/p2/*", {"_content": "астма"})


def test_content_search_leaves_out_reference_strings(data: httpx.Client) -> None:
    # "Patient/p1" is what a Condition refers to, not text of it: the reference search finds that
    assert matches(data, "/Condition", {"subject": "Patient/p1"}) != []
    assert matches(data, "/Condition", {"_content": "Patient/p1"}) == []


def test_phonetic_surname_search(data: httpx.Client) -> None:
    assert matches(data, "/Patient", {"phonetic": "Ivanov"}) == ["p1", "p2"]
    assert matches(data, "/Patient", {"phonetic": "Иваноф", "birthdate": "2019-05-04"}) == ["p1"]
    assert matches(data, "/Patient", {"phonetic": "Elkin"}) == ["p3"]
    assert matches(data, "/Patient", {"phonetic": "Petrov"}) == []
    found = search(data, "/Patient", {"phonetic": "Иванова"})
    assert found["entry"][0]["resource"]["id"] == "p2"  # the closest first
    assert all("score" in e["search"] for e in found["entry"])


# paging, sorting, totals -----------------------------------------------------------------


def test_sort_by_several_keys(data: httpx.Client) -> None:
    by_birth = search(data, "/Patient", {"_sort": "birthdate"})
    assert [e["resource"]["id"] for e in by_birth["entry"]] == ["p3", "p1", "p2", "p4"]  # missing last
    desc = search(data, "/Patient", {"_sort": "-birthdate"})
    assert [e["resource"]["id"] for e in desc["entry"]] == ["p2", "p1", "p3", "p4"]
    by_gender_family = search(data, "/Patient", {"_sort": "gender,-family"})
    assert [e["resource"]["id"] for e in by_gender_family["entry"]] == ["p2", "p1", "p3", "p4"]
    assert data.get("/Patient", params={"_sort": "shoe-size"}).status_code == 400


def test_paging_forward_and_back_covers_every_match_once(data: httpx.Client) -> None:
    first = search(data, "/Observation", {"_count": 2, "_sort": "-date"})
    seen = [e["resource"]["id"] for e in first["entry"]]
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert "previous" not in links
    pages = [first]
    while "next" in links:
        page = search(data, links["next"])
        pages.append(page)
        seen += [e["resource"]["id"] for e in page["entry"]]
        links = {link["relation"]: link["url"] for link in page["link"]}
    assert sorted(seen) == ["o1", "o2", "o3", "o4", "o5"]
    assert seen[:3] == ["o2", "o4", "o1"]  # by date, newest first (o5 has none: last)
    back = search(data, links["previous"])
    assert [e["resource"]["id"] for e in back["entry"]] == [e["resource"]["id"] for e in pages[-2]["entry"]]


def test_paging_is_stable_when_resources_are_added(data: httpx.Client) -> None:
    first = search(data, "/Patient", {"_count": 2, "_sort": "_id"})
    assert [e["resource"]["id"] for e in first["entry"]] == ["p1", "p2"]
    post(data, "/Patient", {"resourceType": "Patient", "id": "a0"})  # sorts before everything; server id
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = search(data, next_url)
    assert [e["resource"]["id"] for e in second["entry"]] == ["p3", "p4"]


def test_count_is_capped_and_total_modes(data: httpx.Client) -> None:
    assert search(data, "/Patient", {"_total": "accurate", "_count": 1})["total"] == 4
    assert "total" not in search(data, "/Patient", {"_total": "none"})
    assert isinstance(search(data, "/Patient", {"_total": "estimate", "_count": 1})["total"], int)
    counted = search(data, "/Observation", {"_summary": "count", "subject": "Patient/p1"})
    assert counted["total"] == 3
    assert "entry" not in counted
    assert data.get("/Patient", params={"_count": "many"}).status_code == 400


# includes and subsets ---------------------------------------------------------------------


def test_include_and_revinclude(data: httpx.Client) -> None:
    bundle = search(data, "/Observation", {"code": "29463-7", "_include": "Observation:subject"})
    included = sorted(e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "include")
    assert included == ["p1", "p2"]
    bundle = search(data, "/Condition", {"_id": "c1", "_revinclude": "Provenance:target"})
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["c1", "prov1"]
    bundle = search(data, "/Encounter", {"_id": "e1", "_include": "Encounter:participant:Practitioner"})
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == ["doc1", "e1"]


def test_include_iterate_follows_included_resources(data: httpx.Client) -> None:
    bundle = search(data, "/Observation", [("_id", "o1"), ("_include", "Observation:subject"),
                                           ("_include:iterate", "Patient:general-practitioner")])
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == ["doc1", "o1", "p1"]


def test_summary_and_elements(data: httpx.Client) -> None:
    summary = search(data, "/Patient", {"_id": "p1", "_summary": "true"})["entry"][0]["resource"]
    assert "name" in summary
    assert "telecom" in summary
    assert "contact" not in summary
    assert summary["meta"]["tag"][0]["code"] == "SUBSETTED"
    elements = search(data, "/Patient", {"_id": "p1", "_elements": "birthDate"})["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta", "birthDate"}


def test_unknown_parameters_are_reported_or_refused(data: httpx.Client) -> None:
    bundle = search(data, "/Patient", {"shoe-size": "42", "gender": "female"})
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1
    assert "shoe-size" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    assert [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"] == ["p2"]
    strict = data.get("/Patient", params={"shoe-size": "42"}, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400


def test_post_search_takes_a_form(data: httpx.Client) -> None:
    r = data.post("/Patient/_search", data={"family": "иван", "gender": "female"})
    assert r.status_code == 200
    assert [e["resource"]["id"] for e in body(r)["entry"]] == ["p2"]


def test_compartment_search(data: httpx.Client) -> None:
    assert matches(data, "/Patient/p1/Observation", {"code": "29463-7"}) == ["o1"]
    assert matches(data, "/Patient/p1/Condition", None) == ["c1", "c2"]
