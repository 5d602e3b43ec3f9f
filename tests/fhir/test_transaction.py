"""Batch and transaction Bundles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import psycopg

from helpers import body, created_id, post


def tx(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def create_entry(resource: dict[str, Any], full_url: str | None = None, **request: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource,
                             "request": {"method": "POST", "url": resource["resourceType"], **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


PATIENT_URN = "urn:uuid:6f1b8a66-1a8e-4d5e-9a39-1f8c4a2b0001"


def child() -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": "Кузнецов"}], "gender": "male", "birthDate": "2021-01-01"}


def weight(subject: str, value: int = 12) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": subject}, "valueQuantity": {"value": value, "unit": "kg"}}


def count(database_url: str, table: str = "resource") -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_transaction_rewrites_urn_uuid_references_to_new_ids(http: httpx.Client) -> None:
    r = post(http, "", tx(create_entry(weight(PATIENT_URN)), create_entry(child(), PATIENT_URN)))
    assert r.status_code == 200, r.text
    out = body(r)
    assert out["type"] == "transaction-response"
    obs_resp, pat_resp = out["entry"]
    assert obs_resp["response"]["status"].startswith("201")
    pid = pat_resp["resource"]["id"]
    assert obs_resp["resource"]["subject"]["reference"] == f"Patient/{pid}"
    assert pat_resp["response"]["location"] == f"Patient/{pid}/_history/1"
    stored = body(http.get(f"/Observation/{obs_resp['resource']['id']}"))
    assert stored["subject"]["reference"] == f"Patient/{pid}"


def test_transaction_with_one_bad_entry_writes_nothing(http: httpx.Client, database_url: str) -> None:
    bad = {"resourceType": "Observation", "status": "finished", "code": {"text": "x"}}  # status not in value set
    before = count(database_url)
    r = post(http, "", tx(create_entry(child(), PATIENT_URN), create_entry(weight(PATIENT_URN)),
                          create_entry(bad)))
    assert r.status_code == 400
    outcome = body(r)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[2].resource.status"]
    assert "entry 2" in outcome["issue"][0]["diagnostics"] or "entry 2" in r.text
    assert count(database_url) == before
    assert count(database_url, "sp_token") == 0


def test_transaction_failing_late_rolls_back_earlier_writes(http: httpx.Client, database_url: str) -> None:
    pid = created_id(post(http, "/Patient", child()))
    before_rows = count(database_url)
    r = post(http, "", tx(
        create_entry(weight(f"Patient/{pid}")),
        {"resource": {**child(), "id": pid}, "request": {"method": "PUT", "url": f"Patient/{pid}",
                                                           "ifMatch": 'W/"7"'}},
    ))
    assert r.status_code == 412
    assert count(database_url) == before_rows
    assert body(http.get(f"/Patient/{pid}"))["meta"]["versionId"] == "1"


def test_conditional_reference_is_resolved_to_the_single_match(http: httpx.Client) -> None:
    doc = {"resourceType": "Practitioner", "identifier": [{"system": "urn:snils", "value": "11223344595"}],
           "name": [{"family": "Петрова"}]}
    did = created_id(post(http, "/Practitioner", doc))
    enc = {"resourceType": "Encounter", "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
           "subject": {"reference": PATIENT_URN},
           "participant": [{"individual": {"reference": "Practitioner?identifier=urn:snils|11223344595"}}]}
    r = post(http, "", tx(create_entry(child(), PATIENT_URN), create_entry(enc)))
    assert r.status_code == 200, r.text
    stored = body(r)["entry"][1]["resource"]
    assert stored["participant"][0]["individual"]["reference"] == f"Practitioner/{did}"


def test_ambiguous_conditional_reference_is_412_and_missing_is_404(http: httpx.Client, database_url: str) -> None:
    doc = {"resourceType": "Practitioner", "identifier": [{"system": "urn:x", "value": "1"}]}
    post(http, "/Practitioner", doc)
    post(http, "/Practitioner", doc)
    enc = {"resourceType": "Encounter", "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
           "participant": [{"individual": {"reference": "Practitioner?identifier=urn:x|1"}}]}
    before = count(database_url)
    r = post(http, "", tx(create_entry(enc)))
    assert r.status_code == 412
    assert "more than one" in body(r)["issue"][0]["diagnostics"]
    enc["participant"] = [{"individual": {"reference": "Practitioner?identifier=urn:x|nobody"}}]
    r = post(http, "", tx(create_entry(enc)))
    assert r.status_code == 404
    assert count(database_url) == before


def test_conditional_create_in_a_transaction_reuses_the_match(http: httpx.Client) -> None:
    existing = created_id(post(http, "/Patient", {**child(), "identifier": [{"system": "urn:t", "value": "5"}]}))
    r = post(http, "", tx(
        create_entry({**child(), "identifier": [{"system": "urn:t", "value": "5"}]}, PATIENT_URN,
                     ifNoneExist="identifier=urn:t|5"),
        create_entry(weight(PATIENT_URN)),
    ))
    assert r.status_code == 200, r.text
    pat, obs = body(r)["entry"]
    assert pat["response"]["status"].startswith("200")
    assert obs["resource"]["subject"]["reference"] == f"Patient/{existing}"


def test_unresolved_urn_uuid_is_refused(http: httpx.Client) -> None:
    r = post(http, "", tx(create_entry(weight("urn:uuid:00000000-0000-0000-0000-000000000000"))))
    assert r.status_code == 400
    assert body(r)["issue"][0]["expression"] == ["Bundle.entry[0].resource.subject.reference"]


def test_reference_to_missing_resource_is_422(http: httpx.Client) -> None:
    r = post(http, "/Observation", weight("Patient/nobody"))
    assert r.status_code == 422
    assert "Patient/nobody" in body(r)["issue"][0]["diagnostics"]


def test_transaction_processes_deletes_before_creates_and_reads_after_writes(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", child()))
    old = created_id(post(http, "/Observation", weight(f"Patient/{pid}")))
    r = post(http, "", tx(
        {"request": {"method": "GET", "url": f"Observation?subject=Patient/{pid}"}},
        create_entry(weight(f"Patient/{pid}", 14)),
        {"request": {"method": "DELETE", "url": f"Observation/{old}"}},
    ))
    assert r.status_code == 200, r.text
    search, created, deleted = body(r)["entry"]
    assert deleted["response"]["status"].startswith("204")
    values = [e["resource"]["valueQuantity"]["value"] for e in search["resource"]["entry"]]
    assert values == [14]
    assert created["response"]["status"].startswith("201")


def test_batch_entries_succeed_or_fail_independently(http: httpx.Client) -> None:
    r = post(http, "", tx(
        create_entry(child()),
        create_entry({"resourceType": "Patient", "gender": "boy"}),
        {"request": {"method": "GET", "url": "Patient/missing"}},
        kind="batch",
    ))
    assert r.status_code == 200
    good, bad, missing = body(r)["entry"]
    assert good["response"]["status"].startswith("201")
    assert bad["response"]["status"] == "400"
    assert bad["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert missing["response"]["status"] == "404"
    assert http.get(f"/Patient/{good['resource']['id']}").status_code == 200


def test_bundle_of_wrong_type_or_shape_is_400(http: httpx.Client) -> None:
    assert post(http, "", {"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert post(http, "", {"resourceType": "Patient"}).status_code == 400
    r = post(http, "", tx({"resource": child()}))
    assert r.status_code == 400
    assert body(r)["issue"][0]["expression"] == ["Bundle.entry[0].request"]


def test_a_transaction_may_not_change_one_resource_twice(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", child()))
    r = post(http, "", tx(
        {"resource": {**child(), "id": pid}, "request": {"method": "PUT", "url": f"Patient/{pid}"}},
        {"resource": {**child(), "id": pid, "gender": "other"}, "request": {"method": "PUT", "url": f"Patient/{pid}"}},
    ))
    assert r.status_code == 409


def database_now(database_url: str) -> datetime:
    """PostgreSQL's clock, which stamps audit entries."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


def test_each_write_of_a_transaction_is_audited_at_the_transactions_time(http: httpx.Client,
                                                                        database_url: str) -> None:
    before = database_now(database_url)
    r = post(http, "", tx(*(create_entry({"resourceType": "Patient", "birthDate": f"2020-01-0{i}"})
                            for i in range(1, 4))))
    assert r.status_code == 200, r.text
    entities = [e["response"]["location"].split("/_history")[0] for e in body(r)["entry"]]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT id, recorded, entity, subtype FROM audit_event "
                            "WHERE entity = ANY(%s)", (entities,)).fetchall()
    after = database_now(database_url)
    assert sorted(row[2] for row in rows) == sorted(entities)
    assert {row[3] for row in rows} == {"create"}
    assert len({row[0] for row in rows}) == 3  # each entry its own id
    assert len({row[1] for row in rows}) == 1  # the time the transaction began, stamped by PostgreSQL
    assert before <= rows[0][1] <= after  # during the request, on PostgreSQL's own clock
    # Who wrote is given once for the request's entries: each row says it as a read's single entry does.
    assert http.get(entities[0]).status_code == 200
    who = ("account_id, agent_name, agent_role, client_id, on_behalf_of, purpose, source, break_glass, "
           "action, outcome, patient_id, entity")
    with psycopg.connect(database_url) as conn:
        written = conn.execute(f"SELECT {who} FROM audit_event WHERE entity = ANY(%s) AND subtype = 'create'",
                               (entities,)).fetchall()
        read = conn.execute(f"SELECT {who} FROM audit_event WHERE entity = %s AND subtype = 'read'",
                            (entities[0],)).fetchone()
    assert read is not None
    assert read[3] is not None  # the test client's requester is a known client
    assert {row[:8] for row in written} == {read[:8]}
    assert {row[8:10] for row in written} == {("C", "0")}
    assert sorted((row[10], row[11]) for row in written) == sorted((e.split("/")[1], e) for e in entities)
