"""A refusal the policy turns into "not found" is the not-found answer, byte for byte, in every route.

For each route the same request is made for a record the requester may not see and for one that does
not exist (a fresh id of the same form), and the two answers are compared: status, headers (all but
``Date`` and ``X-Request-Id``, which every answer has its own of) and body. The only differences
allowed are the id itself and the moment a Bundle was made (``meta.lastUpdated``), which the
comparison writes as placeholders.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from guards_helpers import World, born

_LAST_UPDATED = re.compile(rb'"lastUpdated":"[^"]*"')

# route -> the path for a record id (Patient routes take the patient's id, the others the resource's)
ROUTES = {
    "read Patient": "/Patient/{id}",
    "read Observation": "/Observation/{id}",
    "HEAD Observation": "/Observation/{id}",
    "vread Patient": "/Patient/{id}/_history/1",
    "vread Observation": "/Observation/{id}/_history/1",
    "history Patient": "/Patient/{id}/_history",
    "history Observation": "/Observation/{id}/_history",
    "compartment search": "/Patient/{id}/Observation",
    "compartment search of all types": "/Patient/{id}/*",
    "read AuditEvent": "/AuditEvent/{id}",
    "search AuditEvent": "/AuditEvent?patient=Patient/{id}",
    "$everything": "/Patient/{id}/$everything",
    "$summary": "/Patient/{id}/$summary",
    "$growth": "/Patient/{id}/$growth",
    "$growth-chart": "/Patient/{id}/$growth-chart?indicator=weight-for-age",
    "$immds-forecast": "/Patient/{id}/$immds-forecast",
    "$examinations": "/Patient/{id}/$examinations",
}

# What a registrar may see of the child: the Patient resource itself (also in its own compartment).
REGISTRAR_SEES = {"read Patient", "vread Patient", "history Patient", "compartment search of all types"}
OPERATIONS = ("$everything", "$summary", "$growth", "$growth-chart", "$immds-forecast", "$examinations")


@dataclass
class Refused:
    """A child's record and requesters who may not see it."""

    patient: str
    observation: str
    audit_event: str
    requesters: dict[str, dict[str, str]]


def build(world: World) -> Refused:
    home, elsewhere = world.organization("ДГП № 51"), world.organization("ДГП № 52")
    child = world.child(born(6), clinic=home)
    observation = world.observation(child)
    other_child = world.child(born(6), clinic=elsewhere)
    doctor_home = world.token(world.staff("dr-home-51", "pediatrician", home))
    assert world.http.get(f"/Observation/{observation}", headers=doctor_home).status_code == 200
    [(event,)] = world.rows("SELECT id::text FROM audit_event WHERE patient_id = %s AND subtype = 'read'", child)
    return Refused(child, observation, event, {
        "parent of another child": world.parent_of(other_child, "parent-51"),
        "pediatrician of another clinic": world.token(world.staff("dr-far-52", "pediatrician", elsewhere)),
        "registrar of the child's clinic": world.token(world.staff("reg-home-51", "registrar", home)),
    })


def normalized(response: httpx.Response, rid: str) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v.replace(rid, "{id}")) for k, v in response.headers.items()
                     if k.lower() not in ("date", "x-request-id"))
    content = _LAST_UPDATED.sub(b'"lastUpdated":"{now}"', response.content.replace(rid.encode(), b"{id}"))
    return response.status_code, headers, content


def target(route: str, refused: Refused) -> str:
    if route.endswith("Observation") and not route.startswith("compartment"):
        return refused.observation
    return refused.audit_event if route == "read AuditEvent" else refused.patient


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_refusal_is_answered_exactly_as_not_found(route: str, http: httpx.Client, database_url: str) -> None:
    refused = build(World(http, database_url))
    rid = target(route, refused)
    missing = str(uuid.uuid4())
    path = ROUTES[route]
    assert http.get(path.format(id=rid)).status_code == 200  # a backend service sees it: it exists
    differences = []
    for who, headers in refused.requesters.items():
        if who.startswith("registrar") and (route in REGISTRAR_SEES or route in OPERATIONS):
            continue  # the registrar reads every Patient (operations: see test_privacy_guards_staff)
        method = "HEAD" if route.startswith("HEAD") else "GET"
        answer = http.request(method, path.format(id=rid), headers=headers)
        absent = http.request(method, path.format(id=missing), headers=headers)
        if answer.status_code == 200 and route.startswith("compartment"):
            assert refused.observation not in answer.text, who
        if normalized(answer, rid) != normalized(absent, missing):
            differences.append(f"{who}: refused {answer.status_code} {answer.content[:200]!r} / "
                               f"missing {absent.status_code} {absent.content[:200]!r}")
    assert not differences, "\n".join(differences)


@pytest.mark.parametrize("route", ["read Patient", "read Observation", "HEAD Observation", "vread Patient",
                                   "vread Observation", "history Patient", "history Observation"])
def test_a_refused_read_version_or_history_is_a_404_that_shows_nothing(route: str, http: httpx.Client,
                                                                      database_url: str) -> None:
    refused = build(World(http, database_url))
    rid = target(route, refused)
    path = ROUTES[route].format(id=rid)
    for who, headers in refused.requesters.items():
        if who.startswith("registrar") and route in REGISTRAR_SEES:
            continue
        answer = http.request("HEAD" if route.startswith("HEAD") else "GET", path, headers=headers)
        assert answer.status_code == 404, (who, answer.text)
        assert b'"resourceType":"OperationOutcome"' in answer.content or not answer.content
        assert b"29463-7" not in answer.content, who  # nothing of the Observation
        assert "Соколова".encode() not in answer.content, who  # nor of the Patient


@pytest.mark.parametrize("path", ["/Condition/{id}", "/Condition/{id}/_history/1", "/Condition/{id}/_history"])
def test_a_teenagers_hidden_resource_is_answered_exactly_as_not_found(path: str, http: httpx.Client,
                                                                       database_url: str) -> None:
    """Drug-addiction matters hidden from a 15-year-old's own account look exactly like missing resources."""
    world = World(http, database_url)
    child = world.child(born(15))
    hidden = world.condition(child, "F10.2")
    teen = world.own_account(child, "teen-refusals")
    missing = str(uuid.uuid4())
    assert http.get(path.format(id=hidden)).status_code == 200
    answer, absent = http.get(path.format(id=hidden), headers=teen), http.get(path.format(id=missing), headers=teen)
    assert normalized(answer, hidden) == normalized(absent, missing)
