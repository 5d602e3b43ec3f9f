"""The patient banner («шапка пациента», ux.md §2): who the child is, on every page of the chart.

One statement reads what it shows: the Patient, its allergies, legal representatives and active
dispensary care plans, the health-group conclusions, and the polyclinic and district pediatrician
the Patient names. :func:`open_record` is how every page of the chart starts: the gate decides
and audits the read first (a refusal is a 404 identical to a missing child), then the banner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core.errors import NotFound
from medcard.records import fhirview as fv
from medcard.records.ages import age_text

Shown = Callable[[str, str], bool]
AllergyState = Literal["known", "none", "not-recorded", "unavailable"]

# SNOMED CT "No known allergy" and its narrower siblings: an AllergyIntolerance saying there is none.
NO_KNOWN_ALLERGY = frozenset({"716186003", "409137002", "428607008", "429625007"})
ALLERGY_OUT = frozenset({"inactive", "resolved", "entered-in-error", "refuted"})
HEALTH_GROUP = "urn:medcard:code-system:health-group"
PE_GROUP = "urn:medcard:code-system:pe-group"
PE_TEXT = {"main": "основная", "preparatory": "подготовительная", "special-a": "специальная А",
           "special-b": "специальная Б"}
SEX_TEXT = {"male": "мужской", "female": "женский"}
MISSING = "the patient is not known"  # the one text of a 404 for a child, refused or missing

BANNER_SQL = """
WITH p AS (
    SELECT r.content FROM resource r WHERE r.resource_type = 'Patient' AND r.id = %(p)s AND NOT r.deleted),
refs AS (
    SELECT x.ref FROM p, LATERAL (
        SELECT p.content::jsonb -> 'managingOrganization' ->> 'reference'
        UNION ALL SELECT g ->> 'reference' FROM jsonb_array_elements(
            coalesce(p.content::jsonb -> 'generalPractitioner', '[]'::jsonb)) g) AS x(ref)
     WHERE x.ref LIKE '%%/%%')
SELECT 'Patient', %(p)s, p.content FROM p
UNION ALL
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE r.patient_id = %(p)s AND r.resource_type IN ('AllergyIntolerance', 'RelatedPerson', 'CarePlan')
   AND NOT r.deleted
UNION ALL
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE (r.resource_type, r.id) IN (
       SELECT t.resource_type, t.resource_id FROM sp_token t
        WHERE t.resource_type = 'Observation' AND t.param = 'code' AND t.code IN ('health-group', 'pe-group')
          AND t.patient_id = %(p)s)
   AND NOT r.deleted
UNION ALL
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE (r.resource_type, r.id) IN (SELECT split_part(ref, '/', 1), split_part(ref, '/', 2) FROM refs)
   AND NOT r.deleted
"""


@dataclass(frozen=True)
class Representative:
    name: str
    relation: str
    phone: str  # as written, '' when none
    phone_uri: str  # tel: link target, '' when none


@dataclass
class Banner:
    """What the banner shows; every text is filled ('не указано' where the record says nothing)."""

    patient_id: str
    name: str  # ФАМИЛИЯ Имя Отчество
    family: str
    birth_date: date | None
    age: str
    sex: str
    policy: str
    snils: str
    clinic: str
    district: str
    health_group: str
    pe_group: str
    allergy_state: AllergyState
    allergies: list[str]
    representatives: list[Representative]
    dispensary: list[str]  # titles of active dispensary care plans (Д-учёт)
    patient: dict[str, Any] = field(repr=False)


@dataclass
class Opened:
    """A record opened through the gate: its banner and what of it the requester may be shown."""

    banner: Banner
    shown: Shown
    rows: list[tuple[str, str, dict[str, Any]]]  # the banner query's resources (type, id, parsed)
    more: list[tuple[str, str, str, str]] = field(default_factory=list)  # (part, type, id, JSON) a page asked for


# The banner's rows as (part, type, id, content), to be read in one statement with what a page adds.
TAGGED_SQL = f"SELECT 'banner'::text, b.t, b.i, b.c FROM ({BANNER_SQL}) AS b(t, i, c)"


async def open_record(conn: AsyncConnection, gate: Gate, patient_id: str, today: date, *,
                      purpose: str = "chart", also: tuple[str, dict[str, Any]] | None = None) -> Opened:
    """Decide and audit the read of ``patient_id``'s record (NotFound when refused or missing); its banner.

    ``purpose`` is written into the audit entry's query ('chart' for opening the chart, which
    :mod:`.changes` looks for). ``also``: a statement of (part, type, id, content) rows and its parameters,
    read in the same round trip as the banner (after the gate's decision); its rows the requester may see
    are in ``Opened.more``.
    """
    await gate.check(patient_id, "Patient", "read", entity=f"Patient/{patient_id}", query=purpose, missing=MISSING)
    shown = await gate.content_filter(conn, patient_id)
    sql, params = TAGGED_SQL, {"p": patient_id}
    if also is not None:
        sql, params = f"{sql}\nUNION ALL\n{also[0]}", {**also[1], **params}
    cur = await conn.execute(sql, params)
    fetched = await cur.fetchall()
    rows = [(t, i, c) for part, t, i, c in fetched if part == "banner" and (t == "Patient" or shown(t, c))]
    more = [(part, t, i, c) for part, t, i, c in fetched if part != "banner" and (t == "AuditEvent" or shown(t, c))]
    parsed = [(t, i, fv.parse(c)) for t, i, c in rows]
    patient = next((c for t, _, c in parsed if t == "Patient"), None)
    if patient is None:
        raise NotFound(MISSING)
    return Opened(banner(patient, parsed, shown, today), shown, parsed, more)


def banner(patient: dict[str, Any], rows: list[tuple[str, str, dict[str, Any]]], shown: Shown,
           today: date) -> Banner:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for rtype, _, content in rows:
        by_type.setdefault(rtype, []).append(content)
    birth = fv.local_day(patient.get("birthDate")) if len(str(patient.get("birthDate", ""))) == 10 else None
    family = next((n.get("family", "") for n in patient.get("name") or () if isinstance(n, dict)), "")
    given = next((" ".join(n.get("given") or ()) for n in patient.get("name") or () if isinstance(n, dict)), "")
    name = " ".join(w for w in (str(family).upper(), given) if w) or fv.NOT_GIVEN
    org = _referenced(by_type, patient.get("managingOrganization"))
    gp = next((r for ref in patient.get("generalPractitioner") or () if (r := _referenced(by_type, ref))), None)
    state, allergies = allergy_strip(by_type.get("AllergyIntolerance", []), shown)
    health, pe = groups(by_type.get("Observation", []))
    return Banner(
        patient_id=str(patient.get("id")), name=name, family=str(family), birth_date=birth,
        age=age_text(birth, today) if birth else fv.NOT_GIVEN,
        sex=SEX_TEXT.get(str(patient.get("gender")), fv.NOT_GIVEN),
        policy=fv.identifier(patient, fv.ENP) or fv.NOT_GIVEN,
        snils=snils_text(fv.identifier(patient, fv.SNILS)),
        clinic=str((org or {}).get("name") or fv.NOT_GIVEN), district=district(gp),
        health_group=health, pe_group=pe, allergy_state=state, allergies=allergies,
        representatives=[representative(r) for r in by_type.get("RelatedPerson", []) if r.get("active", True)],
        dispensary=[str(c.get("title") or fv.texts_of(c.get("category"))) for c in by_type.get("CarePlan", [])
                    if c.get("status") == "active" and "испансер" in fv.texts_of(c.get("category"))],
        patient=patient)


def snils_text(value: str | None) -> str:
    """СНИЛС as it is written: 123-456-789 01."""
    if not value:
        return fv.NOT_GIVEN
    return f"{value[:3]}-{value[3:6]}-{value[6:9]} {value[9:]}" if len(value) == 11 and value.isdigit() else value


def _referenced(by_type: dict[str, list[dict[str, Any]]], ref: Any) -> dict[str, Any] | None:
    key = fv.ref_key(ref)
    if key is None:
        return None
    return next((r for r in by_type.get(key[0], []) if r.get("id") == key[1]), None)


def district(role: dict[str, Any] | None) -> str:
    """«Участок № 7» from the district pediatrician's PractitionerRole (identifier <clinic>-<n>)."""
    value = fv.identifier(role or {}, fv.DISTRICT)
    if not value:
        return fv.NOT_GIVEN
    return f"№ {value.rpartition('-')[2]}"


def allergy_strip(allergies: list[dict[str, Any]], shown: Shown) -> tuple[AllergyState, list[str]]:
    """The allergy strip's state (one of four, never blank) and the substances when known."""
    if not shown("AllergyIntolerance", "{}"):
        return "unavailable", []
    current = [a for a in allergies if not _statuses(a) & ALLERGY_OUT]
    substances = [fv.text_of(a.get("code")) or "аллерген не указан" for a in current
                  if not set(_codes(a.get("code"))) & NO_KNOWN_ALLERGY]
    if substances:
        return "known", substances
    if len(current) > len(substances):
        return "none", []
    return "not-recorded", []


def _statuses(allergy: dict[str, Any]) -> set[str]:
    return set(_codes(allergy.get("clinicalStatus"))) | set(_codes(allergy.get("verificationStatus")))


def _codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [str(c.get("code")) for c in concept.get("coding") or () if isinstance(c, dict)]


def groups(observations: list[dict[str, Any]]) -> tuple[str, str]:
    """The latest health group (I–V) and PE group conclusions ('не указано' when none)."""
    latest: dict[str, tuple[str, str]] = {}
    for obs in observations:
        if obs.get("status") == "entered-in-error":
            continue
        value = obs.get("valueCodeableConcept")
        when = str(fv.when_of(obs) or "")
        for system in (HEALTH_GROUP, PE_GROUP):
            code = fv.code_in(value, system)
            if code and when >= latest.get(system, ("", ""))[0]:
                latest[system] = (when, code)
    health = latest.get(HEALTH_GROUP, ("", fv.NOT_GIVEN))[1]
    pe = latest.get(PE_GROUP)
    return health, PE_TEXT.get(pe[1], pe[1]) if pe else fv.NOT_GIVEN


def representative(person: dict[str, Any]) -> Representative:
    phone = next((str(t.get("value")) for t in person.get("telecom") or ()
                  if isinstance(t, dict) and t.get("system") == "phone" and t.get("value")), "")
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return Representative(name=fv.human_name(person) or fv.NOT_GIVEN,
                          relation=fv.texts_of(person.get("relationship")) or "законный представитель",
                          phone=phone, phone_uri=f"tel:{digits}" if digits else "")
