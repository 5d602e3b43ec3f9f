"""«Мой день»: the district's children with something due, and the doctor's orders still open.

For the signed-in practitioner (their districts, see :mod:`.practice`), on a date:

- preventive examinations of this month: a scheduled examination (the act in force, 514н/211н) not
  done yet whose window opens or closes this month, unless a later one is due already (a missed
  11-month examination is not listed once the 12-month one is due: that is the one to do);
- overdue vaccinations: the worklist's table (``vaccination_due``), for the district's children;
- results of the practitioner's orders not yet seen (:mod:`.inbox`);
- referrals the practitioner made that no consultation used yet: a ServiceRequest of category
  referral (SNOMED CT 3457005), active or on hold, that no Encounter is ``basedOn`` and no
  DocumentReference names in ``context.related``.

Dispensary observation (follow-up) is not recorded by medcard yet: the day says so rather than show
an empty list as if nobody were due.

A fixed number of queries whatever the district's size: the districts, the district's children, the
examination Encounters of the children with an examination this month, their overdue vaccinations,
the inbox's two, the referrals. Every query over records carries the gate's search
condition, and each list is audited as a search (one entry per child shown).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import orjson
from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.fhir.search.conditions import SqlBuilder
from medcard.pediatrics import examinations, record, rules, vaccination_due
from medcard.worklists import inbox as inbox_
from medcard.worklists.practice import Child, Practice

REFERRAL = "3457005"  # SNOMED CT "Patient referral": ServiceRequest.category of a referral
OPEN_REFERRAL = ("active", "on-hold")


@dataclass(frozen=True)
class ExaminationDue:
    child: Child
    label: str  # «1 год», «6 лет»
    code: str
    due_from: date
    due_until: date
    status: str  # due, overdue, not-due (on the day asked)
    missing: tuple[str, ...]  # names of the specialists not seen yet


@dataclass(frozen=True)
class VaccinationOverdue:
    child: Child
    diseases: tuple[str, ...]  # Russian names
    overdue_since: date  # the earliest of the overdue dates


@dataclass(frozen=True)
class OpenReferral:
    child: Child
    id: str
    title: str  # «Консультация врача-невролога»
    reason: str
    authored: str | None
    planned: str | None  # occurrenceDateTime


@dataclass(frozen=True)
class Day:
    on: date
    practice: Practice
    children: int  # in the districts
    examinations: tuple[ExaminationDue, ...]
    vaccinations: tuple[VaccinationOverdue, ...]
    results: inbox_.Inbox
    referrals: tuple[OpenReferral, ...]


def month_of(on: date) -> tuple[date, date]:
    """The first and last day of ``on``'s month."""
    first = on.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


CHILDREN_SQL = """
SELECT r.id, r.content FROM resource r
 WHERE r.resource_type = 'Patient' AND NOT r.deleted
   AND r.id IN (SELECT i.resource_id FROM sp_reference i
                 WHERE i.resource_type = 'Patient' AND i.param = 'general-practitioner'
                   AND ((i.target_type = 'PractitionerRole' AND i.target_id = ANY({roles}))
                        OR (i.target_type = 'Practitioner' AND i.target_id = {me})))
   AND {visible}
 ORDER BY r.id
"""


async def district_children(conn: AsyncConnection, gate: Gate, practice: Practice, on: date) -> list[dict[str, Any]]:
    """The Patients of the practitioner's districts under 18 on ``on`` that the requester may see (one query)."""
    if not practice.practitioner_id:
        return []
    await gate.prepare_search()
    b = SqlBuilder()
    sql = CHILDREN_SQL.format(roles=b.bind([d.role_id for d in practice.districts]),
                              me=b.bind(practice.practitioner_id), visible=gate.visible(b, "Patient", "r"))
    cur = await conn.execute(sql, b.params)
    adult = on.replace(year=on.year - 18) if not (on.month == 2 and on.day == 29) else date(on.year - 18, 3, 1)
    out = []
    for _, content in await cur.fetchall():
        # orjson, not jsonutil: a thousand Patients are read for names and dates, which need no exact decimals
        patient = orjson.loads(content)
        birth = record.day_of(patient.get("birthDate"))
        if birth is not None and adult < birth <= on:
            out.append(patient)
    return out


# --- preventive examinations --------------------------------------------------------------------


def _near(birth: date, first: date, last: date) -> bool:
    """A cheap first test: whether the birth date lies within a few days of a date that puts some
    examination's window edge in [first, last] (most children of a district have none this month,
    and building each one's schedule is the costly part). It may say yes for a child with none (the
    schedule then lists nothing this month), never no for a child with one."""
    windows = _birth_windows(first, last, id(rules.examination_acts()))
    at = bisect_right(windows, (birth, date.max)) - 1
    return at >= 0 and windows[at][0] <= birth <= windows[at][1]


_SLACK = timedelta(days=4)  # calendar months and their ends: the inverse of Duration.after, widened


@lru_cache(maxsize=8)
def _birth_windows(first: date, last: date, acts_id: int) -> list[tuple[date, date]]:
    """Birth dates (merged, sorted ranges) for which some visit's age or window end falls in [first, last]."""
    spans = sorted((_back(first, edge) - _SLACK, _back(last, edge) + _SLACK)
                   for act in rules.examination_acts().versions for visit in act.visits
                   for edge in (visit.age, visit.due_to))
    merged: list[tuple[date, date]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _back(day: date, age: rules.Duration) -> date:
    """About ``age`` before ``day`` (the day of the month kept where it exists)."""
    months = day.year * 12 + day.month - 1 - age.months - 12 * age.years
    year, month = divmod(months, 12)
    try:
        moved = day.replace(year=year, month=month + 1)
    except ValueError:
        moved = date(year, month + 1, 28)
    return moved - timedelta(days=age.days)


EXAM_ENCOUNTERS_SQL = """
SELECT r.patient_id, r.content FROM resource r
 WHERE r.resource_type = 'Encounter' AND NOT r.deleted
   AND (r.resource_type, r.id) IN (SELECT t.resource_type, t.resource_id FROM sp_token t
                                    WHERE t.resource_type = 'Encounter' AND t.param = 'type'
                                      AND t.code = {code} AND t.patient_id = ANY({patients}))
   AND {visible}
"""


async def examinations_due(conn: AsyncConnection, gate: Gate, children: Sequence[dict[str, Any]],
                           on: date) -> list[ExaminationDue]:
    """The examinations of ``on``'s month not done yet (one query, for the children who have one)."""
    first, last = month_of(on)
    candidates = {}
    for p in children:
        facts = record.patient_from(p)
        if not isinstance(facts, str) and _near(facts.birth_date, first, last):
            candidates[str(p["id"])] = (p, facts)
    if not candidates:
        return []
    b = SqlBuilder()
    sql = EXAM_ENCOUNTERS_SQL.format(code=b.bind(record.PREVENTIVE), patients=b.bind(sorted(candidates)),
                                     visible=gate.visible(b, "Encounter", "r"))
    cur = await conn.execute(sql, b.params)
    encounters: dict[str, list[dict[str, Any]]] = {}
    for pid, content in await cur.fetchall():
        encounters.setdefault(pid, []).append(jsonutil.loads(content))
    names = {code: c.name_ru for act in rules.examination_acts().versions for code, c in act.specialists.items()}
    out = []
    for pid, (patient, facts) in candidates.items():
        found = record.examinations_from(encounters.get(pid, []), [])
        statuses = examinations.examination_statuses(facts.birth_date, facts.sex, found.records, on)
        opened = max((i.examination.due_from for i in statuses if i.examination.due_from <= on), default=None)
        for item in statuses:
            exam = item.examination
            opens_or_closes = first <= exam.due_from <= last or first <= exam.due_until <= last
            superseded = opened is not None and exam.due_from < opened  # the next one is due now: do that one
            if item.status != "done" and opens_or_closes and not superseded:
                out.append(ExaminationDue(Child.of(patient), exam.visit.label_ru, exam.visit.code, exam.due_from,
                                          exam.due_until, item.status,
                                          tuple(names.get(c, c) for c in item.missing_specialists)))
    out.sort(key=lambda e: (e.due_until, e.child.name))
    return out


# --- vaccinations -------------------------------------------------------------------------------


async def vaccinations_overdue(conn: AsyncConnection, children: Sequence[dict[str, Any]],
                               on: date) -> list[VaccinationOverdue]:
    """The children (the district's, read through the gate) with a vaccination overdue on ``on``, from the
    worklist's table (one query)."""
    by_id = {str(p["id"]): p for p in children}
    names = {d: info.name_ru for cal in rules.calendars().versions for d, info in cal.diseases.items()}
    out = [VaccinationOverdue(Child.of(by_id[pid]), tuple(dict.fromkeys(names.get(d, d) for d in diseases)), since)
           for pid, (diseases, since) in (await vaccination_due.overdue_of(conn, sorted(by_id), on)).items()]
    out.sort(key=lambda v: (v.overdue_since, v.child.name))
    return out


# --- referrals ----------------------------------------------------------------------------------

REFERRALS_SQL = """
SELECT r.id, r.content, p.content FROM resource r
  JOIN resource p ON p.resource_type = 'Patient' AND p.id = r.patient_id AND NOT p.deleted
 WHERE r.resource_type = 'ServiceRequest' AND NOT r.deleted
   AND r.id IN (SELECT i.resource_id FROM sp_reference i
                 WHERE i.resource_type = 'ServiceRequest' AND i.param = 'requester'
                   AND ((i.target_type = 'Practitioner' AND i.target_id = {me})
                        OR (i.target_type = 'PractitionerRole' AND i.target_id = ANY({roles}))))
   AND EXISTS (SELECT 1 FROM sp_token t WHERE t.resource_type = 'ServiceRequest' AND t.resource_id = r.id
                  AND t.param = 'category' AND t.code = {referral})
   AND EXISTS (SELECT 1 FROM sp_token t WHERE t.resource_type = 'ServiceRequest' AND t.resource_id = r.id
                  AND t.param = 'status' AND t.code = ANY({statuses}))
   AND NOT EXISTS (SELECT 1 FROM sp_reference e WHERE e.target_type = 'ServiceRequest' AND e.target_id = r.id
                      AND ((e.resource_type = 'Encounter' AND e.param = 'based-on')
                           OR (e.resource_type = 'DocumentReference' AND e.param = 'related')))
   AND {visible_r} AND {visible_p}
 ORDER BY r.id
"""


async def open_referrals(conn: AsyncConnection, gate: Gate, practice: Practice) -> list[OpenReferral]:
    """The practitioner's referrals no consultation has used yet, oldest first (one query)."""
    if not practice.practitioner_id:
        return []
    await gate.prepare_search()
    b = SqlBuilder()
    sql = REFERRALS_SQL.format(me=b.bind(practice.practitioner_id), roles=b.bind(list(practice.role_ids)),
                               referral=b.bind(REFERRAL), statuses=b.bind(list(OPEN_REFERRAL)),
                               visible_r=gate.visible(b, "ServiceRequest", "r"),
                               visible_p=gate.visible(b, "Patient", "p"))
    cur = await conn.execute(sql, b.params)
    out = []
    for rid, content, patient in await cur.fetchall():
        request = jsonutil.loads(content)
        reasons = [inbox_.concept_text(c) for c in request.get("reasonCode", ())]
        authored, planned = request.get("authoredOn"), request.get("occurrenceDateTime")
        out.append(OpenReferral(Child.of(jsonutil.loads(patient)), str(rid), inbox_.concept_text(request.get("code")),
                                "; ".join(r for r in reasons if r),
                                authored if isinstance(authored, str) else None,
                                planned if isinstance(planned, str) else None))
    out.sort(key=lambda r: (r.authored or "", r.child.name))
    return out


# --- the day ------------------------------------------------------------------------------------


async def my_day(conn: AsyncConnection, gate: Gate, practice: Practice, on: date) -> Day:
    """Everything «Мой день» lists for the practitioner on ``on``, audited."""
    children = await district_children(conn, gate, practice, on)
    exams = await examinations_due(conn, gate, children, on)
    vaccinations = await vaccinations_overdue(conn, children, on)
    results = await inbox_.inbox(conn, gate, practice, query="workspace: my day, results not seen")
    referrals = await open_referrals(conn, gate, practice)
    gate.saw("search", "Encounter", "workspace: my day, examinations this month", [e.child.id for e in exams])
    gate.saw("search", "Immunization", "workspace: my day, overdue vaccinations", [v.child.id for v in vaccinations])
    gate.saw("search", "ServiceRequest", "workspace: my day, referrals without a consultation",
             [r.child.id for r in referrals])
    return Day(on, practice, len(children), tuple(exams), tuple(vaccinations), results, tuple(referrals))
