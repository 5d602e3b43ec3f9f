"""Families: what a representative, a relative with a grant and the teenager may do, at the edges of the rules.

The ages are counted on the clinics' date, the date the server decides on: a child "15 today" has their
15th birthday today, one "15 tomorrow" is 14 for one more day.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import psycopg
from guards_helpers import REGISTRY, World, born, consent, ids_in

from helpers import body, post, run_db
from medcard.access import accounts
from medcard.core.time import today_moscow

CAPACITY = "urn:medcard:extension:full-legal-capacity"


def grant_by(world: World, headers: dict[str, str], child: str, grantee: str) -> httpx.Response:
    """A family member's attempt to grant a relative access to the child's record (a family write)."""
    return post(world.http, "/Consent", consent(child, grantee), headers)


def test_representatives_act_for_the_child_until_15(http: httpx.Client, database_url: str) -> None:
    """Before 15 a parent decides for the child (here: grants a grandmother access); from the 15th
    birthday the patient decides, though the parent still reads until 18."""
    world = World(http, database_url)
    grandmother = world.family("grandmother-acts")
    for birth, acts in ((born(15, days_short=1), True), (born(15), False), (born(17), False)):
        child = world.child(birth)
        parent = world.parent_of(child, f"parent-acts-{child[:8]}")
        r = grant_by(world, parent, child, grandmother)
        assert r.status_code == (201 if acts else 403), (birth, r.text)
        assert http.get(f"/Patient/{child}", headers=parent).status_code == 200, birth


def test_full_legal_capacity_ends_representation_however_it_is_recorded(http: httpx.Client,
                                                                        database_url: str) -> None:
    world = World(http, database_url)
    cases = ((True, [{"url": CAPACITY, "valueBoolean": True}]), (True, [{"url": CAPACITY, "valueDate": "2026-01-15"}]),
             (False, [{"url": CAPACITY, "valueBoolean": False}]), (False, None))
    for ended, extension in cases:
        child = world.child(born(16), extension=extension)
        parent = world.parent_of(child, f"parent-capacity-{child[:8]}")
        assert http.get(f"/Patient/{child}", headers=parent).status_code == (404 if ended else 200), extension
        shown = ids_in(body(http.get("/Patient", headers=parent)), "Patient")
        assert shown == (set() if ended else {child}), extension


def test_only_an_active_link_makes_a_representative(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    child = world.child(born(6))
    observation = world.observation(child)
    asking, revoked = world.family("asked-to-be-linked"), world.family("link-revoked")

    async def links(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.request_link(conn, asking, child, "parent", "я мать")
        link_id = await accounts.link(conn, REGISTRY, revoked, child, "parent", "свидетельство II-МЮ 5")
        await accounts.revoke_link(conn, REGISTRY, link_id)

    run_db(database_url, links)
    for account in (asking, revoked):
        headers = world.token(account)
        assert http.get(f"/Patient/{child}", headers=headers).status_code == 404
        assert http.get(f"/Observation/{observation}", headers=headers).status_code == 404
        assert ids_in(body(http.get("/Observation", headers=headers)), "Observation") == set()


def test_a_relatives_grant_holds_only_while_it_is_in_force(http: httpx.Client, database_url: str) -> None:
    """A grandmother's grants, one child each: only an active grant of the grant category, within its
    period, not deleted, from a grantor who may still act, opens a record — and only for reading."""
    world = World(http, database_url)
    grandmother = world.family("grandmother-grants")
    today = today_moscow()
    day = timedelta(days=1)
    kids: dict[str, str] = {}
    for case in ("in force", "ends today", "inactive", "ended", "not begun", "other category", "deleted",
                 "by a parent, child 18", "by the patient, 18"):
        kids[case] = world.child(born(18) if case.endswith("18") else born(10))
    world.grant(kids["in force"], grandmother, period={"start": (today - day).isoformat()})
    world.grant(kids["ends today"], grandmother, period={"end": today.isoformat()})
    world.grant(kids["inactive"], grandmother, status="inactive")
    world.grant(kids["ended"], grandmother, period={"start": (today - 30 * day).isoformat(),
                                                    "end": (today - day).isoformat()})
    world.grant(kids["not begun"], grandmother, period={"start": (today + day).isoformat()})
    world.grant(kids["other category"], grandmother, category={"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/consentcategorycodes", "code": "npp"}]})
    deleted = world.grant(kids["deleted"], grandmother)
    assert http.delete(f"/Consent/{deleted}").status_code == 204
    world.grant(kids["by a parent, child 18"], grandmother)
    world.grant(kids["by the patient, 18"], grandmother, by=f"Patient/{kids['by the patient, 18']}")
    readable = {kids[c] for c in ("in force", "ends today", "by the patient, 18")}

    headers = world.token(grandmother)
    for case, child in kids.items():
        status = http.get(f"/Patient/{child}", headers=headers).status_code
        assert status == (200 if child in readable else 404), case
    assert ids_in(body(http.get("/Patient", headers=headers)), "Patient") == readable
    # a grant lets the relative read, never act: no grants of their own to others
    r = grant_by(world, headers, kids["in force"], world.family("cousin"))
    assert r.status_code == 403, r.text


def test_families_cannot_break_the_glass(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    child = world.child(born(6))
    stranger = {**world.token(world.family("stranger-glass")), "X-Break-Glass": "emergency"}
    r = http.get(f"/Patient/{child}", headers=stranger)
    assert r.status_code == 403, r.text
    assert world.rows("SELECT 1 FROM audit_event WHERE patient_id = %s AND outcome = '0' AND break_glass IS NOT NULL",
                      child) == []


def test_own_access_needs_an_oms_policy(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    insured, uninsured = world.child(born(16)), world.child(born(16), oms=False)
    assert http.get(f"/Patient/{insured}", headers=world.own_account(insured, "teen-insured")).status_code == 200
    assert http.get(f"/Patient/{uninsured}", headers=world.own_account(uninsured, "teen-uninsured")).status_code \
        == 404


def audit_entries(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [e["resource"] for e in body(response).get("entry", [])]


def about(event: dict[str, Any]) -> set[str]:
    """The references an AuditEvent names (the patient and the resource)."""
    return {e["what"]["reference"] for e in event.get("entity", []) if "what" in e}


def test_a_parent_sees_who_opened_their_childs_record_and_nothing_of_another_child(http: httpx.Client,
                                                                                 database_url: str) -> None:
    world = World(http, database_url)
    clinic = world.organization("ДГП № 21")
    own, other = world.child(born(5), clinic=clinic), world.child(born(5), clinic=clinic)
    own_obs, other_obs = world.observation(own), world.observation(other)
    doctor = world.token(world.staff("dr-audit", "pediatrician", clinic))
    assert http.get(f"/Observation/{own_obs}", headers=doctor).status_code == 200
    assert http.get(f"/Observation/{other_obs}", headers=doctor).status_code == 200
    parent = world.parent_of(own, "parent-audit")

    events = audit_entries(http.get("/AuditEvent", params={"patient": f"Patient/{own}"}, headers=parent))
    opened = [e for e in events if f"Observation/{own_obs}" in about(e) and e["subtype"][0]["code"] == "read"]
    assert [e["agent"][0]["who"]["display"] for e in opened] == ["Dr-Audit"]  # who opened the child's record
    assert all(f"Patient/{own}" in about(e) for e in events)
    assert not any(f"Patient/{other}" in about(e) or f"Observation/{other_obs}" in about(e) for e in events)

    # the other child's log: refused like a record that is not there, and no entry of it can be read
    refused = http.get("/AuditEvent", params={"patient": f"Patient/{other}"}, headers=parent)
    assert refused.status_code == 404
    others = audit_entries(http.get("/AuditEvent", params={"patient": f"Patient/{other}"}))
    assert others, "the backend service sees the other child's log"
    for event in others:
        assert http.get(f"/AuditEvent/{event['id']}", headers=parent).status_code == 404
    assert http.get(f"/AuditEvent/{opened[0]['id']}", headers=parent).status_code == 200
