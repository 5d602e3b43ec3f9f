"""``/app/patients?q=``: the search page and its htmx results; ``/app/terminology/icd10?q=``: the picker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from pages_helpers import PASSWORD, hidden_fields

from conftest import ServerThread
from helpers import create_account, created_id, post, run_db
from medcard.access.gate import Gate
from medcard.access.requester import Requester, StaffRole
from medcard.config import Settings

HX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def site(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A server whose cookies work over plain HTTP, with no second factor asked (as tests/web/test_pages.py)."""
    plain = settings.model_copy(update={"secure_cookies": False, "second_factor_roles": ""})
    with ServerThread(database_url, plain) as srv:
        yield srv


@pytest.fixture
def root(site: ServerThread) -> str:
    return f"http://127.0.0.1:{site.port}"


@pytest.fixture
def clinic(http: httpx.Client) -> dict[str, str]:
    """A clinic with three children, and one child of another clinic; their ids by name."""
    ids = {"clinic": created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 7"})),
           "other": created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 8"}))}
    for key, family, given, born, org in (("vera", "Соколова", "Вера", "2024-05-01", "clinic"),
                                          ("ivan", "Соколов", "Иван", "2019-03-12", "clinic"),
                                          ("gleb", "Шевченко", "Глеб", "2016-10-02", "clinic"),
                                          ("far", "Соколов", "Пётр", "2018-01-01", "other")):
        ids[key] = created_id(post(http, "/Patient", {
            "resourceType": "Patient", "birthDate": born, "gender": "female" if family.endswith("а") else "male",
            "name": [{"use": "official", "family": family, "given": [given]}],
            "managingOrganization": {"reference": f"Organization/{ids[org]}"}}))
    return ids


SignIn = Callable[..., tuple[httpx.Client, str]]


@pytest.fixture
def signed_in(root: str, database_url: str) -> Iterator[SignIn]:
    """``signed_in(roles, kind="staff")``: a cookie-keeping client signed in as a new account, and its id."""
    clients: list[httpx.Client] = []

    def sign(roles: list[tuple[str, str]], kind: str = "staff") -> tuple[httpx.Client, str]:
        username = f"doc-{uuid.uuid4().hex[:8]}"
        account_id = create_account(database_url, kind, username, roles=roles, password=PASSWORD)
        client = httpx.Client(base_url=root, timeout=60, follow_redirects=False)
        clients.append(client)
        form = client.get("/auth/login")
        done = client.post("/auth/login", data={**hidden_fields(form.text), "username": username,
                                                "password": PASSWORD})
        assert done.status_code == 303, done.text
        return client, account_id

    yield sign
    for client in clients:
        client.close()


def audit(database_url: str, account_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT patient_id, subtype, query FROM audit_event WHERE account_id = %s "
                            "ORDER BY recorded, patient_id", (account_id,)).fetchall()


def test_typing_a_surname_returns_the_results_alone_and_the_link_is_the_whole_page(
        signed_in: SignIn, database_url: str, clinic: dict[str, str]) -> None:
    client, account = signed_in([("pediatrician", clinic["clinic"])])
    fragment = client.get("/app/patients", params={"q": "Сокол"}, headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert f'href="/app/patients/{clinic["vera"]}"' in fragment.text
    assert f'href="/app/patients/{clinic["ivan"]}"' in fragment.text
    assert clinic["far"] not in fragment.text  # another clinic's child
    assert "СОКОЛОВА" in fragment.text
    whole = client.get("/app/patients", params={"q": "Сокол"})
    assert "<html" in whole.text
    assert 'data-search' in whole.text
    assert f'href="/app/patients/{clinic["vera"]}"' in whole.text
    shown = [(p, s) for p, s, _ in audit(database_url, account)]
    assert shown.count((clinic["vera"], "search")) == 2  # each answer, each patient shown


def test_a_misspelled_surname_and_a_birth_date_in_the_same_box(
        signed_in: SignIn, database_url: str, clinic: dict[str, str]) -> None:
    client, _ = signed_in([("pediatrician", clinic["clinic"])])
    typo = client.get("/app/patients", params={"q": "Шевчено"}, headers=HX)
    assert f'href="/app/patients/{clinic["gleb"]}"' in typo.text
    dated = client.get("/app/patients", params={"q": "Соколов 12.03.2019"}, headers=HX)
    assert f'href="/app/patients/{clinic["ivan"]}"' in dated.text
    assert clinic["vera"] not in dated.text


def test_what_cannot_be_searched_is_said(
        signed_in: SignIn, database_url: str, clinic: dict[str, str]) -> None:
    client, _ = signed_in([("pediatrician", clinic["clinic"])])
    assert "не меньше двух букв" in client.get("/app/patients", params={"q": "С"}, headers=HX).text
    assert "контрольное число" in client.get("/app/patients", params={"q": "112-233-445 00"}, headers=HX).text
    assert "Такой даты нет" in client.get("/app/patients", params={"q": "Соколов 31.02.2019"}, headers=HX).text
    assert "Никого не нашли" in client.get("/app/patients", params={"q": "Зюзюкин"}, headers=HX).text
    long = client.get("/app/patients", params={"q": "Я" * 5000}, headers=HX)
    assert long.status_code in (200, 400)


def test_with_nothing_typed_the_page_lists_recent_patients(
        signed_in: SignIn, database_url: str, clinic: dict[str, str]) -> None:
    client, account = signed_in([("pediatrician", clinic["clinic"])])
    assert "Здесь появятся пациенты" in client.get("/app/patients").text
    doctor = Requester("staff", "doc", account_id=account, roles=(StaffRole("pediatrician", clinic["clinic"]),))

    async def open_charts(conn: psycopg.AsyncConnection[Any]) -> None:
        for pid in (clinic["gleb"], clinic["vera"]):
            gate = Gate(conn, doctor)
            await gate.check(pid, "Patient", "read", entity=f"Patient/{pid}")
            await gate.flush(conn)
            await conn.commit()

    run_db(database_url, open_charts)
    page = client.get("/app/patients").text
    assert "Недавние пациенты" in page
    assert page.index(clinic["vera"]) < page.index(clinic["gleb"])  # latest first


def test_the_search_page_needs_a_staff_sign_in(root: str, signed_in: SignIn) -> None:
    with httpx.Client(base_url=root, timeout=60, follow_redirects=False) as anonymous:
        answer = anonymous.get("/app/patients", params={"q": "Соколов"})
    assert answer.status_code in (302, 303)
    assert "/auth/login" in answer.headers["location"]
    family, _ = signed_in([], kind="family")
    assert family.get("/app/patients", params={"q": "Соколов"}).status_code == 403


def test_the_icd10_picker_offers_codes_for_a_code_or_words(signed_in: SignIn) -> None:
    client, _ = signed_in([("pediatrician", "org-1")])
    words = client.get("/app/terminology/icd10", params={"q": "орви"}, headers=HX)
    assert words.status_code == 200
    assert 'data-code="J06.9"' in words.text
    assert 'data-title="Острая инфекция верхних дыхательных путей неуточненная"' in words.text
    assert 'data-version="medcard-pediatric-1"' in words.text
    code = client.get("/app/terminology/icd10", params={"q": "h66"}, headers=HX)
    assert 'data-code="H66.9"' in code.text
    assert "Нет такого кода" in client.get("/app/terminology/icd10", params={"q": "X99.99"}, headers=HX).text
    assert "<script" not in client.get("/app/terminology/icd10", params={"q": "<script>"}, headers=HX).text
