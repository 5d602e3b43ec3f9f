"""Who may see what: the whole matrix of requester × the child's age × action, through the FHIR
API and through the store directly, each decision with its audit entry.

The expectations are written out below as a table (from ``domain.md`` §5 and the roles'
reach in ``policy.json``), not computed by the policy: the policy must agree with the table.

Actions, all on one child's Observation (performed by the district pediatrician):
- read: ``GET Observation/{id}`` (a refusal is a 404, as for a missing resource);
- search: ``GET Observation?patient={child}`` (a refusal is an empty result);
- include: ``GET Practitioner?_id={pediatrician}&_revinclude=Observation:performer`` (the
  practitioner is reference data anyone may see; the child's Observation must come along only
  for those who may see it);
- write: ``POST Observation`` for the child (a refusal is a 403);
- export: ``GET Patient/{child}/$everything`` (a refusal is a 404).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from conftest import FIXED_TODAY, ServerThread
from helpers import bearer, body, create_account, created_id, person_token, post, run_db, system_token
from medcard.access import accounts
from medcard.access.authn import requester_for_token
from medcard.access.gate import Gate
from medcard.access.requester import Requester
from medcard.core import jsonutil
from medcard.core.errors import Forbidden, NotFound
from medcard.core.identifiers import enp_check_digit, system_uri
from medcard.fhir import interactions, store
from medcard.fhir.search.engine import SearchRequest

ACTIONS = ("read", "search", "include", "write", "export")
CASES = ("5", "14", "15", "16", "17", "18", "16-emancipated")
ALL = frozenset(CASES)
MINORS = frozenset({"5", "14", "15", "16", "17"})  # represented: under 18, no full legal capacity
OWN = frozenset({"15", "16", "17", "18", "16-emancipated"})  # own access from 15
NONE: frozenset[str] = frozenset()


def everywhere(*actions: str) -> dict[str, frozenset[str]]:
    return {a: ALL for a in actions}


# requester -> action -> the age cases in which it is allowed
EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    "backend service": everywhere(*ACTIONS),
    "pediatrician of the child's clinic": everywhere(*ACTIONS),
    "nurse of the child's clinic": everywhere("read", "search", "include", "write"),
    "registrar of the child's clinic": {},  # finds patients, never clinical records
    "archivist of the child's clinic": {},
    "administrator of the child's clinic": {},
    "pediatrician of another clinic": {},
    "nurse of another clinic": {},
    "registrar of another clinic": {},
    "archivist of another clinic": {},
    "administrator of another clinic": {},
    "city administrator": {},  # the audit log of the city, never records
    "specialist of another clinic with a referral": everywhere("read", "search", "include", "write"),
    "specialist of another clinic without a referral": {},
    "pediatrician of another clinic breaking the glass": everywhere(*ACTIONS),
    "parent": {a: MINORS for a in ("read", "search", "include", "export")},
    "guardian": {a: MINORS for a in ("read", "search", "include", "export")},
    "grandmother with a grant": {a: MINORS for a in ("read", "search", "include", "export")},
    "grandmother without a grant": {},
    "the patient": {a: OWN for a in ("read", "search", "include", "export")},
    "a stranger": {},
}
# What each action is called in the audit log when it is allowed.
AUDIT_SUBTYPE = {"read": "read", "search": "search", "include": "search", "write": "create", "export": "export"}


def birth_date_for(case: str, today: date) -> date:
    years = int(case.split("-")[0])
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def valid_enp(seed: int) -> str:
    body15 = f"{7700000000000000 + seed:016d}"[:15]
    return body15 + enp_check_digit(body15)


@dataclass
class World:
    case: str
    child: str
    observation: str
    pediatrician: str  # the district pediatrician's Practitioner id
    tokens: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str | None] = field(default_factory=dict)


def build(http: httpx.Client, url: str, case: str) -> World:
    """Two clinics, their staff, one child of the given age with one Observation, the family, the accounts."""
    today = FIXED_TODAY
    clinic = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 1"}))
    other = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 2"}))
    practitioners = {name: created_id(post(http, "/Practitioner", {"resourceType": "Practitioner",
                                                                   "name": [{"family": name}]}))
                     for name in ("ped", "nurse", "reg", "arch", "admin", "ped2", "spec", "spec2", "nurse2", "reg2",
                                  "arch2", "admin2", "city")}
    patient: dict[str, Any] = {
        "resourceType": "Patient", "birthDate": birth_date_for(case, today).isoformat(), "gender": "female",
        "name": [{"family": "Иванова", "given": ["Мария"]}],
        "identifier": [{"system": system_uri("enp"), "value": valid_enp(len(case))}],
        "managingOrganization": {"reference": f"Organization/{clinic}"}}
    if case.endswith("emancipated"):
        patient["extension"] = [{"url": "urn:medcard:extension:full-legal-capacity", "valueDate": "2026-01-15"}]
    child = created_id(post(http, "/Patient", patient))
    observation = created_id(post(http, "/Observation", observation_of(child, practitioners["ped"])))
    created_id(post(http, "/ServiceRequest", {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{child}"},
        "code": {"text": "Консультация кардиолога"},
        "performer": [{"reference": f"Practitioner/{practitioners['spec']}"}]}))
    world = World(case, child, observation, practitioners["ped"])

    staff = {
        "pediatrician of the child's clinic": ("ped", [("pediatrician", clinic)]),
        "nurse of the child's clinic": ("nurse", [("nurse", clinic)]),
        "registrar of the child's clinic": ("reg", [("registrar", clinic)]),
        "archivist of the child's clinic": ("arch", [("archivist", clinic)]),
        "administrator of the child's clinic": ("admin", [("clinic-admin", clinic)]),
        "pediatrician of another clinic": ("ped2", [("pediatrician", other)]),
        "nurse of another clinic": ("nurse2", [("nurse", other)]),
        "registrar of another clinic": ("reg2", [("registrar", other)]),
        "archivist of another clinic": ("arch2", [("archivist", other)]),
        "administrator of another clinic": ("admin2", [("clinic-admin", other)]),
        "city administrator": ("city", [("city-admin", "")]),
        "specialist of another clinic with a referral": ("spec", [("specialist", other)]),
        "specialist of another clinic without a referral": ("spec2", [("specialist", other)]),
    }
    for who, (practitioner, roles) in staff.items():
        account = create_account(url, "staff", f"{practitioner}-{case}", roles=roles,
                                 practitioner_id=practitioners[practitioner])
        world.accounts[who] = account
        world.tokens[who] = person_token(url, account)
    glass, other_doctor = "pediatrician of another clinic breaking the glass", "pediatrician of another clinic"
    world.accounts[glass] = world.accounts[other_doctor]
    world.tokens[glass] = world.tokens[other_doctor]

    family = {who: create_account(url, "family", f"{who.replace(' ', '-')}-{case}@example.ru")
              for who in ("parent", "guardian", "grandmother with a grant", "grandmother without a grant",
                          "a stranger")}
    family["the patient"] = create_account(url, "family", f"teen-{case}@example.ru", patient_id=child, level="full")

    async def link_representatives(conn: psycopg.AsyncConnection[Any]) -> None:
        registrar = Requester("system", "test")
        await accounts.link(conn, registrar, family["parent"], child, "parent", "свидетельство о рождении II-МЮ 123456")
        await accounts.link(conn, registrar, family["guardian"], child, "guardian", "распоряжение об опеке № 77")

    run_db(url, link_representatives)
    created_id(post(http, "/Consent", {
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "urn:medcard:code-system:consent-category",
                                  "code": "medcard-access-grant"}]}],
        "patient": {"reference": f"Patient/{child}"}, "performer": [{"display": "Мать"}],
        "policyRule": {"text": "Доступ бабушки к медицинской карте"},
        "provision": {"actor": [{"role": {"text": "grantee"}, "reference": {
            "identifier": {"system": "urn:medcard:account", "value": family["grandmother with a grant"]}}}]}}))
    for who, account in family.items():
        world.accounts[who] = account
        world.tokens[who] = person_token(url, account)
    world.tokens["backend service"] = system_token(url)
    world.accounts["backend service"] = None
    return world


def observation_of(child: str, performer: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}], "text": "Масса тела"},
            "subject": {"reference": f"Patient/{child}"}, "performer": [{"reference": f"Practitioner/{performer}"}],
            "effectiveDateTime": "2026-10-01", "valueQuantity": {"value": 20.5, "unit": "kg",
                                                                 "system": "http://unitsofmeasure.org", "code": "kg"}}


def headers_for(world: World, who: str) -> dict[str, str]:
    h = bearer(world.tokens[who])
    if who.endswith("breaking the glass"):
        h["X-Break-Glass"] = quote("Ребёнок доставлен без сознания, нужна история прививок")
    return h


def ids_in(bundle: dict[str, Any], rtype: str) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == rtype}


# through the API ---------------------------------------------------------------------------


def api_allowed(client: httpx.Client, world: World, who: str, action: str) -> bool:
    h = headers_for(world, who)
    if action == "read":
        r = client.get(f"/Observation/{world.observation}", headers=h)
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200
    if action == "search":
        r = client.get("/Observation", params={"patient": world.child}, headers=h)
        assert r.status_code == 200, r.text
        return world.observation in ids_in(r.json(), "Observation")
    if action == "include":
        r = client.get("/Practitioner", params={"_id": world.pediatrician, "_revinclude": "Observation:performer"},
                       headers=h)
        assert r.status_code == 200, r.text
        assert ids_in(r.json(), "Practitioner") == {world.pediatrician}  # reference data: everyone sees it
        return world.observation in ids_in(r.json(), "Observation")
    if action == "write":
        r = post(client, "/Observation", observation_of(world.child, world.pediatrician), h)
        assert r.status_code in (201, 403), r.text
        return r.status_code == 201
    r = client.get(f"/Patient/{world.child}/$everything", headers=h)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200 and world.observation in ids_in(r.json(), "Observation")


# through the store directly ------------------------------------------------------------------


async def store_allowed(conn: psycopg.AsyncConnection[Any], base: str, world: World, who: str, action: str) -> bool:
    requester = await requester_for_token(conn, world.tokens[who])
    assert requester is not None
    if who.endswith("breaking the glass"):
        requester = requester.with_break_glass("store test")
    gate = Gate(conn, requester)
    ctx = interactions.Context(conn, base, gate)
    try:
        if action == "read":
            await interactions.read(ctx, "Observation", world.observation)
            return True
        if action in ("search", "include"):
            pairs = ([("patient", world.child)] if action == "search" else
                     [("_id", world.pediatrician), ("_revinclude", "Observation:performer")])
            text = await interactions.search(ctx, SearchRequest("Observation" if action == "search" else "Practitioner",
                                                                pairs, base), None)
            return world.observation in ids_in(jsonutil.loads(text), "Observation")
        if action == "write":
            async with conn.transaction(force_rollback=True):
                await interactions.create(ctx, "Observation", observation_of(world.child, world.pediatrician))
                await ctx.batch.flush()
            return True
        await gate.check(world.child, "Patient", "export", entity=f"Patient/{world.child}/$everything")
        async with conn.transaction():
            return world.observation in [s.id async for s in store.everything(conn, world.child)]
    except (NotFound, Forbidden):
        return False


def audit_rows(url: str, world: World, who: str) -> list[tuple[str, str, str | None, str | None, str]]:
    account = world.accounts[who]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT subtype, outcome, patient_id, break_glass, id::text FROM audit_event "
            "WHERE (account_id = %s::uuid OR (%s::uuid IS NULL AND account_id IS NULL)) ORDER BY recorded, id",
            (account, account)).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.mark.parametrize("case", CASES)
def test_who_may_see_the_child(case: str, http: httpx.Client, server: ServerThread, database_url: str) -> None:
    world = build(http, database_url, case)
    wrong: list[str] = []
    with httpx.Client(base_url=server.base, timeout=60) as client:
        for who, rules in EXPECTED.items():
            for action in ACTIONS:
                expected = case in rules.get(action, NONE)
                before = {r[4] for r in audit_rows(database_url, world, who)}
                got = api_allowed(client, world, who, action)
                if got != expected:
                    wrong.append(f"API: {who} / {action} at {case}: {'allowed' if got else 'refused'}")
                new = [r for r in audit_rows(database_url, world, who) if r[4] not in before]
                problem = audit_problem(new, world, who, action, expected)
                if problem:
                    wrong.append(f"audit: {who} / {action} at {case}: {problem}; entries {new}")

    async def direct() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            for who, rules in EXPECTED.items():
                for action in ACTIONS:
                    expected = case in rules.get(action, NONE)
                    got = await store_allowed(conn, server.base, world, who, action)
                    if got != expected:
                        wrong.append(f"store: {who} / {action} at {case}: {'allowed' if got else 'refused'}")

    asyncio.run(direct())
    assert not wrong, "\n".join(wrong)


def audit_problem(new: list[tuple[str, str, str | None, str | None, str]], world: World, who: str, action: str,
                  allowed: bool) -> str | None:
    """What is wrong with the audit entries one action left (None when they are as expected)."""
    about_child = [r for r in new if r[2] == world.child]
    if allowed:
        ok = [r for r in about_child if r[1] == "0" and r[0] == AUDIT_SUBTYPE[action]]
        if not ok:
            return "no successful entry for the child"
        if who.endswith("breaking the glass") and not all(r[3] for r in ok):
            return "emergency access not flagged"
        return None
    if any(r[1] == "0" for r in about_child):
        return "a successful entry for a refused action"
    if action != "include" and not any(r[1] == "4" for r in about_child):
        return "no refusal recorded"
    return None


def test_a_child_who_turns_15_today_has_own_access_today(http: httpx.Client, database_url: str,
                                                          server: ServerThread) -> None:
    today = FIXED_TODAY
    born = birth_date_for("15", today)
    child = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": born.isoformat(),
        "identifier": [{"system": system_uri("enp"), "value": valid_enp(99)}]}))
    teen = create_account(database_url, "family", "birthday@example.ru", patient_id=child, level="full")
    token = person_token(database_url, teen)
    assert http.get(f"/Patient/{child}", headers=bearer(token)).status_code == 200
    # one day younger: not yet
    younger = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": date.fromordinal(born.toordinal() + 1).isoformat(),
        "identifier": [{"system": system_uri("enp"), "value": valid_enp(98)}]}))
    teen2 = create_account(database_url, "family", "tomorrow@example.ru", patient_id=younger, level="full")
    assert http.get(f"/Patient/{younger}", headers=bearer(person_token(database_url, teen2))).status_code == 404


def test_own_access_needs_a_verified_account(http: httpx.Client, database_url: str) -> None:
    child = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": "2009-01-01",
        "identifier": [{"system": system_uri("enp"), "value": valid_enp(97)}]}))
    standard = create_account(database_url, "family", "selfmade@example.ru", patient_id=child)
    assert http.get(f"/Patient/{child}", headers=bearer(person_token(database_url, standard))).status_code == 404


def test_the_registrar_finds_patients_across_the_city_but_not_their_records(http: httpx.Client,
                                                                            database_url: str) -> None:
    clinic = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 3"}))
    elsewhere = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 4"}))
    child = created_id(post(http, "/Patient", {"resourceType": "Patient", "name": [{"family": "Петров"}],
                                               "managingOrganization": {"reference": f"Organization/{elsewhere}"}}))
    created_id(post(http, "/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                           "subject": {"reference": f"Patient/{child}"}}))
    registrar = create_account(database_url, "staff", "registrar3", roles=[("registrar", clinic)])
    h = bearer(person_token(database_url, registrar))
    found = body(http.get("/Patient", params={"family": "Петров"}, headers=h))
    assert ids_in(found, "Patient") == {child}
    assert http.get(f"/Patient/{child}", headers=h).status_code == 200
    assert body(http.get("/Observation", params={"patient": child}, headers=h)).get("entry") is None
    # _has cannot be used to learn what is in records the registrar may not see
    probe = body(http.get("/Patient", params={"_has:Observation:patient:code": "x", "family": "Петров"}, headers=h))
    assert probe.get("entry") is None
    # counts do not leak either
    assert body(http.get("/Observation", params={"_summary": "count"}, headers=h))["total"] == 0


def test_scopes_narrow_what_the_policy_allows(http: httpx.Client, database_url: str) -> None:
    clinic = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 5"}))
    child = created_id(post(http, "/Patient", {"resourceType": "Patient",
                                               "managingOrganization": {"reference": f"Organization/{clinic}"}}))
    obs = created_id(post(http, "/Observation", {"resourceType": "Observation", "status": "final",
                                                 "code": {"text": "x"}, "subject": {"reference": f"Patient/{child}"}}))
    doctor = create_account(database_url, "staff", "doctor5", roles=[("pediatrician", clinic)])
    patients_only = bearer(person_token(database_url, doctor, "user/Patient.read"))
    assert http.get(f"/Patient/{child}", headers=patients_only).status_code == 200
    assert http.get(f"/Observation/{obs}", headers=patients_only).status_code == 404
    found = body(http.get("/Patient", params={"_id": child, "_revinclude": "Observation:patient"},
                          headers=patients_only))
    assert ids_in(found, "Observation") == set()
    refused = post(http, "/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "y"},
                                          "subject": {"reference": f"Patient/{child}"}}, patients_only)
    assert refused.status_code == 403


def test_requests_without_a_live_token_are_refused(anonymous: httpx.Client, http: httpx.Client,
                                                  database_url: str) -> None:
    assert anonymous.get("/metadata").status_code == 200
    r = anonymous.get("/Patient")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.get("/Patient", headers=bearer("not-a-token")).status_code == 401
    token = system_token(database_url)

    async def revoke(conn: psycopg.AsyncConnection[Any]) -> None:
        from medcard.access import tokens
        await tokens.revoke(conn, token)

    assert anonymous.get("/Patient", headers=bearer(token)).status_code == 200
    run_db(database_url, revoke)
    assert anonymous.get("/Patient", headers=bearer(token)).status_code == 401


def test_a_15_year_old_does_not_see_drug_addiction_matters_until_16(http: httpx.Client, database_url: str) -> None:
    today = FIXED_TODAY
    child = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": birth_date_for("15", today).isoformat(),
        "identifier": [{"system": system_uri("enp"), "value": valid_enp(96)}]}))

    def condition(code: str) -> str:
        return created_id(post(http, "/Condition", {
            "resourceType": "Condition", "subject": {"reference": f"Patient/{child}"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]}}))

    asthma, opioids = condition("J45.0"), condition("F11.2")
    teen = bearer(person_token(database_url, create_account(database_url, "family", "teen15@example.ru",
                                                            patient_id=child, level="full")))
    assert http.get(f"/Condition/{asthma}", headers=teen).status_code == 200
    assert http.get(f"/Condition/{opioids}", headers=teen).status_code == 404
    found = body(http.get("/Condition", params={"patient": child}, headers=teen))
    assert ids_in(found, "Condition") == {asthma}
    # the parent of a 15-year-old still reads both (representatives read until 18)
    parent = create_account(database_url, "family", "parent15@example.ru")

    async def link(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.link(conn, Requester("system", "test"), parent, child, "parent", "свидетельство II-МЮ 1")

    run_db(database_url, link)
    both = body(http.get("/Condition", params={"patient": child}, headers=bearer(person_token(database_url, parent))))
    assert ids_in(both, "Condition") == {asthma, opioids}


def test_a_binary_belongs_to_the_record_its_security_context_names(http: httpx.Client, database_url: str) -> None:
    child = created_id(post(http, "/Patient", {"resourceType": "Patient", "birthDate": "2020-01-01"}))
    document = created_id(post(http, "/DocumentReference", {
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{child}"},
        "content": [{"attachment": {"title": "Справка", "url": "Binary/placeholder"}}]}))
    data = "0KHQv9GA0LDQstC60LA="  # "Справка", base64
    by_document = created_id(post(http, "/Binary", {"resourceType": "Binary", "contentType": "text/plain", "data": data,
                                                    "securityContext": {"reference": f"DocumentReference/{document}"}}))
    by_patient = created_id(post(http, "/Binary", {"resourceType": "Binary", "contentType": "text/plain", "data": data,
                                                   "securityContext": {"reference": f"Patient/{child}"}}))
    loose = created_id(post(http, "/Binary", {"resourceType": "Binary", "contentType": "text/plain", "data": data}))
    parent = create_account(database_url, "family", "binary-parent@example.ru")
    stranger = bearer(person_token(database_url, create_account(database_url, "family", "binary-x@example.ru")))

    async def link(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.link(conn, Requester("system", "test"), parent, child, "parent", "свидетельство II-МЮ 2")

    run_db(database_url, link)
    mother = bearer(person_token(database_url, parent))
    assert http.get(f"/Binary/{by_document}", headers=mother).status_code == 200
    assert http.get(f"/Binary/{by_patient}", headers=mother).status_code == 200
    assert http.get(f"/Binary/{by_document}", headers=stranger).status_code == 404
    assert http.get(f"/Binary/{by_patient}", headers=stranger).status_code == 404
    assert http.get(f"/Binary/{loose}", headers=mother).status_code == 403  # outside every record


def test_a_15_year_olds_whole_record_leaves_out_drug_addiction_matters(http: httpx.Client, database_url: str) -> None:
    child = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": birth_date_for("15", FIXED_TODAY).isoformat(),
        "identifier": [{"system": system_uri("enp"), "value": valid_enp(95)}]}))
    ids = {code: created_id(post(http, "/Condition", {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{child}"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]}}))
        for code in ("J45.0", "F12.1")}
    teen = bearer(person_token(database_url, create_account(database_url, "family", "teen-all@example.ru",
                                                            patient_id=child, level="full")))
    everything = body(http.get(f"/Patient/{child}/$everything", headers=teen))
    assert ids_in(everything, "Condition") == {ids["J45.0"]}
    paged = body(http.get(f"/Patient/{child}/$everything", params={"_count": "50"}, headers=teen))
    assert ids_in(paged, "Condition") == {ids["J45.0"]}
    summary = body(http.get(f"/Patient/{child}/$summary", headers=teen))
    assert ids_in(summary, "Condition") == {ids["J45.0"]}
    # the backend service sees the whole record
    assert ids_in(body(http.get(f"/Patient/{child}/$everything")), "Condition") == set(ids.values())
