"""The patient compartment: $everything and Patient/{id}/{type}."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from helpers import body, created_id, post


def make_record(http: httpx.Client) -> dict[str, str]:
    org = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП №1"}))
    doc = created_id(post(http, "/Practitioner", {"resourceType": "Practitioner", "name": [{"family": "Орлова"}]}))
    child = created_id(post(http, "/Patient", {"resourceType": "Patient", "gender": "female",
                                               "managingOrganization": {"reference": f"Organization/{org}"}}))
    other = created_id(post(http, "/Patient", {"resourceType": "Patient", "gender": "male"}))
    enc = created_id(post(http, "/Encounter", {
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{child}"},
        "participant": [{"individual": {"reference": f"Practitioner/{doc}"}}]}))
    obs = created_id(post(http, "/Observation", {
        "resourceType": "Observation", "status": "final", "code": {"text": "рост"},
        "subject": {"reference": f"Patient/{child}"}, "encounter": {"reference": f"Encounter/{enc}"},
        "valueQuantity": {"value": 101, "unit": "cm"}}))
    post(http, "/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "рост"},
                                "subject": {"reference": f"Patient/{other}"}})
    return {"org": org, "doc": doc, "child": child, "other": other, "enc": enc, "obs": obs}


def ids(bundle: dict[str, Any]) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])}


def test_everything_returns_the_record_and_what_it_refers_to_but_no_other_child(http: httpx.Client) -> None:
    rec = make_record(http)
    r = http.get(f"/Patient/{rec['child']}/$everything")
    assert r.status_code == 200
    found = ids(body(r))
    assert found == {f"Patient/{rec['child']}", f"Encounter/{rec['enc']}", f"Observation/{rec['obs']}",
                     f"Practitioner/{rec['doc']}", f"Organization/{rec['org']}"}


def test_everything_filters_by_type_and_pages_with_count(http: httpx.Client) -> None:
    rec = make_record(http)
    only = ids(body(http.get(f"/Patient/{rec['child']}/$everything", params={"_type": "Observation,Encounter"})))
    assert only == {f"Encounter/{rec['enc']}", f"Observation/{rec['obs']}"}
    seen: set[str] = set()
    url: str | None = f"/Patient/{rec['child']}/$everything?_count=2"
    pages = 0
    while url:
        page = body(http.get(url))
        assert len(page["entry"]) <= 2
        seen |= ids(page)
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        pages += 1
    assert pages == 3
    assert len(seen) == 5


def test_everything_of_unknown_or_deleted_patient(http: httpx.Client) -> None:
    assert http.get("/Patient/nobody/$everything").status_code == 404
    pid = created_id(post(http, "/Patient", {"resourceType": "Patient"}))
    http.delete(f"/Patient/{pid}")
    assert http.get(f"/Patient/{pid}/$everything").status_code == 410


def test_compartment_search_lists_only_this_childs_resources(http: httpx.Client) -> None:
    rec = make_record(http)
    found = ids(body(http.get(f"/Patient/{rec['child']}/Observation")))
    assert found == {f"Observation/{rec['obs']}"}


def test_every_compartment_row_carries_the_patient_id(http: httpx.Client, database_url: str) -> None:
    rec = make_record(http)
    with psycopg.connect(database_url) as conn:
        owners = dict(conn.execute("SELECT resource_type || '/' || id, patient_id FROM resource").fetchall())
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT content FROM resource WHERE patient_id = %s", (rec["child"],)).fetchall())
    assert owners[f"Encounter/{rec['enc']}"] == rec["child"]
    assert owners[f"Observation/{rec['obs']}"] == rec["child"]
    assert owners[f"Patient/{rec['child']}"] == rec["child"]
    assert owners[f"Practitioner/{rec['doc']}"] is None
    assert "resource_patient_idx" in plan


def test_moving_a_resource_to_another_record_moves_its_compartment(http: httpx.Client) -> None:
    rec = make_record(http)
    obs = body(http.get(f"/Observation/{rec['obs']}"))
    obs["subject"] = {"reference": f"Patient/{rec['other']}"}
    r = http.put(f"/Observation/{rec['obs']}", json=obs, headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 200
    assert f"Observation/{rec['obs']}" not in ids(body(http.get(f"/Patient/{rec['child']}/$everything")))
    assert f"Observation/{rec['obs']}" in ids(body(http.get(f"/Patient/{rec['other']}/$everything")))
