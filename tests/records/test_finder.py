"""Finding a child from the workspace's search box, through the policy, audited; recent patients."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from medcard.access.gate import Gate
from medcard.access.requester import Requester, StaffRole
from medcard.core.identifiers import enp_check_digit, format_snils, snils_check_digits
from medcard.records import finder, query_text

T = TypeVar("T")


def snils(body: str) -> str:
    return body + snils_check_digits(body)


def enp(body: str) -> str:
    return body + enp_check_digit(body)


PETR = {"id": "petr", "family": "Иванов", "given": ["Пётр", "Сергеевич"], "birthDate": "2019-03-12", "org": "org-1",
        "snils": snils("112233445"), "enp": enp("770000000000001")}
CHILDREN = [
    PETR,
    {"id": "maria", "family": "Иванова", "given": ["Мария"], "birthDate": "2020-05-01", "org": "org-1"},
    {"id": "lev", "family": "Ивановский", "given": ["Лев"], "birthDate": "2016-01-20", "org": "org-1"},
    {"id": "artem", "family": "Иванов", "given": ["Артём"], "birthDate": "2018-07-07", "org": "org-2",
     "snils": snils("223344556")},
    {"id": "petrov", "family": "Петров", "given": ["Иван"], "birthDate": "2019-03-12", "org": "org-1"},
    {"id": "shchukin", "family": "Щукин", "given": ["Олег"], "birthDate": "2015-10-02", "org": "org-1"},
]
PEDIATRICIAN = Requester("staff", "Доктор Орг-1", account_id=str(uuid.uuid4()),
                         roles=(StaffRole("pediatrician", "org-1"),))
REGISTRAR = Requester("staff", "Регистратор Орг-2", account_id=str(uuid.uuid4()),
                      roles=(StaffRole("registrar", "org-2"),))
ARCHIVIST = Requester("staff", "Архивариус Орг-1", account_id=str(uuid.uuid4()),
                      roles=(StaffRole("archivist", "org-1"),))


def patient(child: dict[str, Any]) -> dict[str, Any]:
    identifiers = []
    if "snils" in child:
        identifiers.append({"system": "urn:oid:1.2.643.2.69.1.1.1.6.223", "value": child["snils"]})
    if "enp" in child:
        identifiers.append({"system": "urn:oid:1.2.643.2.69.1.1.1.6.228", "value": child["enp"]})
    return {"resourceType": "Patient", "id": child["id"], **({"identifier": identifiers} if identifiers else {}),
            "name": [{"use": "official", "family": child["family"], "given": child["given"]}], "gender": "male",
            "birthDate": child["birthDate"], "managingOrganization": {"reference": f"Organization/{child['org']}"}}


@pytest.fixture
def city(http: httpx.Client) -> None:
    for org, name in (("org-1", "Детская городская поликлиника № 1"), ("org-2", "Детская городская поликлиника № 2")):
        assert http.put(f"/Organization/{org}", json={"resourceType": "Organization", "id": org,
                                                       "name": name}).status_code in (200, 201)
    for child in CHILDREN:
        response = http.put(f"/Patient/{child['id']}", json=patient(child))
        assert response.status_code in (200, 201), response.text
    card = {"resourceType": "DocumentReference", "id": "card-petr", "status": "current",
            "identifier": [{"system": "urn:medcard:paper-card:1", "value": "1-000042"}],
            "subject": {"reference": "Patient/petr"}, "content": [{"attachment": {"title": "ф. 112/у"}}]}
    assert http.put("/DocumentReference/card-petr", json=card).status_code in (200, 201)


def run(url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await work(conn)

    return asyncio.run(go())


def find(url: str, requester: Requester, text: str, limit: int = 20) -> tuple[finder.Found, list[tuple[Any, ...]]]:
    """The answer, and the audit entries the gate wrote for it (patient, subtype, query)."""

    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[finder.Found, list[tuple[Any, ...]]]:
        gate = Gate(conn, requester)
        found = await finder.find(conn, gate, text, limit=limit)
        async with conn.transaction():
            await gate.flush(conn)
        cur = await conn.execute("SELECT patient_id, subtype, query FROM audit_event WHERE agent_name = %(n)s AND "
                                 "recorded = (SELECT max(recorded) FROM audit_event WHERE agent_name = %(n)s) "
                                 "ORDER BY patient_id", {"n": requester.name})
        return found, await cur.fetchall()

    return run(url, work)


def ids(found: finder.Found) -> list[str]:
    return [p.id for p in found.patients]


@pytest.mark.usefixtures("city")
def test_letters_of_a_surname_find_it_while_typing_and_the_typed_one_comes_first(database_url: str) -> None:
    assert ids(find(database_url, PEDIATRICIAN, "Ив")[0]) == ["petr", "maria", "lev"]
    assert ids(find(database_url, PEDIATRICIAN, "Ивано")[0]) == ["petr", "maria", "lev"]
    # the surname itself first, then the longer ones it begins
    assert ids(find(database_url, PEDIATRICIAN, "иванов")[0]) == ["petr", "maria", "lev"]
    assert ids(find(database_url, PEDIATRICIAN, "Иванова")[0])[0] == "maria"


@pytest.mark.usefixtures("city")
def test_a_misspelled_or_transliterated_surname_finds_the_child(database_url: str) -> None:
    assert "petr" in ids(find(database_url, PEDIATRICIAN, "Ивонов")[0])
    assert ids(find(database_url, PEDIATRICIAN, "Schukin")[0]) == ["shchukin"]
    assert ids(find(database_url, PEDIATRICIAN, "Шукин")[0]) == ["shchukin"]
    assert ids(find(database_url, PEDIATRICIAN, "Щюкин")[0]) == ["shchukin"]


@pytest.mark.usefixtures("city")
def test_a_birth_date_and_a_given_name_narrow_the_surname(database_url: str) -> None:
    assert ids(find(database_url, PEDIATRICIAN, "Иванов 12.03.2019")[0]) == ["petr"]
    assert ids(find(database_url, PEDIATRICIAN, "Иванова 12.03.2019")[0]) == ["petr"]  # a typo and the date
    assert ids(find(database_url, PEDIATRICIAN, "Иван Мар")[0]) == ["maria"]
    assert ids(find(database_url, PEDIATRICIAN, "Иванов П 12.03.2019")[0]) == ["petr"]
    assert ids(find(database_url, PEDIATRICIAN, "Иванов 01.01.2001")[0]) == []


@pytest.mark.usefixtures("city")
def test_identifiers_find_the_one_child(database_url: str) -> None:
    for typed in (PETR["snils"], format_snils(PETR["snils"]), PETR["enp"]):
        found, _ = find(database_url, PEDIATRICIAN, typed)
        assert ids(found) == ["petr"], typed
        assert found.patients[0].matched == found.query.kind
    shown = find(database_url, PEDIATRICIAN, PETR["snils"])[0].patients[0]
    assert (shown.family, shown.given, shown.birth_date.isoformat() if shown.birth_date else None) == (
        "Иванов", "Пётр Сергеевич", "2019-03-12")
    assert shown.organization == "Детская городская поликлиника № 1"
    assert shown.snils == PETR["snils"]
    wrong = find(database_url, PEDIATRICIAN, PETR["snils"][:9] + "00")[0]
    assert wrong.query.problem == query_text.BAD_SNILS
    assert wrong.patients == []


@pytest.mark.usefixtures("city")
def test_the_policy_decides_whom_each_role_finds(database_url: str) -> None:
    # a pediatrician of clinic 1 does not find a child of clinic 2, by surname or by SNILS
    assert "artem" not in ids(find(database_url, PEDIATRICIAN, "Иванов")[0])
    assert ids(find(database_url, PEDIATRICIAN, "223344556" + snils_check_digits("223344556"))[0]) == []
    # a registrar finds any child (the policy's find_anywhere)
    assert set(ids(find(database_url, REGISTRAR, "Иванов")[0])) == {"petr", "maria", "lev", "artem"}


@pytest.mark.usefixtures("city")
def test_a_paper_card_number_finds_its_child_for_those_who_may_see_the_card(database_url: str) -> None:
    assert ids(find(database_url, ARCHIVIST, "1-000042")[0]) == ["petr"]
    assert ids(find(database_url, PEDIATRICIAN, "1-000042")[0]) == ["petr"]
    # a registrar may not see documents: the card's number finds nothing for them
    assert ids(find(database_url, REGISTRAR, "1-000042")[0]) == []
    assert ids(find(database_url, ARCHIVIST, "1-000043")[0]) == []


@pytest.mark.usefixtures("city")
def test_each_patient_shown_is_audited_as_a_search(database_url: str) -> None:
    found, entries = find(database_url, PEDIATRICIAN, "Ивано")
    assert sorted(ids(found)) == [e[0] for e in entries]
    assert {e[1] for e in entries} == {"search"}
    assert {e[2] for e in entries} == {"q=%D0%98%D0%B2%D0%B0%D0%BD%D0%BE"}
    _, nothing = find(database_url, PEDIATRICIAN, "Зюзюкин")
    assert nothing == [(None, "search", "q=%D0%97%D1%8E%D0%B7%D1%8E%D0%BA%D0%B8%D0%BD")]


@pytest.mark.usefixtures("city")
def test_a_page_is_limited_and_says_there_is_more(database_url: str) -> None:
    found = find(database_url, REGISTRAR, "Ив", limit=2)[0]
    assert len(found.patients) == 2
    assert found.more
    assert not find(database_url, REGISTRAR, "Ив", limit=4)[0].more


@pytest.mark.usefixtures("city")
def test_any_text_is_answered_without_an_error(database_url: str) -> None:
    for text in ("%", "_", "\\", "'; DROP TABLE resource; --", "И" * 500, "🙂🙂", "\x00", "a%b", "Ив_%"):
        found, _ = find(database_url, REGISTRAR, text)
        assert isinstance(found.patients, list)


@pytest.mark.usefixtures("city")
def test_recent_patients_are_the_records_this_person_opened_latest_first(database_url: str) -> None:
    async def opened(conn: psycopg.AsyncConnection[Any], patient_ids: list[str]) -> None:
        for pid in patient_ids:  # one request each: the order of the log is the order of opening
            gate = Gate(conn, PEDIATRICIAN)
            await gate.check(pid, "Patient", "read", entity=f"Patient/{pid}")
            async with conn.transaction():
                await gate.flush(conn)

    async def recent(conn: psycopg.AsyncConnection[Any]) -> list[str]:
        gate = Gate(conn, PEDIATRICIAN)
        found = await finder.recent(conn, gate)
        async with conn.transaction():
            await gate.flush(conn)
        return [p.id for p in found]

    run(database_url, lambda conn: opened(conn, ["lev", "petr", "maria", "petr"]))
    find(database_url, PEDIATRICIAN, "Щукин")  # a search is not an opening
    assert run(database_url, recent) == ["petr", "maria", "lev"]
    # the list itself is audited as a search of those patients, and does not count as opening them
    assert run(database_url, recent) == ["petr", "maria", "lev"]
    assert run(database_url, lambda conn: finder.recent(conn, Gate(conn, REGISTRAR))) == []
