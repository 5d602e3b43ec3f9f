"""The registrar's tasks through the gate: attaching a child to a clinic and district (a conditional update
of the Patient), creating and linking a family account, and the paper card's status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from conftest import FIXED_TODAY, ServerThread
from helpers import body, create_account, run_db
from medcard.access import accounts
from medcard.access.gate import Gate
from medcard.config import Settings
from medcard.core.errors import Forbidden
from medcard.worklists import registry
from worklist_data import CLINIC, COLLEAGUE_ROLE, DOCTOR, DOCTOR_ROLE, OTHER_CLINIC, district, write

T = TypeVar("T")


def as_account(url: str, account_id: str, work: Callable[[psycopg.AsyncConnection[Any], Gate], Awaitable[T]]) -> T:
    async def go(conn: psycopg.AsyncConnection[Any]) -> T:
        account = await accounts.get(conn, account_id)
        assert account is not None
        gate = Gate(conn, account.requester(), today=FIXED_TODAY)
        result = await work(conn, gate)
        await gate.flush(conn)
        return result

    return run_db(url, go)


@pytest.fixture
def registrar(http: httpx.Client, database_url: str, server: ServerThread) -> str:
    district(http)
    return create_account(database_url, "staff", "registratura", roles=[("registrar", CLINIC)])


def test_the_registrar_chooses_among_the_districts_of_their_clinic(database_url: str, registrar: str) -> None:
    found = as_account(database_url, registrar, lambda conn, gate: registry.clinics(conn, gate))
    assert [(c.id, [(d.role_id, d.number) for d in c.districts]) for c in found] == [
        (CLINIC, [(DOCTOR_ROLE, "3"), (COLLEAGUE_ROLE, "4")])]


def test_attaching_a_child_to_another_district_updates_the_patient_and_its_worklist(
        http: httpx.Client, database_url: str, registrar: str) -> None:
    before = as_account(database_url, registrar, lambda conn, gate: registry.attachment(conn, gate, "pupil"))
    assert (before.organization_id, before.district_role_id) == (CLINIC, DOCTOR_ROLE)
    version = as_account(database_url, registrar, lambda conn, gate: registry.attach(
        conn, gate, "pupil", version=str(before.version), organization_id=CLINIC, district_role_id=COLLEAGUE_ROLE))
    assert version == before.version + 1
    patient = body(http.get("/Patient/pupil"))
    assert patient["generalPractitioner"] == [{"reference": f"PractitionerRole/{COLLEAGUE_ROLE}"}]
    assert patient["meta"]["versionId"] == str(version)
    worklist = body(http.get(f"/PractitionerRole/{COLLEAGUE_ROLE}/$vaccination-worklist", params={"_count": 50}))
    listed = {p["valueReference"]["reference"] for c in worklist["parameter"] if c["name"] == "child"
              for p in c["part"] if p["name"] == "patient"}
    assert "Patient/pupil" in listed
    with psycopg.connect(database_url) as conn:
        audit = conn.execute("SELECT subtype, outcome FROM audit_event WHERE account_id = %s AND entity = "
                             "'Patient/pupil' ORDER BY recorded", (registrar,)).fetchall()
    assert ("update", "0") in audit


def test_a_stale_form_says_so_and_changes_nothing(http: httpx.Client, database_url: str, registrar: str) -> None:
    opened = as_account(database_url, registrar, lambda conn, gate: registry.attachment(conn, gate, "pupil"))
    changed = body(http.get("/Patient/pupil"))
    changed["telecom"] = [{"system": "phone", "value": "+7 900 000-00-00"}]
    write(http, changed)  # someone else saved meanwhile
    with pytest.raises(registry.StaleForm):
        as_account(database_url, registrar, lambda conn, gate: registry.attach(
            conn, gate, "pupil", version=str(opened.version), organization_id=CLINIC,
            district_role_id=COLLEAGUE_ROLE))
    patient = body(http.get("/Patient/pupil"))
    assert patient["generalPractitioner"] == [{"reference": f"PractitionerRole/{DOCTOR_ROLE}"}]
    assert patient["telecom"][0]["value"] == "+7 900 000-00-00"


@pytest.mark.parametrize(("organization", "role", "field"), [
    (OTHER_CLINIC, DOCTOR_ROLE, "organization"),  # not the registrar's clinic
    (CLINIC, "no-such-role", "district"),
    ("", "", "organization"),
])
def test_bad_choices_are_named_by_field_and_nothing_is_saved(http: httpx.Client, database_url: str, registrar: str,
                                                             organization: str, role: str, field: str) -> None:
    with pytest.raises(registry.FormInvalid) as refused:
        as_account(database_url, registrar, lambda conn, gate: registry.attach(
            conn, gate, "pupil", version="1", organization_id=organization, district_role_id=role))
    assert field in refused.value.fields
    assert body(http.get("/Patient/pupil"))["meta"]["versionId"] == "1"


def test_a_registrar_of_another_clinic_may_not_attach_the_child(http: httpx.Client, database_url: str,
                                                               registrar: str) -> None:
    other = create_account(database_url, "staff", "registratura2", roles=[("registrar", OTHER_CLINIC)])
    write(http, {"resourceType": "PractitionerRole", "id": "role-9", "active": True,
                 "identifier": [{"system": "urn:medcard:code-system:district", "value": "2-1"}],
                 "organization": {"reference": f"Organization/{OTHER_CLINIC}"}})
    with pytest.raises(Forbidden):
        as_account(database_url, other, lambda conn, gate: registry.attach(
            conn, gate, "pupil", version="1", organization_id=OTHER_CLINIC, district_role_id="role-9"))
    assert body(http.get("/Patient/pupil"))["managingOrganization"] == {"reference": f"Organization/{CLINIC}"}


def link(url: str, registrar: str, username: str = "mama@example.ru", **changes: str) -> registry.NewFamilyAccount:
    fields = {"username": username, "display_name": "Школьникова Мария Ивановна", "relationship": "parent",
              "document": "свидетельство о рождении II-МЮ 123456", "identity_document": "паспорт 4510 123456",
              **changes}
    return as_account(url, registrar, lambda conn, gate: registry.link_family(conn, gate, "pupil", **fields))


def test_a_family_account_is_created_linked_and_can_sign_in(database_url: str, registrar: str,
                                                            settings: Settings) -> None:
    made = link(database_url, registrar)
    assert made.linked
    assert made.password
    again = link(database_url, registrar)  # the form submitted twice
    assert (again.linked, again.password) == (False, None)

    async def check(conn: psycopg.AsyncConnection[Any]) -> tuple[accounts.Account, list[accounts.Link]]:
        assert made.password is not None
        return (await accounts.check_password(conn, settings, "mama@example.ru", made.password),
                await accounts.links(conn, patient_id="pupil"))

    account, links = run_db(database_url, check)
    assert (account.kind, account.level) == ("family", "full")
    assert [(k.username, k.relationship, k.status, k.document) for k in links] == [
        ("mama@example.ru", "parent", "active", "свидетельство о рождении II-МЮ 123456")]
    shown = as_account(database_url, registrar, lambda conn, gate: registry.family_links(conn, gate, "pupil"))
    assert shown == [registry.FamilyLink("mama@example.ru", "parent", "active")]


def test_bad_family_fields_are_named_and_nothing_is_created(database_url: str, registrar: str) -> None:
    with pytest.raises(registry.FormInvalid) as refused:
        link(database_url, registrar, username="не адрес", relationship="neighbour", document=" ",
             identity_document="x" * 300)
    assert set(refused.value.fields) == {"username", "relationship", "document", "identity_document"}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM account WHERE kind = 'family'").fetchone() == (0,)


def test_a_staff_username_is_not_taken_over(database_url: str, registrar: str) -> None:
    with pytest.raises(registry.FormInvalid) as refused:
        link(database_url, registrar, username="registratura")
    assert "username" in refused.value.fields


def test_the_paper_card_is_shown_to_whom_the_policy_lets_read_documents(http: httpx.Client, database_url: str,
                                                                        registrar: str) -> None:
    write(http, {"resourceType": "DocumentReference", "id": "card", "status": "current",
                 "identifier": [{"system": "urn:medcard:paper-card:12", "value": "12-000042"}],
                 "subject": {"reference": "Patient/pupil"}, "date": "2018-02-01T10:00:00+03:00",
                 "custodian": {"reference": f"Organization/{CLINIC}"},
                 "description": "Бумажная история развития ребёнка (ф. 112/у) № 12-000042, передана в архив",
                 "content": [{"attachment": {"contentType": "text/plain", "data": "0JrQsNGA0YLQsA=="}}],
                 "context": {"period": {"start": "2012-05-01", "end": "2017-12-31"}}})
    doctor = create_account(database_url, "staff", "pediatr", roles=[("pediatrician", CLINIC)],
                            practitioner_id=DOCTOR)
    cards = as_account(database_url, doctor, lambda conn, gate: registry.paper_cards(conn, gate, "pupil"))
    assert cards == [registry.PaperCard("12-000042", "12", ("2012-05-01", "2017-12-31"), "current",
                                        "Бумажная история развития ребёнка (ф. 112/у) № 12-000042, передана в архив",
                                        f"Organization/{CLINIC}", "2018-02-01T10:00:00+03:00", f"ДГП {CLINIC}")]
    assert cards[0].years == (2012, 2017)
    assert as_account(database_url, doctor, lambda conn, gate: registry.paper_cards(conn, gate, "baby")) == []
    # the registrar of the child's clinic reads the paper card (the policy's paper-card kind), as the doctor does
    assert as_account(database_url, registrar, lambda conn, gate: registry.paper_cards(conn, gate, "pupil")) == cards


def test_a_phone_number_is_a_username_in_one_spelling(database_url: str, registrar: str) -> None:
    made = link(database_url, registrar, username="+7 (900) 123-45-67")
    assert made.username == "+79001234567"
    again = link(database_url, registrar, username="+7 900 123 45 67")  # the same person, typed otherwise
    assert (again.username, again.linked, again.password) == ("+79001234567", False, None)
