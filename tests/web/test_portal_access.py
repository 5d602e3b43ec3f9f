"""The family's access pages over HTTP: who opened the record, grants to a relative and their
revocation, requests for access, the notifications inbox, and share links opened by a doctor."""

from __future__ import annotations

import html
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from pages_helpers import hidden_fields, sign_in_client

from conftest import ServerThread
from helpers import bearer, created_id, person_token, post, run_db, system_token
from medcard.access import accounts
from medcard.access.requester import Requester
from medcard.config import Settings
from medcard.core.identifiers import enp_check_digit, system_uri
from medcard.core.time import today_moscow
from medcard.notifications import inbox

REGISTRY = Requester("system", "registry")
SignIn = Callable[..., httpx.Client]


@pytest.fixture(scope="module")
def site(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    plain = settings.model_copy(update={"secure_cookies": False, "second_factor_roles": ""})
    with ServerThread(database_url, plain) as srv:
        yield srv


@pytest.fixture
def root(site: ServerThread) -> str:
    return f"http://127.0.0.1:{site.port}"


@pytest.fixture
def api(root: str, database_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{root}/fhir/R4", timeout=60, headers=bearer(system_token(database_url))) as c:
        yield c


@pytest.fixture
def signed_in(root: str, database_url: str) -> Iterator[SignIn]:
    clients: list[httpx.Client] = []

    def sign(username: str, **how: Any) -> httpx.Client:
        clients.append(sign_in_client(root, database_url, username, **how))
        return clients[-1]

    yield sign
    for client in clients:
        client.close()


def enp(seed: int) -> str:
    head = f"{7700000000000000 + seed:016d}"[:15]
    return head + enp_check_digit(head)


def child(api: httpx.Client, years: int, *, family: str = "Соколова", given: str = "Вера",
          policy: str | None = None, clinic: str | None = None) -> str:
    today = today_moscow()
    patient: dict[str, Any] = {
        "resourceType": "Patient", "gender": "female", "birthDate": today.replace(year=today.year - years).isoformat(),
        "name": [{"family": family, "given": [given]}],
        "identifier": [{"system": system_uri("enp"), "value": policy or enp(uuid.uuid4().int % 10**8)}]}
    if clinic:
        patient["managingOrganization"] = {"reference": f"Organization/{clinic}"}
    return created_id(post(api, "/Patient", patient))


def account_id(database_url: str, username: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id::text FROM account WHERE username = %s", (username,)).fetchone()
    assert row is not None
    return str(row[0])


def link(database_url: str, username: str, patient: str) -> None:
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        return await accounts.link(conn, REGISTRY, account_id(database_url, username), patient, "parent",
                                   "свидетельство II-МЮ 100200")

    run_db(database_url, work)


def parent_of(signed_in: SignIn, database_url: str, patient: str, name: str = "mother") -> tuple[httpx.Client, str]:
    username = f"{name}-{uuid.uuid4().hex[:6]}@example.ru"
    client = signed_in(username, kind="family")
    link(database_url, username, patient)
    return client, username


def csrf(page: str) -> str:
    return hidden_fields(page)["csrf"]


def text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


# who opened the record -------------------------------------------------------------------------


def test_the_family_sees_who_opened_the_record_with_emergency_access_marked(
        root: str, api: httpx.Client, signed_in: SignIn, database_url: str) -> None:
    clinic = created_id(post(api, "/Organization", {"resourceType": "Organization", "name": "ДГП № 7"}))
    kid = child(api, 6, clinic=clinic)
    mother, _ = parent_of(signed_in, database_url, kid)
    doctor = f"dr-{uuid.uuid4().hex[:6]}"
    signed_in(doctor, roles=[("pediatrician", clinic)])
    token = person_token(database_url, account_id(database_url, doctor))
    with httpx.Client(base_url=f"{root}/fhir/R4", headers=bearer(token)) as fhir:
        assert fhir.get(f"/Patient/{kid}").status_code == 200
    stranger = child(api, 6)
    outsider = signed_in(f"dr-{uuid.uuid4().hex[:6]}", roles=[("pediatrician", "org-x")])
    form = outsider.get(f"/app/patients/{stranger}/break-glass")
    outsider.post(f"/app/patients/{stranger}/break-glass", data={"csrf": csrf(form.text), "reason": "Без сознания"})

    page = mother.get(f"/my/children/{kid}/access")
    assert page.status_code == 200
    shown = text(page.text)
    assert "Кто смотрел медкарту" in shown
    assert "участковый педиатр, ДГП № 7" in shown
    assert "Законный представитель" in shown

    missing = mother.get(f"/my/children/{uuid.uuid4()}/access")
    refused = mother.get(f"/my/children/{stranger}/access")  # another child's page: the same 404
    assert missing.status_code == refused.status_code == 404
    assert missing.text.replace(str(missing.url.path), "") == refused.text.replace(str(refused.url.path), "")


# grants ----------------------------------------------------------------------------------------


def test_a_parent_gives_a_grandmother_access_until_a_date_and_takes_it_back(
        root: str, api: httpx.Client, signed_in: SignIn, database_url: str) -> None:
    kid = child(api, 7)
    mother, _ = parent_of(signed_in, database_url, kid)
    granny_name = f"granny-{uuid.uuid4().hex[:6]}@example.ru"
    signed_in(granny_name, kind="family")
    granny_fhir = {"Authorization": f"Bearer {person_token(database_url, account_id(database_url, granny_name))}"}
    assert httpx.get(f"{root}/fhir/R4/Patient/{kid}", headers=granny_fhir).status_code == 404

    page = mother.get(f"/my/children/{kid}/access")
    until = (today_moscow() + timedelta(days=30)).isoformat()
    bad = mother.post(f"/my/children/{kid}/access/grant", data={
        "csrf": csrf(page.text), "email": "nobody@example.ru", "relation": "", "until": "2001-01-01"})
    assert bad.status_code == 400
    assert "Нет учётной записи medcard с таким адресом" in text(bad.text)
    assert "Укажите, кем человек приходится ребёнку" in text(bad.text)
    assert "позже сегодняшней" in text(bad.text)
    granted = mother.post(f"/my/children/{kid}/access/grant", data={
        "csrf": csrf(page.text), "email": granny_name, "relation": "бабушка", "until": until})
    assert granted.status_code == 303
    assert httpx.get(f"{root}/fhir/R4/Patient/{kid}", headers=granny_fhir).status_code == 200
    listed = text(mother.get(f"/my/children/{kid}/access").text)
    assert "бабушка" in listed
    assert "доступ до" in listed

    consent = re.search(r'name="consent" value="([^"]+)"', mother.get(f"/my/children/{kid}/access").text)
    assert consent is not None
    revoked = mother.post(f"/my/children/{kid}/access/revoke", data={"csrf": csrf(page.text),
                                                                      "consent": consent.group(1)})
    assert revoked.status_code == 303
    assert httpx.get(f"{root}/fhir/R4/Patient/{kid}", headers=granny_fhir).status_code == 404


def test_from_fifteen_the_teenager_manages_the_grants_not_the_parent(
        root: str, api: httpx.Client, signed_in: SignIn, database_url: str) -> None:
    teen = child(api, 15)
    father, _ = parent_of(signed_in, database_url, teen, "father")
    page = father.get(f"/my/children/{teen}/access")
    assert "С 15 лет доступом к медкарте распоряжается сам подросток" in text(page.text)
    assert f"/my/children/{teen}/access/grant" not in page.text
    aunt = f"aunt-{uuid.uuid4().hex[:6]}@example.ru"
    signed_in(aunt, kind="family")
    refused = father.post(f"/my/children/{teen}/access/grant", data={
        "csrf": csrf(page.text), "email": aunt, "relation": "тётя",
        "until": (today_moscow() + timedelta(days=10)).isoformat()})
    assert refused.status_code == 400
    assert "сам подросток" in text(refused.text)

    own_name = f"teen-{uuid.uuid4().hex[:6]}@example.ru"
    own = signed_in(own_name, kind="family")
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE account SET patient_id = %s, level = 'full' WHERE username = %s", (teen, own_name))
    mine = own.get(f"/my/children/{teen}/access")
    assert mine.status_code == 200
    done = own.post(f"/my/children/{teen}/access/grant", data={
        "csrf": csrf(mine.text), "email": aunt, "relation": "тётя",
        "until": (today_moscow() + timedelta(days=10)).isoformat()})
    assert done.status_code == 303


# requests --------------------------------------------------------------------------------------


def test_a_request_for_access_is_checked_field_by_field_and_answers_the_same_matched_or_not(
        root: str, api: httpx.Client, signed_in: SignIn, database_url: str) -> None:
    policy = enp(4242)
    kid = child(api, 4, family="Ёлкина", policy=policy)
    born = today_moscow().replace(year=today_moscow().year - 4)
    client = signed_in(f"aunt-{uuid.uuid4().hex[:6]}@example.ru", kind="family")
    page = client.get("/my/requests")
    fields = {"csrf": csrf(page.text), "family_name": "елкина", "given_name": "Вера",
              "birth_date": born.strftime("%d.%m.%Y"), "policy_number": policy, "relationship": "parent",
              "document": "свидетельство II-МЮ 123456"}
    wrong = client.post("/my/requests", data={**fields, "policy_number": policy[:-1] + str((int(policy[-1]) + 1) % 10),
                                              "birth_date": "01.01.2999"})
    assert wrong.status_code == 400
    shown = text(wrong.text)
    assert "контрольная" in shown
    assert "не может быть в будущем" in shown

    matched = client.post("/my/requests", data=fields)
    unmatched = client.post("/my/requests", data={**fields, "family_name": "Другая"})
    assert matched.status_code == unmatched.status_code == 303
    assert matched.headers["location"] == unmatched.headers["location"]
    listing = text(client.get("/my/requests").text)
    assert listing.count("На проверке в регистратуре") == 2
    with psycopg.connect(database_url) as conn:
        pending = conn.execute("SELECT patient_id, status FROM representation WHERE status = 'requested'").fetchall()
    assert pending == [(kid, "requested")]  # only the matching one reaches the registrar as a link

    for _ in range(3):
        assert client.post("/my/requests", data=fields).status_code == 303
    limited = client.post("/my/requests", data=fields)
    assert limited.status_code == 429
    assert "не больше 5 заявок" in text(limited.text).lower()


# notifications ---------------------------------------------------------------------------------


def test_the_inbox_names_the_child_marks_what_it_showed_and_keeps_the_email_setting(
        root: str, api: httpx.Client, signed_in: SignIn, database_url: str) -> None:
    kid = child(api, 3, given="Лиза")
    mother, username = parent_of(signed_in, database_url, kid)
    me = account_id(database_url, username)

    async def add(conn: psycopg.AsyncConnection[Any]) -> None:
        await inbox.add(conn, [(me, kid, "result", "DiagnosticReport/x", None)])

    run_db(database_url, add)
    page = mother.get("/my/notifications")
    shown = text(page.text)
    assert "Новый результат исследования" in shown
    assert "Лиза" in shown
    badge = 'class="badge badge-info">новое<'
    assert page.text.count(badge) == 1
    assert mother.get("/my/notifications").text.count(badge) == 0  # what the page showed is read now

    off = mother.post("/my/notifications/settings", data={"csrf": csrf(page.text)})
    assert off.status_code == 303
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT email FROM notification_preference WHERE account_id = %s", (me,)).fetchone() \
            == (False,)


# share links -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_doctor_elsewhere_opens_the_shared_extract_with_the_code_and_the_family_sees_it(
        root: str, api: httpx.Client, signed_in: SignIn, database_url: str) -> None:
    clinic = created_id(post(api, "/Organization", {"resourceType": "Organization", "name": "ДГП № 12"}))
    kid = child(api, 8, family="Орлова", given="Анна", clinic=clinic)
    mother, _ = parent_of(signed_in, database_url, kid)
    form = mother.get(f"/my/children/{kid}/share")
    made = mother.post(f"/my/children/{kid}/share", data={"csrf": csrf(form.text), "part": "extract", "days": "7",
                                                          "label": "ортопед Петрова"})
    assert made.status_code == 200
    url = re.search(r'href="(http[^"]+/share/[^"]+)"', made.text)
    code = re.search(r'class="share-code"[^>]*>(\d{3}) (\d{3})<', made.text)
    assert url is not None
    assert code is not None
    with httpx.Client(timeout=120) as doctor:
        assert doctor.get(url.group(1)).status_code == 200
        bad = "000000" if code.group(1) != "000" else "111111"
        wrong = doctor.post(url.group(1), data={"code": bad})
        assert wrong.status_code == 400
        assert "Осталось попыток: 4" in text(wrong.text)
        again = doctor.post(url.group(1), data={"code": bad})  # the first wrong code was counted
        assert "Осталось попыток: 3" in text(again.text)
        opened = doctor.post(url.group(1), data={"code": code.group(1) + code.group(2)})
    assert opened.status_code == 200
    assert opened.headers["content-type"] == "application/pdf"
    pdf = subprocess.run(["pdftotext", "-", "-"], input=opened.content, capture_output=True, check=True).stdout.decode()
    assert "Орлова" in pdf
    assert "Анна" in pdf
    with psycopg.connect(database_url) as conn:
        purposes = {r[0] for r in conn.execute("SELECT purpose FROM audit_event WHERE patient_id = %s", (kid,))}
    assert "PATRQT" in purposes
    listed = text(mother.get(f"/my/children/{kid}/access").text)
    assert "По ссылке" in listed  # the doctor's opening, recorded on the mother's account, is shown
    assert "по ссылке «ортопед Петрова»" in listed
    assert "открыта: 1" in listed
