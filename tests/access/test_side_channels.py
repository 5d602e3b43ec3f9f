"""No side channel into a record the requester may not see.

A conditional write is a search: if its criteria were matched over the whole store, its status and
text would tell whether a child the requester may not see has a diagnosis. A refusal that the policy
turns into a 404 must be the not-found answer to the byte, in every route. And every request that
touches or probes a record leaves an audit entry, whatever its outcome.

Each probe below is asked twice: once with criteria that DO match a hidden resource, once with
criteria that match nothing anywhere. The answers must be identical (status, content type, body).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import psycopg
import pytest

from conftest import ServerThread
from helpers import FHIR_JSON, bearer, body, create_account, created_id, person_token, post, put, run_db, system_token
from medcard.access import accounts
from medcard.access.requester import Requester
from medcard.core import jsonutil
from medcard.core.identifiers import enp_check_digit, system_uri
from medcard.core.time import today_moscow

ICD10 = "http://hl7.org/fhir/sid/icd-10"


def years_ago(years: int) -> str:
    today = today_moscow()
    try:
        return today.replace(year=today.year - years).isoformat()
    except ValueError:  # 29 February
        return date(today.year - years, 2, 28).isoformat()


def enp(seed: int) -> str:
    body15 = f"{7700000000000000 + seed:016d}"[:15]
    return body15 + enp_check_digit(body15)


@dataclass
class World:
    mine: str  # the parent's child (clinic A)
    other: str  # another family's child (clinic B), family "Скрытова", born OTHER_BIRTH
    other_asthma: str  # the other child's Condition J45.0
    teen: str  # a 15-year-old (clinic A) with her own full account
    teen_asthma: str
    teen_opioids: str  # F11.2: hidden from her own account until 16
    clinic_a: str
    clinic_b: str
    parent: dict[str, str]
    doctor: dict[str, str]  # a pediatrician of clinic A: the other child is not in their care
    teen_self: dict[str, str]
    accounts: dict[str, str]  # who -> account id


OTHER_BIRTH = "2017-04-09"


def condition(http: httpx.Client, patient: str, code: str) -> str:
    return created_id(post(http, "/Condition", {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{patient}"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": ICD10, "code": code}]}}))


@pytest.fixture
def world(http: httpx.Client, database_url: str) -> World:
    clinic_a = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 1"}))
    clinic_b = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 2"}))
    mine = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": "2018-06-01", "name": [{"family": "Своя"}],
        "managingOrganization": {"reference": f"Organization/{clinic_a}"}}))
    other = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": OTHER_BIRTH, "name": [{"family": "Скрытова"}],
        "identifier": [{"system": system_uri("enp"), "value": enp(7)}],
        "managingOrganization": {"reference": f"Organization/{clinic_b}"}}))
    teen = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": years_ago(15), "name": [{"family": "Подросткова"}],
        "identifier": [{"system": system_uri("enp"), "value": enp(8)}],
        "managingOrganization": {"reference": f"Organization/{clinic_a}"}}))
    parent = create_account(database_url, "family", f"parent-{uuid.uuid4().hex[:6]}@example.ru")

    async def link(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.link(conn, Requester("system", "test"), parent, mine, "parent", "свидетельство II-МЮ 1")

    run_db(database_url, link)
    doctor = create_account(database_url, "staff", f"dr-{uuid.uuid4().hex[:6]}", roles=[("pediatrician", clinic_a)])
    teen_account = create_account(database_url, "family", f"teen-{uuid.uuid4().hex[:6]}@example.ru",
                                  patient_id=teen, level="full")
    return World(mine, other, condition(http, other, "J45.0"), teen, condition(http, teen, "J45.0"),
                 condition(http, teen, "F11.2"), clinic_a, clinic_b,
                 bearer(person_token(database_url, parent)), bearer(person_token(database_url, doctor)),
                 bearer(person_token(database_url, teen_account)),
                 {"parent": parent, "doctor": doctor, "teen_self": teen_account})


def answer(r: httpx.Response) -> tuple[int, str, bytes]:
    return r.status_code, r.headers.get("content-type", ""), r.content


def same_answer(hit: httpx.Response, miss: httpx.Response, asked: tuple[str, str] | None = None) -> None:
    """The two answers are the same, but for what the two requests asked differently (``asked``: the
    value in the first and in the second, e.g. the probed code, replaced by a placeholder)."""
    first, second = answer(hit), answer(miss)
    if asked is not None:
        first = (*first[:2], first[2].replace(quote(asked[0], safe="").encode(), b"ASKED")
                 .replace(asked[0].encode(), b"ASKED"))
        second = (*second[:2], second[2].replace(quote(asked[1], safe="").encode(), b"ASKED")
                  .replace(asked[1].encode(), b"ASKED"))
    assert first == second, f"the answer tells a match from no match:\n{hit.text}\n{miss.text}"


def exists(http: httpx.Client, path: str) -> bool:
    return http.get(path).status_code == 200


def bundle_answer(r: httpx.Response) -> tuple[int, Any]:
    """A response Bundle without what differs between any two responses (its id, the time)."""
    parsed = body(r)
    for key in ("id", "meta", "timestamp"):
        parsed.pop(key, None)
    return r.status_code, parsed


# 1. conditional writes match only within what the requester may see ---------------------------


PROBES = {  # requester -> (the patient probed, the code a hidden resource has)
    "parent": ("other", "J45.0"),  # another family's child
    "doctor": ("other", "J45.0"),  # a child outside the doctor's care
    "teen_self": ("teen", "F11.2"),  # what the policy hides from a 15-year-old's own account
}


@pytest.mark.parametrize("who", PROBES)
def test_conditional_delete_does_not_tell_whether_a_hidden_diagnosis_exists(who: str, world: World,
                                                                           http: httpx.Client) -> None:
    patient = getattr(world, PROBES[who][0])
    h = getattr(world, who)

    def probe(code: str) -> httpx.Response:
        return http.delete("/Condition", params={"subject": f"Patient/{patient}", "code": f"{ICD10}|{code}"},
                           headers=h)

    same_answer(probe(PROBES[who][1]), probe("Z99.9"), (PROBES[who][1], "Z99.9"))
    assert exists(http, f"/Condition/{world.other_asthma}")
    assert exists(http, f"/Condition/{world.teen_opioids}")


@pytest.mark.parametrize("who", PROBES)
def test_conditional_create_does_not_tell_whether_a_hidden_diagnosis_exists(who: str, world: World,
                                                                           http: httpx.Client) -> None:
    patient = getattr(world, PROBES[who][0])
    h = getattr(world, who)

    def probe(code: str) -> httpx.Response:
        criteria = urlencode({"subject": f"Patient/{patient}", "code": f"{ICD10}|{code}"})
        return post(http, "/Condition", {"resourceType": "Condition", "subject": {"reference": f"Patient/{world.mine}"},
                                         "code": {"text": "probe"}}, {**h, "If-None-Exist": criteria})

    hit, miss = probe(PROBES[who][1]), probe("Z99.9")
    assert hit.status_code != 200  # the hidden Condition is not returned as "already exists"
    assert answer(hit)[:2] == answer(miss)[:2]
    if hit.status_code != 201:  # a refused create: the same text (a created one differs by its new id)
        same_answer(hit, miss, (PROBES[who][1], "Z99.9"))


def test_conditional_update_does_not_name_another_child(world: World, http: httpx.Client) -> None:
    def probe(family: str) -> httpx.Response:
        return http.put("/Patient", params={"family": family, "birthdate": OTHER_BIRTH},
                        content=jsonutil.dumps({"resourceType": "Patient", "name": [{"family": family}]}),
                        headers={**FHIR_JSON, **world.parent})

    hit, miss = probe("Скрытова"), probe("Несуществующая")
    same_answer(hit, miss, ("Скрытова", "Несуществующая"))
    assert hit.status_code == 403
    assert world.other not in hit.text


def test_conditional_writes_still_work_within_what_may_be_seen(world: World, http: httpx.Client) -> None:
    """The same criteria, by someone who may see the record: the match is found and acted on."""
    found = post(http, "/Condition", {"resourceType": "Condition", "subject": {"reference": f"Patient/{world.other}"},
                                      "code": {"text": "дубль"}},
                 {"If-None-Exist": urlencode({"subject": f"Patient/{world.other}", "code": f"{ICD10}|J45.0"})})
    assert found.status_code == 200
    assert body(found)["id"] == world.other_asthma
    deleted = http.delete("/Condition", params={"subject": f"Patient/{world.other}", "code": f"{ICD10}|J45.0"})
    assert deleted.status_code == 204
    assert http.get(f"/Condition/{world.other_asthma}").status_code == 410


def test_a_teenager_may_find_what_her_own_account_shows(world: World, http: httpx.Client) -> None:
    r = post(http, "/Condition", {"resourceType": "Condition", "subject": {"reference": f"Patient/{world.teen}"},
                                  "code": {"text": "x"}},
             {**world.teen_self, "If-None-Exist": urlencode({"subject": f"Patient/{world.teen}",
                                                            "code": f"{ICD10}|J45.0"})})
    assert r.status_code == 200
    assert body(r)["id"] == world.teen_asthma


@pytest.mark.parametrize("kind", ["transaction", "batch"])
def test_conditional_entries_of_bundles_match_only_what_may_be_seen(kind: str, world: World,
                                                                   http: httpx.Client) -> None:
    def bundle(code: str) -> httpx.Response:
        criteria = urlencode({"subject": f"Patient/{world.other}", "code": f"{ICD10}|{code}"})
        entries = [
            {"request": {"method": "DELETE", "url": f"Condition?{criteria}"}},
            {"resource": {"resourceType": "Condition", "subject": {"reference": f"Patient/{world.mine}"},
                          "code": {"text": "probe"}},
             "request": {"method": "POST", "url": "Condition", "ifNoneExist": criteria}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "probe"},
                          "subject": {"reference": f"Patient/{world.mine}"},
                          "focus": [{"reference": f"Condition?{criteria}"}]},
             "request": {"method": "POST", "url": "Observation"}},
        ]
        return post(http, "", {"resourceType": "Bundle", "type": kind, "entry": entries}, world.doctor)

    hit, miss = bundle("J45.0"), bundle("Z99.9")
    assert entry_answers(hit, "J45.0") == entry_answers(miss, "Z99.9")
    assert exists(http, f"/Condition/{world.other_asthma}")


def entry_answers(r: httpx.Response, asked: str) -> tuple[int, Any]:
    """A Bundle's answer as (status, each entry's status and outcome), or the outcome of a failed
    transaction; what the request asked (``asked``) replaced by a placeholder."""
    text = r.content.replace(quote(asked, safe="").encode(), b"ASKED").replace(asked.encode(), b"ASKED")
    parsed = jsonutil.loads(text)
    if parsed["resourceType"] == "OperationOutcome":
        return r.status_code, parsed
    return r.status_code, [(e["response"]["status"], e["response"].get("outcome")) for e in parsed["entry"]]


def test_a_batch_entry_cannot_write_what_the_requester_may_not(world: World, http: httpx.Client) -> None:
    r = post(http, "", {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "чужое"},
                      "subject": {"reference": f"Patient/{world.other}"}},
         "request": {"method": "POST", "url": "Observation"}}]}, world.parent)
    assert r.status_code == 200
    assert body(r)["entry"][0]["response"]["status"] == "403"
    assert body(http.get("/Observation", params={"subject": f"Patient/{world.other}"})).get("entry") is None


# 2. writes by id to a resource one may not see --------------------------------------------------


def test_delete_and_patch_of_a_hidden_resource_answer_as_for_a_missing_one(world: World, http: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    ids = (world.other_asthma, missing)
    same_answer(http.delete(f"/Condition/{world.other_asthma}", headers=world.parent),
                http.delete(f"/Condition/{missing}", headers=world.parent), ids)
    patch = jsonutil.dumps([{"op": "replace", "path": "/code/text", "value": "x"}])
    headers = {**world.doctor, "Content-Type": "application/json-patch+json"}
    same_answer(http.patch(f"/Condition/{world.other_asthma}", content=patch, headers=headers),
                http.patch(f"/Condition/{missing}", content=patch, headers=headers), ids)
    assert exists(http, f"/Condition/{world.other_asthma}")


def test_a_refused_update_does_not_tell_the_version(world: World, http: httpx.Client) -> None:
    resource = {"resourceType": "Condition", "id": world.other_asthma, "code": {"text": "x"},
                "subject": {"reference": f"Patient/{world.other}"}}
    answers = {tag: put(http, f"/Condition/{world.other_asthma}", resource, {**world.doctor, "If-Match": tag})
               for tag in ('W/"1"', 'W/"7"')}
    assert answers['W/"1"'].status_code == 403
    same_answer(answers['W/"1"'], answers['W/"7"'])


def test_a_write_refusal_tells_no_more_of_a_record_than_a_missing_one(world: World, http: httpx.Client) -> None:
    def grant(patient: str) -> httpx.Response:
        return post(http, "/Consent", {
            "resourceType": "Consent", "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "urn:medcard:code-system:consent-category",
                                      "code": "medcard-access-grant"}]}],
            "patient": {"reference": f"Patient/{patient}"}}, world.parent)

    missing = created_id(post(http, "/Patient", {"resourceType": "Patient"}))
    assert http.delete(f"/Patient/{missing}").status_code == 204
    same_answer(grant(world.other), grant(missing), (world.other, missing))
    # for the parent's own child, the policy's reason is told
    assert grant(world.mine).status_code == 201


# 2. refusals the policy turns into a 404 are the not-found answer, in every route -----------------


ROUTES = [
    "/Patient/{p}", "/Patient/{p}/_history/1", "/Patient/{p}/_history", "/Patient/{p}/Condition",
    "/Patient/{p}/$everything", "/Patient/{p}/$everything?_count=5", "/Patient/{p}/$summary",
    "/Patient/{p}/$growth", "/Patient/{p}/$growth-chart?indicator=weight-for-age",
    "/Patient/{p}/$immds-forecast?date=2026-11-26", "/Patient/{p}/$examinations?date=2026-11-26",
]


@pytest.mark.parametrize("route", ROUTES)
def test_a_refused_read_is_the_not_found_answer_to_the_byte(route: str, world: World, server: ServerThread) -> None:
    missing = str(uuid.uuid4())
    with httpx.Client(base_url=server.base, timeout=60) as client:
        for who in ("parent", "doctor"):
            h = getattr(world, who)
            refused = client.get(route.format(p=world.other), headers=h)
            absent = client.get(route.format(p=missing), headers=h)
            if route.endswith("/Condition"):  # a compartment search: both empty, but for the id and the time
                assert bundle_answer(refused)[1].get("entry") is None
                assert jsonutil.dumps(bundle_answer(refused)).replace(world.other.encode(), b"ASKED") == \
                    jsonutil.dumps(bundle_answer(absent)).replace(missing.encode(), b"ASKED")
                continue
            assert refused.status_code == 404, (who, route, refused.text)
            same_answer(refused, absent, (world.other, missing))  # but for the id asked for


def test_a_refused_vread_of_a_resource_is_the_not_found_answer(world: World, server: ServerThread) -> None:
    missing = str(uuid.uuid4())
    with httpx.Client(base_url=server.base, timeout=60, headers=world.parent) as client:
        refused = client.get(f"/Condition/{world.other_asthma}/_history/1")
        absent = client.get(f"/Condition/{missing}/_history/1")
        same_answer(refused, absent, (world.other_asthma, missing))


# 3. every probe leaves an audit entry ----------------------------------------------------------------


def audit(url: str, account: str) -> list[tuple[str, str, str | None, str | None]]:
    """(subtype, outcome, patient, query) of an account's audit entries, oldest first."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT subtype, outcome, patient_id, query FROM audit_event WHERE account_id = %s "
                            "ORDER BY recorded, id", (account,)).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_conditional_writes_that_match_nothing_or_several_are_audited(world: World, http: httpx.Client,
                                                                     database_url: str) -> None:
    condition(http, world.mine, "J06.9")
    condition(http, world.mine, "J06.9")
    nothing = http.delete("/Condition", params={"subject": f"Patient/{world.mine}", "code": f"{ICD10}|A00.0"},
                          headers=world.doctor)
    assert nothing.status_code == 204
    several = http.delete("/Condition", params={"subject": f"Patient/{world.mine}", "code": f"{ICD10}|J06.9"},
                          headers=world.doctor)
    assert several.status_code == 412
    probe = http.delete("/Condition", params={"subject": f"Patient/{world.other}", "code": f"{ICD10}|J45.0"},
                        headers=world.doctor)
    assert probe.status_code == 204
    rows = audit(database_url, world.accounts["doctor"])
    deletes = [(outcome, patient) for subtype, outcome, patient, query in rows if subtype == "delete"]
    assert ("0", world.mine) in deletes  # matched nothing
    assert ("4", world.mine) in deletes  # matched several: 412
    refused = [(subtype, patient) for subtype, outcome, patient, _ in rows if outcome == "4"]
    assert ("search", world.other) in refused  # the probe of a record outside the doctor's care
    assert ("0", world.other) not in deletes  # recorded as the refusal it was, not as a delete


def test_a_failed_read_or_write_still_leaves_its_entry(world: World, http: httpx.Client, database_url: str) -> None:
    gone = condition(http, world.mine, "J20.9")
    assert http.delete(f"/Condition/{gone}").status_code == 204
    assert http.get(f"/Condition/{gone}", headers=world.doctor).status_code == 410
    bad_reference = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                     "subject": {"reference": f"Patient/{world.mine}"},
                     "hasMember": [{"reference": f"Observation/{uuid.uuid4()}"}]}
    assert post(http, "/Observation", bad_reference, world.doctor).status_code == 422
    rows = audit(database_url, world.accounts["doctor"])
    assert ("read", "4", world.mine) in [r[:3] for r in rows]
    assert ("create", "4", world.mine) in [r[:3] for r in rows]


def test_a_failed_write_by_break_glass_is_audited(world: World, http: httpx.Client, database_url: str) -> None:
    glass = {**world.doctor, "X-Break-Glass": quote("Срочно: ребёнок без сознания")}
    bad = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": f"Patient/{world.other}"},
           "hasMember": [{"reference": f"Observation/{uuid.uuid4()}"}]}
    assert post(http, "/Observation", bad, glass).status_code == 422
    rows = audit(database_url, world.accounts["doctor"])
    assert ("create", "4", world.other) in [r[:3] for r in rows]


def test_a_reference_to_a_hidden_resource_is_refused_as_one_to_a_missing_resource(world: World,
                                                                                  http: httpx.Client) -> None:
    """Literal references must point at existing resources: not at ones the writer may not see, or the
    check would tell that they exist."""
    missing = str(uuid.uuid4())

    def note_about(condition_id: str) -> httpx.Response:
        return post(http, "/Observation", {
            "resourceType": "Observation", "status": "final", "code": {"text": "заметка"},
            "subject": {"reference": f"Patient/{world.mine}"},
            "focus": [{"reference": f"Condition/{condition_id}"}]}, world.doctor)

    hidden = note_about(world.other_asthma)
    assert hidden.status_code == 422
    same_answer(hidden, note_about(missing), (world.other_asthma, missing))
    mine = condition(http, world.mine, "J06.9")
    assert note_about(mine).status_code == 201  # one the doctor may see is fine


# operations show only the types the requester may read -----------------------------------------------


def test_whole_record_operations_show_only_the_types_the_token_covers(world: World, http: httpx.Client,
                                                                     database_url: str) -> None:
    """$everything and $summary leave out what the token's scopes (or the role) do not reach; an operation
    that shows a type the requester may not read ($growth: Observations) is refused as the record would be."""
    created_id(post(http, "/Observation", {
        "resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{world.mine}"},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, "effectiveDateTime": "2026-10-01",
        "valueQuantity": {"value": 20.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}))
    asthma = condition(http, world.mine, "J45.0")
    narrow = bearer(person_token(database_url, world.accounts["doctor"], "user/Patient.read user/Condition.read"))

    def types(bundle: dict[str, Any]) -> set[str]:
        return {e["resource"]["resourceType"] for e in bundle.get("entry", [])}

    everything = http.get(f"/Patient/{world.mine}/$everything", headers=narrow)
    assert everything.status_code == 200
    assert types(body(everything)) == {"Patient", "Condition"}
    assert {"Observation", "Condition"} <= types(body(http.get(f"/Patient/{world.mine}/$everything",
                                                               headers=world.doctor)))
    assert asthma in {e["resource"]["id"] for e in body(everything)["entry"]}
    # $growth shows Observations: refused; the Patient is readable, so the answer says why
    assert http.get(f"/Patient/{world.mine}/$growth", headers=narrow).status_code == 403
    assert http.get(f"/Patient/{world.mine}/$growth", headers=world.doctor).status_code == 200


def test_emergency_access_is_for_clinicians(world: World, http: httpx.Client, database_url: str) -> None:
    registrar = bearer(person_token(database_url, create_account(
        database_url, "staff", f"reg-{uuid.uuid4().hex[:6]}", roles=[("registrar", world.clinic_a)])))
    glass = {**registrar, "X-Break-Glass": quote("Нужна история болезни")}
    assert http.get(f"/Condition/{world.other_asthma}", headers=glass).status_code == 403
    assert http.get("/Condition", params={"subject": f"Patient/{world.other}"}, headers=glass).status_code == 403
    doctor_glass = {**world.doctor, "X-Break-Glass": quote("Ребёнок без сознания")}
    assert http.get(f"/Condition/{world.other_asthma}", headers=doctor_glass).status_code == 200


# what the review found -------------------------------------------------------------------------------


def test_a_failed_transaction_writes_no_text_of_another_record_into_a_familys_audit_log(
        world: World, http: httpx.Client) -> None:
    """The audit rows of a failed request keep its status and kind of failure, not its text: the text
    quotes the request (another child's id, a SNILS), and a family reads its child's rows."""
    bad_snils = "112-233-445 00"
    r = post(http, "", {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "рост"},
                      "subject": {"reference": f"Patient/{world.mine}"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Patient", "id": world.other,
                      "identifier": [{"system": system_uri("snils"), "value": bad_snils}]},
         "request": {"method": "PUT", "url": f"Patient/{world.other}"}}]})
    assert r.status_code == 422
    log = http.get("/AuditEvent", params={"patient": f"Patient/{world.mine}"}, headers=world.parent)
    assert log.status_code == 200
    assert world.other not in log.text
    assert bad_snils not in log.text
    assert "failed: 422" in log.text  # the failure itself is there


def test_a_token_that_may_write_a_type_refers_to_the_patient_it_writes_for(world: World, http: httpx.Client,
                                                                          database_url: str) -> None:
    """A reference is checked against the requester's reach by record, not against the token's search scopes:
    a token with Observation scopes only writes an Observation about a child in the doctor's care."""
    observations_only = bearer(person_token(database_url, world.accounts["doctor"], "user/Observation.cruds"))
    r = post(http, "/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "рост"},
                                    "subject": {"reference": f"Patient/{world.mine}"}}, observations_only)
    assert r.status_code == 201, r.text


def test_a_conditional_write_needs_a_token_that_may_search_the_type(http: httpx.Client, database_url: str) -> None:
    """Criteria are matched among what the token may see: one that may not search the type is refused,
    rather than matching nothing and creating a duplicate every time."""
    write_only = bearer(system_token(database_url, "system/Observation.write"))
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "identifier": [{"system": "urn:lab", "value": "999"}]}
    answers = [http.put("/Observation", params={"identifier": "urn:lab|999"}, content=jsonutil.dumps(observation),
                        headers={**FHIR_JSON, **write_only}).status_code for _ in range(2)]
    assert answers == [403, 403]
    assert body(http.get("/Observation", params={"identifier": "urn:lab|999"})).get("entry") is None


@pytest.mark.parametrize("entry", [
    {"request": {"method": "DELETE", "url": "Condition?subject=Patient/%00x"}},
    {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/x"}},
     "request": {"method": "POST", "url": "Condition", "ifNoneExist": "patient=%00x"}},
    {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "focus": [{"reference": "Condition?patient=%00x"}]},
     "request": {"method": "POST", "url": "Observation"}},
])
def test_a_nul_in_a_bundles_criteria_is_400(entry: dict[str, Any], world: World, http: httpx.Client) -> None:
    for kind in ("batch", "transaction"):
        r = post(http, "", {"resourceType": "Bundle", "type": kind, "entry": [entry]}, world.doctor)
        status = body(r)["entry"][0]["response"]["status"] if kind == "batch" else str(r.status_code)
        assert status.startswith("400"), (kind, r.text)


def test_patch_of_a_deleted_hidden_resource_is_the_not_found_answer(world: World, http: httpx.Client) -> None:
    hidden = condition(http, world.other, "J20.9")
    assert http.delete(f"/Condition/{hidden}").status_code == 204
    missing = str(uuid.uuid4())
    patch = jsonutil.dumps([{"op": "replace", "path": "/code/text", "value": "x"}])
    headers = {**world.parent, "Content-Type": "application/json-patch+json"}
    same_answer(http.patch(f"/Condition/{hidden}", content=patch, headers=headers),
                http.patch(f"/Condition/{missing}", content=patch, headers=headers), (hidden, missing))


def test_a_deleted_binary_of_a_hidden_record_is_the_not_found_answer(world: World, http: httpx.Client) -> None:
    binary = created_id(post(http, "/Binary", {"resourceType": "Binary", "contentType": "text/plain",
                                               "data": "0KHQv9GA0LDQstC60LA=",
                                               "securityContext": {"reference": f"Patient/{world.other}"}}))
    assert http.delete(f"/Binary/{binary}").status_code == 204
    missing = str(uuid.uuid4())
    same_answer(http.get(f"/Binary/{binary}", headers=world.parent), http.get(f"/Binary/{missing}",
                                                                               headers=world.parent),
                (binary, missing))


def test_the_sign_in_form_is_not_buffered_beyond_its_size(server: ServerThread) -> None:
    root = server.base.removesuffix("/fhir/R4")
    with httpx.Client(base_url=root, timeout=60) as client:
        r = client.post("/auth/login", content=b"username=" + b"a" * 200_000,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
