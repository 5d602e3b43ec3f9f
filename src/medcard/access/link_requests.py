"""Requests for access to a child's record, filed by a family member on the portal.

The person types the child's name, birth date and OMS policy number, their relationship and the
document the registrar will check. When those match a child (policy number, birth date and
surname), a pending link is made for the registrar (``representation``, status ``requested``);
either way the request is kept, and the portal says the same thing for every request, so it tells
nobody whether a child is a patient. Requests are limited to :data:`PER_DAY` per account.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from psycopg import AsyncConnection

from medcard.access import accounts
from medcard.core import jsonutil
from medcard.core.identifiers import enp_problem, system_uri

PER_DAY = 5
MAX_TEXT = 200
RELATIONSHIPS = ("parent", "guardian", "adoptive-parent")
ADULTHOOD_YEARS = 18


class TooMany(Exception):
    """The account filed :data:`PER_DAY` requests in the last day already."""


@dataclass(frozen=True)
class Details:
    family_name: str
    given_name: str
    birth_date: date
    policy_number: str
    relationship: str
    document: str


@dataclass(frozen=True)
class Filed:
    id: str
    family_name: str
    given_name: str
    birth_date: date
    relationship: str
    created_at: datetime
    status: str  # requested | active | rejected | revoked


def read_form(form: dict[str, str], today: date) -> tuple[Details | None, dict[str, str]]:
    """The details of a request form, or the problems of each field (Russian, shown next to it)."""
    errors: dict[str, str] = {}
    text = {k: " ".join((form.get(k) or "").split()) for k in
            ("family_name", "given_name", "birth_date", "policy_number", "relationship", "document")}
    for name in ("family_name", "given_name", "document"):
        if not text[name]:
            errors[name] = "Заполните это поле."
        elif len(text[name]) > MAX_TEXT:
            errors[name] = f"Не длиннее {MAX_TEXT} символов."
    born = _date(text["birth_date"])
    if born is None:
        errors["birth_date"] = "Укажите дату рождения в виде ДД.ММ.ГГГГ."
    elif born > today:
        errors["birth_date"] = "Дата рождения не может быть в будущем."
    elif born <= _years_before(today, ADULTHOOD_YEARS):
        errors["birth_date"] = "Доступ к медкарте ребёнка открывают до его 18-летия."
    policy = "".join(ch for ch in text["policy_number"] if not ch.isspace())
    if enp_problem(policy) is not None:
        errors["policy_number"] = ("Номер полиса ОМС — 16 цифр, последняя из них контрольная; "
                                   "проверьте номер по полису.")
    if text["relationship"] not in RELATIONSHIPS:
        errors["relationship"] = "Выберите, кем вы приходитесь ребёнку."
    if errors or born is None:
        return None, errors
    return Details(text["family_name"], text["given_name"], born, policy, text["relationship"], text["document"]), {}


def _date(value: str) -> date | None:
    """ДД.ММ.ГГГГ (as typed) or ГГГГ-ММ-ДД (a date input)."""
    try:
        if "." in value:
            d, m, y = value.split(".")
            return date(int(y), int(m), int(d))
        return date.fromisoformat(value)
    except ValueError:
        return None


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


async def file(conn: AsyncConnection, account_id: str, details: Details) -> None:
    """Keep the request and, if it names a child, make the pending link the registrar will see."""
    cur = await conn.execute("SELECT count(*) FROM access_request WHERE account_id = %s "
                             "AND created_at > now() - interval '1 day'", (account_id,))
    row = await cur.fetchone()
    if row is not None and row[0] >= PER_DAY:
        raise TooMany(f"at most {PER_DAY} requests a day")
    patient_id = await _match(conn, details)
    link_id = None
    if patient_id is not None:
        link_id = await accounts.request_link(conn, account_id, patient_id, details.relationship,
                                              f"portal request; document: {details.document}")
    await conn.execute(
        "INSERT INTO access_request (id, account_id, family_name, given_name, birth_date, policy_number, "
        "relationship, document, patient_id, representation_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (str(uuid.uuid4()), account_id, details.family_name, details.given_name, details.birth_date,
         details.policy_number, details.relationship, details.document, patient_id, link_id))


async def _match(conn: AsyncConnection, d: Details) -> str | None:
    """The child with this policy number, birth date and surname (letter case and ё/е aside), if one."""
    cur = await conn.execute(
        "SELECT r.id, r.content FROM sp_token t "
        "JOIN resource r ON r.resource_type = 'Patient' AND r.id = t.resource_id "
        "WHERE t.resource_type = 'Patient' AND t.param = 'identifier' AND t.system = %s AND t.code = %s "
        "AND NOT r.deleted", (system_uri("enp"), d.policy_number))
    for rid, content in await cur.fetchall():
        patient = jsonutil.loads(content)
        families = {_fold(n.get("family", "")) for n in patient.get("name", []) if isinstance(n, dict)}
        if patient.get("birthDate") == d.birth_date.isoformat() and _fold(d.family_name) in families:
            return str(rid)
    return None


def _fold(name: object) -> str:
    return str(name).casefold().replace("ё", "е").strip()


async def mine(conn: AsyncConnection, account_id: str) -> list[Filed]:
    """The account's requests, newest first, with where each stands (pending until the registrar acts)."""
    cur = await conn.execute(
        "SELECT q.id::text, q.family_name, q.given_name, q.birth_date, q.relationship, q.created_at, "
        "coalesce(l.status, 'requested') FROM access_request q "
        "LEFT JOIN representation l ON l.id = q.representation_id "
        "WHERE q.account_id = %s ORDER BY q.created_at DESC LIMIT 50", (account_id,))
    return [Filed(*row) for row in await cur.fetchall()]
