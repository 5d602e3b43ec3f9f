"""Finding a child from the workspace's one search box, as the clinician types; their recent patients.

Every query reads through the requester's gate: the policy's condition (``Gate.visible``, the same
SQL the FHIR search adds) is part of the query over ``resource``, so a pediatrician finds the
children of their clinic and those they have a referral or appointment for, a registrar any child
(the policy's ``find_anywhere``), and every answer is audited as a FHIR search is: one entry per
patient shown (``Gate.saw``), one entry naming no patient when nothing was shown.

How each kind of text is found (:mod:`medcard.records.query_text` reads the text):

- a surname: the dictionary of surname skeletons (``patient_family``, fhir/search/phonetic.py) gives
  the skeletons that are the typed one, begin with it (results while typing: "Ива" finds Иванов),
  or are within pg_trgm's similarity of it (a typo: "Ивонов"); their patients come from
  ``patient_lookup``'s btree (family, birth date, patient), narrowed there by a birth date and the
  given name's first letters. Order: the typed skeleton itself, then those it begins, then the
  similar ones, each group closest first; within a surname by birth date. The query reads patients
  in that order and stops when the page is full (no ranking of every match).
- a SNILS or ЕНП: the Patient ``identifier`` index rows (``sp_token``).
- a paper card's number: the ``identifier`` of the archived card's DocumentReference
  (``urn:medcard:paper-card:<clinic>``, synth/documents.py), then its patient; the card itself must
  be visible too, so a role that may not see documents does not learn where a card is.

A page is a fixed number of round trips: the matches (with the Patient JSON), then the names of
their clinics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

import orjson
from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core.identifiers import system_uri
from medcard.fhir.search.conditions import SqlBuilder
from medcard.records import query_text
from medcard.records.query_text import Query

PAGE = 20
MAX_PAGE = 50
RECENT = 10
RECENT_DAYS = 30
PAPER_CARD_SYSTEM = "urn:medcard:paper-card:"
_RECENT_SCAN = 500  # the person's latest audit entries (openings of records, not searches) looked at


@dataclass(frozen=True, slots=True)
class FoundPatient:
    """A child as the results list shows it."""

    id: str
    family: str
    given: str  # given names and patronymic, as recorded
    birth_date: date | None
    gender: str | None
    snils: str | None
    enp: str | None
    organization_id: str | None
    organization: str | None  # the clinic's name, when the requester may see it
    matched: str  # query_text.NAME, SNILS, ENP, PAPER_CARD, or "recent"


@dataclass(frozen=True, slots=True)
class Found:
    """The answer to one text: what it was read as, the patients shown, and whether there are more."""

    query: Query
    patients: list[FoundPatient]
    more: bool


async def find(conn: AsyncConnection[Any], gate: Gate, text: str, *, limit: int = PAGE) -> Found:
    """The patients the text finds that the requester may see, audited; ``limit`` at most."""
    query = query_text.read(text)
    limit = max(1, min(limit, MAX_PAGE))
    if query.problem is not None or query.kind == query_text.NOTHING:
        return Found(query, [], more=False)
    await gate.prepare_search()
    b = SqlBuilder(gate.visible)
    sql = _sql(query, b, limit + 1)
    cur = await conn.execute(sql, b.params)
    rows = _distinct(await cur.fetchall())
    patients = [_patient(pid, content, query.kind) for pid, content in rows[:limit]]
    patients = await _with_clinics(conn, gate, patients)
    gate.saw("search", "Patient", urlencode({"q": text[: query_text.MAX_TEXT]}), [p.id for p in patients])
    return Found(query, patients, more=len(rows) > limit)


def _sql(query: Query, b: SqlBuilder, limit: int) -> str:
    if query.kind == query_text.NAME:
        return _by_name(query, b, limit)
    if query.kind == query_text.PAPER_CARD:
        return _by_paper_card(query.identifier, b, limit)
    return _by_identifier(system_uri("snils" if query.kind == query_text.SNILS else "enp"), query.identifier, b, limit)


def _visible_patient(b: SqlBuilder, alias: str) -> str:
    return (f"{alias}.resource_type = 'Patient' AND NOT {alias}.deleted AND "
            f"{b.visible(b, 'Patient', alias) if b.visible is not None else 'TRUE'}")


def _by_name(query: Query, b: SqlBuilder, limit: int) -> str:
    """Patients by surname skeleton: the typed one, those it begins, the similar ones (see the module)."""
    key = b.bind(query.surname_key)
    prefix = b.bind(_like_prefix(query.surname_key))
    narrow = ""
    if query.birth_date is not None:
        narrow += f" AND l.birth_date = {b.bind(query.birth_date)}"
    if query.given_key:
        narrow += f" AND l.given LIKE {b.bind(_like_prefix(query.given_key))}"
    # Sorted here, so that the patients below are read in that order and reading stops with the page
    # (an incremental sort, one surname at a time, as fhir/search/phonetic.ranked_matches does).
    families = (f"SELECT d.family, CASE WHEN d.family = {key} THEN 0 WHEN d.family LIKE {prefix} THEN 1 ELSE 2 END "
                f"AS tier, similarity(d.family, {key})::float8 AS score FROM patient_family d "
                f"WHERE d.family LIKE {prefix} OR d.family %% {key} ORDER BY 2, 3 DESC, 1")
    # The candidates are ranked on the name keys alone (index-only rows, cheap to sort), and only then
    # joined to the resources, in that order, until the page is full: a common surname has thousands
    # of patients, and reading each one's resource to rank them all took 0.2-0.3 s at two million.
    # OFFSET 0 keeps the ranked subquery whole, so its order is what the join reads.
    candidates = (f"SELECT f.family, f.tier, f.score, l.birth_date, l.patient_id FROM ({families}) f "
                  f"JOIN patient_lookup l ON l.family = f.family{narrow} "
                  f"ORDER BY f.tier, f.score DESC, f.family, l.birth_date DESC, l.patient_id DESC OFFSET 0")
    return (f"SELECT r.id, r.content FROM ({candidates}) c "
            f"JOIN resource r ON r.id = c.patient_id AND {_visible_patient(b, 'r')} "
            f"ORDER BY c.tier, c.score DESC, c.family, c.birth_date DESC, c.patient_id DESC LIMIT {2 * limit}")


def _by_identifier(system: str, value: str, b: SqlBuilder, limit: int) -> str:
    return (f"SELECT r.id, r.content FROM sp_token t JOIN resource r ON r.id = t.resource_id AND "
            f"{_visible_patient(b, 'r')} WHERE t.resource_type = 'Patient' AND t.param = 'identifier' "
            f"AND t.code = {b.bind(value)} AND t.system = {b.bind(system)} ORDER BY r.id LIMIT {limit}")


def _by_paper_card(number: str, b: SqlBuilder, limit: int) -> str:
    document = b.visible(b, "DocumentReference", "d") if b.visible is not None else "TRUE"
    return (f"SELECT DISTINCT r.id, r.content FROM sp_token t "
            f"JOIN resource d ON d.resource_type = 'DocumentReference' AND d.id = t.resource_id AND NOT d.deleted "
            f"AND {document} JOIN resource r ON r.id = d.patient_id AND {_visible_patient(b, 'r')} "
            f"WHERE t.resource_type = 'DocumentReference' AND t.param = 'identifier' AND t.code = {b.bind(number)} "
            f"AND t.system LIKE {b.bind(PAPER_CARD_SYSTEM + '%')} ORDER BY r.id LIMIT {limit}")


def _like_prefix(key: str) -> str:
    """A skeleton (ASCII letters and spaces) as a LIKE prefix pattern."""
    return key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _distinct(rows: list[tuple[Any, ...]]) -> list[tuple[str, str]]:
    """Each patient once, at its best place (a patient with two family names matches twice)."""
    seen: dict[str, str] = {}
    for pid, content in rows:
        seen.setdefault(pid, content)
    return list(seen.items())


def _patient(pid: str, content: str, matched: str) -> FoundPatient:
    """What the results list shows of a Patient, from its stored JSON."""
    resource = orjson.loads(content)
    names = resource.get("name") or [{}]
    name = next((n for n in names if n.get("use") == "official"), names[0])
    born = resource.get("birthDate")
    identifiers = {i.get("system"): i.get("value") for i in resource.get("identifier", ())}
    organization = (resource.get("managingOrganization") or {}).get("reference", "")
    return FoundPatient(
        id=pid, family=name.get("family", ""), given=" ".join(name.get("given", ())),
        birth_date=date.fromisoformat(born) if isinstance(born, str) and len(born) == 10 else None,
        gender=resource.get("gender"), snils=identifiers.get(system_uri("snils")),
        enp=identifiers.get(system_uri("enp")),
        organization_id=organization.removeprefix("Organization/") if organization.startswith("Organization/")
        else None, organization=None, matched=matched)


async def _with_clinics(conn: AsyncConnection[Any], gate: Gate, patients: list[FoundPatient]) -> list[FoundPatient]:
    """The clinics' names, in one query (organizations are reference data: anyone signed in reads them)."""
    ids = sorted({p.organization_id for p in patients if p.organization_id})
    if not ids:
        return patients
    b = SqlBuilder(gate.visible)
    visible = b.visible(b, "Organization", "o") if b.visible is not None else "TRUE"
    cur = await conn.execute(
        f"SELECT o.id, o.content::jsonb ->> 'name' FROM resource o WHERE o.resource_type = 'Organization' "
        f"AND o.id = ANY({b.bind(ids)}) AND NOT o.deleted AND {visible}", b.params)
    names = dict(await cur.fetchall())
    return [_replace_organization(p, names.get(p.organization_id or "")) for p in patients]


def _replace_organization(p: FoundPatient, name: str | None) -> FoundPatient:
    return FoundPatient(p.id, p.family, p.given, p.birth_date, p.gender, p.snils, p.enp, p.organization_id, name,
                        p.matched)


# Recent patients --------------------------------------------------------------------------------


async def recent(conn: AsyncConnection[Any], gate: Gate, *, limit: int = RECENT) -> list[FoundPatient]:
    """The patients whose records this person opened lately, latest first, as far as they may still see them.

    Read from the audit log (the person's entries of the last :data:`RECENT_DAYS` days that are not
    searches), so nothing else has to be kept; shown through the gate and audited like a search.
    """
    account = gate.requester.account_id
    if account is None:
        return []
    await gate.prepare_search()
    b = SqlBuilder(gate.visible)
    opened = (f"SELECT a.patient_id, a.recorded FROM audit_event a WHERE a.account_id = {b.bind(account)}::uuid "
              f"AND a.recorded > now() - {b.bind(f'{RECENT_DAYS} days')}::interval AND a.patient_id IS NOT NULL "
              f"AND a.subtype <> 'search' AND a.outcome = '0' ORDER BY a.recorded DESC LIMIT {_RECENT_SCAN}")
    latest = (f"SELECT o.patient_id, max(o.recorded) AS recorded FROM ({opened}) o GROUP BY o.patient_id "
              f"ORDER BY 2 DESC LIMIT {limit * 2}")
    cur = await conn.execute(
        f"SELECT r.id, r.content FROM ({latest}) x JOIN resource r ON r.id = x.patient_id AND "
        f"{_visible_patient(b, 'r')} ORDER BY x.recorded DESC LIMIT {max(1, min(limit, MAX_PAGE))}", b.params)
    patients = [_patient(pid, content, "recent") for pid, content in await cur.fetchall()]
    patients = await _with_clinics(conn, gate, patients)
    if patients:
        gate.saw("search", "Patient", "recent", [p.id for p in patients])
    return patients
