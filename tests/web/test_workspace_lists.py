"""The workspace's lists over HTTP: «Мой день» (/app/), the inbox (/app/inbox, marking seen) and the
registrar's page of a child (/app/patients/{id}/registry: attach, family account, paper card), each
form with CSRF, bad values shown next to their field with nothing saved, and a double submit saving once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from pages_helpers import hidden_fields, sign_in_client

from conftest import ServerThread
from helpers import bearer, body, system_token
from medcard.config import Settings
from worklist_data import CLINIC, COLLEAGUE_ROLE, DOCTOR, DOCTOR_ROLE, district, write

SignIn = Callable[..., httpx.Client]


@pytest.fixture(scope="module")
def site(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    plain = settings.model_copy(update={"secure_cookies": False, "second_factor_roles": ""})
    with ServerThread(database_url, plain) as srv:
        yield srv


@pytest.fixture
def api(site: ServerThread, database_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{site.port}/fhir/R4", timeout=60,
                      headers=bearer(system_token(database_url))) as client:
        district(client)
        yield client


@pytest.fixture
def signed_in(site: ServerThread, database_url: str) -> Iterator[SignIn]:
    clients: list[httpx.Client] = []

    def sign(username: str, roles: list[tuple[str, str]], practitioner: str | None = None) -> httpx.Client:
        clients.append(sign_in_client(f"http://127.0.0.1:{site.port}", database_url, username, roles=roles))
        if practitioner:
            with psycopg.connect(database_url) as conn:
                conn.execute("UPDATE account SET practitioner_id = %s WHERE username = %s", (practitioner, username))
        return clients[-1]

    yield sign
    for client in clients:
        client.close()


def test_my_day_lists_the_district_with_deep_links_to_the_charts(api: httpx.Client, signed_in: SignIn) -> None:
    doctor = signed_in("dr.day", [("pediatrician", CLINIC)], DOCTOR)
    day = doctor.get("/app/")
    assert day.status_code == 200
    text = day.text
    assert "участок № 3" in text
    assert 'href="/app/patients/baby"' in text  # the 1-month examination and overdue vaccinations
    assert 'href="/app/patients/pupil"' in text  # results and the referral
    assert "Консультация врача-невролога" in text
    assert "Гемоглобин 98 г/л" in text
    assert "moved" not in text  # hidden by the policy
    assert "neighbour" not in text  # the colleague's district
    assert "Диспансерное наблюдение появится позже" in text


def test_marking_a_result_seen_drops_it_from_the_count_once(api: httpx.Client, signed_in: SignIn,
                                                             database_url: str) -> None:
    doctor = signed_in("dr.inbox", [("pediatrician", CLINIC)], DOCTOR)
    inbox = doctor.get("/app/inbox")
    assert inbox.status_code == 200
    assert inbox.text.index("Гемоглобин") < inbox.text.index("Лейкоциты в моче")  # abnormal first
    fields = {**hidden_fields(inbox.text), "type": "DiagnosticReport", "id": "cbc"}
    no_csrf = doctor.post("/app/inbox/seen", data={"type": "DiagnosticReport", "id": "cbc"})
    assert no_csrf.status_code == 403
    for _ in range(2):  # a double click
        done = doctor.post("/app/inbox/seen", data=fields)
        assert done.status_code == 303
        assert done.headers["location"].startswith("/app/inbox")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT resource_id FROM result_seen").fetchall() == [("cbc",)]
    again = doctor.get("/app/inbox?seen=1")
    assert "Результат отмечен как просмотренный" in again.text
    assert "просмотрен" in again.text
    day = doctor.get("/app/").text
    assert "<strong>1</strong> новые результаты" in day
    assert doctor.post("/app/inbox/seen", data={**fields, "id": "no-such"}).status_code == 404


def test_the_registrar_attaches_a_child_to_another_district(api: httpx.Client, signed_in: SignIn) -> None:
    registrar = signed_in("reg.attach", [("registrar", CLINIC)])
    form = registrar.get("/app/patients/pupil/registry")
    assert form.status_code == 200
    assert "участок № 3" in form.text
    fields = hidden_fields(form.text)
    bad = registrar.post("/app/patients/pupil/registry/attach",
                         data={**fields, "organization": CLINIC, "district": "no-such-role"})
    assert bad.status_code == 400
    assert 'id="e-district"' in bad.text
    assert "Выберите участок этой поликлиники" in bad.text
    assert body(api.get("/Patient/pupil"))["meta"]["versionId"] == "1"
    done = registrar.post("/app/patients/pupil/registry/attach",
                          data={**fields, "organization": CLINIC, "district": COLLEAGUE_ROLE})
    assert done.status_code == 303
    assert body(api.get("/Patient/pupil"))["generalPractitioner"] == [
        {"reference": f"PractitionerRole/{COLLEAGUE_ROLE}"}]
    stale = registrar.post("/app/patients/pupil/registry/attach",  # the same form again: version 1 is stale
                           data={**fields, "organization": CLINIC, "district": DOCTOR_ROLE})
    assert stale.status_code == 409
    assert "изменили, пока форма была открыта" in stale.text
    assert body(api.get("/Patient/pupil"))["generalPractitioner"] == [
        {"reference": f"PractitionerRole/{COLLEAGUE_ROLE}"}]


def test_the_registrar_creates_a_family_account_once(api: httpx.Client, signed_in: SignIn,
                                                      database_url: str) -> None:
    registrar = signed_in("reg.family", [("registrar", CLINIC)])
    fields = hidden_fields(registrar.get("/app/patients/pupil/registry").text)
    family: dict[str, Any] = {"username": "mama@example.ru", "display_name": "Школьникова Мария Ивановна",
                              "relationship": "parent", "document": "свидетельство о рождении II-МЮ 123456",
                              "identity_document": "паспорт 4510 123456"}
    bad = registrar.post("/app/patients/pupil/registry/family", data={**fields, **family, "relationship": ""})
    assert bad.status_code == 400
    assert 'id="e-relationship"' in bad.text
    assert 'value="mama@example.ru"' in bad.text  # what was typed is kept
    made = registrar.post("/app/patients/pupil/registry/family", data={**fields, **family})
    assert made.status_code == 200
    assert "Учётная запись создана и связана с ребёнком" in made.text
    again = registrar.post("/app/patients/pupil/registry/family", data={**fields, **family})
    assert "уже связана с ребёнком" in again.text
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM representation").fetchone() == (1,)
    assert registrar.post("/app/patients/pupil/registry/family", data=family).status_code == 403  # no CSRF


def paper_card_and_protocol(api: httpx.Client) -> None:
    """Pupil's archived paper card (kept by the clinic's archive) and a certificate of the same record."""
    write(api, {"resourceType": "DocumentReference", "id": "pupil-card", "status": "current",
                "identifier": [{"system": "urn:medcard:paper-card:1", "value": "3-000777"}],
                "type": {"text": "История развития ребёнка (ф. 112/у)"}, "subject": {"reference": "Patient/pupil"},
                "date": "2020-02-03T10:00:00+03:00", "custodian": {"reference": f"Organization/{CLINIC}"},
                "context": {"period": {"start": "2019-06-15", "end": "2019-12-31"}},
                "content": [{"attachment": {"contentType": "text/plain", "data": "0JrQsNGA0YLQsA=="}}]})
    write(api, {"resourceType": "DocumentReference", "id": "pupil-certificate", "status": "current",
                "type": {"text": "Медицинская справка"},
                "description": "Справка для бассейна", "subject": {"reference": "Patient/pupil"},
                "date": "2026-11-20T10:00:00+03:00",
                "content": [{"attachment": {"contentType": "text/plain", "data": "0JbQsNC70L7QsdGL"}}]})


def test_the_registrar_sees_the_paper_card_on_the_registry_page(api: httpx.Client, signed_in: SignIn) -> None:
    registrar = signed_in("reg.card", [("registrar", CLINIC)])
    empty = registrar.get("/app/patients/pupil/registry")
    assert empty.status_code == 200
    assert "Бумажной медкарты нет" in empty.text
    paper_card_and_protocol(api)
    page = registrar.get("/app/patients/pupil/registry")
    assert page.status_code == 200
    card = page.text[page.text.index('id="paper-card"'):page.text.index('id="family"')]
    assert "Бумажная медкарта" in card
    assert "3-000777" in card
    assert "2019–2019" in card
    assert f"в архиве: ДГП {CLINIC}" in card
    assert "03.02.2020" in card  # sent to the archive
    english = registrar.get("/app/patients/pupil/registry?lang=en").text
    assert "Paper record card" in english
    assert f"in the archive of ДГП {CLINIC}" in english
    # the certificate of the same child stays out of the registrar's reach, on pages as through the API
    assert registrar.get("/app/patients/pupil/timeline/document/pupil-certificate").status_code == 404
    assert registrar.get("/app/patients/pupil/timeline/document/pupil-card").status_code == 200
    chart = registrar.get("/app/patients/pupil").text
    assert "3-000777" in chart
    assert "Справка для бассейна" not in chart
    doctor = signed_in("dr.card", [("pediatrician", CLINIC)], DOCTOR)
    assert "Справка для бассейна" in doctor.get("/app/patients/pupil").text


def test_a_registrars_search_results_open_the_registry_a_doctors_the_chart(api: httpx.Client,
                                                                          signed_in: SignIn) -> None:
    registrar = signed_in("reg.search", [("registrar", CLINIC)])
    doctor = signed_in("dr.search", [("pediatrician", CLINIC)], DOCTOR)
    found = registrar.get("/app/patients", params={"q": "Школьникова"}, headers={"HX-Request": "true"})
    assert 'href="/app/patients/pupil/registry"' in found.text
    assert "Enter — открыть регистратуру ребёнка" in registrar.get("/app/patients").text
    found = doctor.get("/app/patients", params={"q": "Школьникова"}, headers={"HX-Request": "true"})
    assert 'href="/app/patients/pupil"' in found.text
    assert "/registry" not in found.text
    # the registry is one click away in the chart's navigation, for those whose roles may register
    assert 'href="/app/patients/pupil/registry"' in doctor.get("/app/patients/pupil").text
    archivist = signed_in("arch.search", [("archivist", CLINIC)])
    assert "/registry" not in archivist.get("/app/patients/pupil").text
