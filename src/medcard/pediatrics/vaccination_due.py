"""Overdue vaccinations of every child as a derived table, so a clinic's worklist is one indexed query.

The forecast of one child costs ~0.4 ms in Python, too much to run for 30,000 children per
request. So each child's forecast is stored as *dates*, not statuses: for every disease, the
periods during which its next dose is overdue if nothing more is recorded (``overdue_during``,
a ``daterange``), with the dose number and its due and overdue dates. "Overdue on D" is then
``overdue_during @> D`` for any date D, past or future, and no nightly job is needed: a status
changes with the calendar only at dates the periods already hold.

The periods are found by walking the child's life from birth to 18: the forecast can change only
on a finite set of days (an event, the end of an exemption, a dose's due and overdue dates, a
yearly dose rolling over, a catch-up age limit, the start or end of a calendar version), so it
is computed once per such day and is constant in between.

Rows are keyed by the child's *holder* (``Organization/x`` from ``managingOrganization``,
``PractitionerRole/y`` or ``Practitioner/z`` from ``generalPractitioner``): one row per holder
and period, so a worklist is one GiST range scan on ``(holder_key, overdue_during)``, where
``holder_key`` is a 64-bit hash of the holder that PostgreSQL generates (migration 0008: half
the index's cost of a text key). The table is
refreshed for a patient in the same transaction as any write of that patient's Patient,
Immunization or Flag (``medcard.fhir.derived``), under a per-patient advisory lock so that two
concurrent writers cannot each store a forecast missing the other's dose.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from psycopg import AsyncConnection

from medcard.core import copytext, jsonutil
from medcard.fhir.derived import Derived
from medcard.pediatrics import record, rules
from medcard.pediatrics.immunization import Child, DiseaseForecaster, ImmunizationEvent
from medcard.pediatrics.rules import Calendar, CalendarItem, Duration, Versions

WATCHED = frozenset({"Patient", "Immunization", "Flag"})
_ADULTHOOD = Duration(years=18)  # children's clinics: the periods end on the 18th birthday
_DAY = timedelta(days=1)
_LOCK_CLASS = 60_006  # the first key of this table's advisory locks (pg_advisory_xact_lock(int, int))


@dataclass(frozen=True)
class DuePeriod:
    """A dose that is overdue from ``start`` until the day before ``end``, with nothing more recorded."""

    disease: str
    dose_number: int | None
    earliest: date
    due: date
    overdue: date
    start: date
    end: date


# --- Periods (pure) -----------------------------------------------------------------------------


def _fixed_days(child: Child, events: Sequence[ImmunizationEvent], disease: str,
                calendars: Versions[Calendar]) -> set[date]:
    """Days the forecast of a disease may change whatever the dose dates: events, exemption ends,
    catch-up age limits, calendar versions."""
    days = {e.occurred for e in events}
    days |= {e.exemption_until + _DAY for e in events if e.exemption_until is not None}
    for cal in calendars.versions:
        days.add(cal.meta.effective_from)
        if cal.meta.in_force_until is not None:
            days.add(cal.meta.in_force_until + _DAY)
        days |= {r.max_age.after(child.birth_date) for r in cal.catch_up
                 if disease in r.diseases and r.max_age is not None}
    return days


def _next_roll(forecaster: DiseaseForecaster, item: CalendarItem, last: date | None, day: date,
               default: Duration) -> date | None:
    """When a yearly dose's due date rolls over to the next period (mirrors the calendar's interval rule)."""
    every = item.recurring_every
    if every is None:
        return None
    due = forecaster.by_age(item)[1]
    if last is not None:
        due = max(due, (item.interval or item.min_interval or default).after(last))
    dates = forecaster.rolls(every, due, day)
    return dates[bisect_right(dates, day)]


def _disease_periods(child: Child, events: Sequence[ImmunizationEvent], disease: str, until: date,
                     calendars: Versions[Calendar]) -> list[DuePeriod]:
    fixed = sorted(_fixed_days(child, events, disease, calendars))
    default = calendars.versions[0].default_min_interval
    forecaster = DiseaseForecaster(child, disease, calendars)
    out: list[DuePeriod] = []
    day = child.birth_date
    while day < until:
        f = forecaster.on(events, day)
        candidates = [d for d in fixed if d > day][:1]
        if f.dates is not None:
            candidates += [f.dates.due, f.dates.overdue]
        if f.item is not None:
            last = max((e.occurred for e in events if e.status == "completed" and e.occurred <= day), default=None)
            roll = _next_roll(forecaster, f.item, last, day, default)
            candidates += [roll] if roll is not None else []
        following = min([d for d in candidates if d > day] + [until])
        if f.status == "overdue" and f.dates is not None:
            previous = out[-1] if out else None
            if previous is not None and previous.end == day and (previous.dose_number, previous.due,
                                                                 previous.overdue) == (f.dose_number, f.dates.due,
                                                                                       f.dates.overdue):
                out[-1] = DuePeriod(disease, f.dose_number, previous.earliest, previous.due, previous.overdue,
                                    previous.start, following)
            else:
                out.append(DuePeriod(disease, f.dose_number, f.dates.earliest, f.dates.due, f.dates.overdue,
                                     day, following))
        day = following
    return out


def overdue_periods(child: Child, events: Iterable[ImmunizationEvent],
                    calendars: Versions[Calendar] | None = None) -> list[DuePeriod]:
    """Every period of the child's life to 18 in which some vaccination is overdue, disease by disease."""
    events = tuple(events)
    if not events and calendars is None:
        return list(_periods_without_events(child))
    calendars = calendars or rules.calendars()
    until = _ADULTHOOD.after(child.birth_date)
    diseases = {d: None for cal in calendars.versions for d in cal.diseases}
    return [period for disease in diseases
            for period in _disease_periods(child, [e for e in events if disease in e.diseases], disease, until,
                                           calendars)]


@lru_cache(maxsize=65_536)
def _periods_without_events(child: Child) -> tuple[DuePeriod, ...]:
    """Most newly registered children have no vaccination yet: their periods depend only on birth, sex, groups."""
    return tuple(overdue_periods(child, (), rules.calendars()))


# --- From the record ----------------------------------------------------------------------------


def holders(patient: dict[str, Any]) -> list[str]:
    """Who the child is attached to: the clinic, then the district pediatrician(s), as ``Type/id``."""
    found = []
    org = record.local_id(patient.get("managingOrganization"), "Organization")
    if org:
        found.append(f"Organization/{org}")
    for ref in patient.get("generalPractitioner", ()):
        for rtype in ("PractitionerRole", "Practitioner", "Organization"):
            rid = record.local_id(ref, rtype)
            if rid:
                found.append(f"{rtype}/{rid}")
    return list(dict.fromkeys(found))


Row = tuple[str, str, str | None, str, int | None, date, date, date, str]


def _child_periods(patient: dict[str, Any], immunizations: Iterable[dict[str, Any]],
                   flags: Iterable[dict[str, Any]]) -> tuple[str, list[str], str | None, list[DuePeriod]]:
    """The child's id, holders, clinic and overdue periods (no periods without a birth date or a holder)."""
    pid = str(patient["id"])
    facts = record.patient_from(patient)
    owners = holders(patient)
    if isinstance(facts, str) or not owners:
        return pid, owners, None, []
    found = record.immunizations_from(immunizations, flags)
    periods = overdue_periods(record.child_from(facts, found), found.events)
    org = next((h.split("/", 1)[1] for h in owners if h.startswith("Organization/")), None)
    return pid, owners, org, periods


def rows_for(patient: dict[str, Any], immunizations: Iterable[dict[str, Any]],
             flags: Iterable[dict[str, Any]]) -> list[Row]:
    """The table's rows for one child (none when the child has no birth date or no holder)."""
    pid, owners, org, periods = _child_periods(patient, immunizations, flags)
    return [(pid, holder, org, p.disease, p.dose_number, p.earliest, p.due, p.overdue, f"[{p.start},{p.end})")
            for holder in owners for p in periods]


# --- The table ----------------------------------------------------------------------------------

_READ = """SELECT r.resource_type, r.patient_id, r.content FROM resource r
            WHERE r.patient_id = ANY(%s) AND r.resource_type = ANY(%s) AND NOT r.deleted"""
_COLUMNS = "patient_id, holder, organization_id, disease, dose_number, earliest, due, overdue, overdue_during"


Record = tuple[str, list[str], list[str]]  # one child's Patient, Immunization and Flag JSON
_PART = 50  # children per task of a worker process


def copy_text(records: Sequence[Record]) -> str:
    """The rows of several children, from their resources' JSON, in COPY text form (module level, so that
    a worker process can run it and hand back one string)."""
    lines: list[str] = []
    for patient, immunizations, flags in records:
        pid, owners, org, periods = _child_periods(jsonutil.loads(patient), map(jsonutil.loads, immunizations),
                                                   map(jsonutil.loads, flags))
        if not periods:
            continue
        # a period's columns are the same for each holder: encoded once
        tails = copytext.rows("", [(p.disease, p.dose_number, p.earliest, p.due, p.overdue, f"[{p.start},{p.end})")
                                   for p in periods])
        heads = [copytext.rows("", [(pid, holder, org)])[:-1] + "\t" for holder in owners]
        lines += [head + tail + "\n" for head in heads for tail in tails.split("\n")[:-1]]
    return "".join(lines)


async def refresh(conn: AsyncConnection, patient_ids: Collection[str], executor: Executor | None = None) -> None:
    """Recompute the rows of these patients from their current record, in the caller's transaction.

    The forecasts are the costly part (1-5 ms a child): a bulk import passes its pool of worker
    processes as ``executor`` to compute them there while other chunks are read and written.
    """
    ids = sorted(set(patient_ids))
    if not ids:
        return
    # Serialise refreshes of one patient; then read in a new statement, which sees writes committed meanwhile.
    # Locks in the order of their keys (two ids may share a hash): transactions refreshing at once cannot deadlock.
    await conn.execute("SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT hashtext(p) AS k "
                       "FROM unnest(%s::text[]) AS p) AS keys ORDER BY k", (_LOCK_CLASS, ids))
    cur = await conn.execute(_READ, (ids, sorted(WATCHED)))
    by_patient: dict[str, dict[str, list[str]]] = {}
    for rtype, pid, content in await cur.fetchall():
        by_patient.setdefault(pid, {}).setdefault(rtype, []).append(content)
    records = [(patient, parts.get("Immunization", []), parts.get("Flag", []))
               for parts in by_patient.values() for patient in parts.get("Patient", ())]
    if executor is None:
        text = copy_text(records)
    else:  # in parts, so that every worker of the pool takes some
        loop = asyncio.get_running_loop()
        parts = [records[start:start + _PART] for start in range(0, len(records), _PART)]
        text = "".join(await asyncio.gather(*(loop.run_in_executor(executor, copy_text, part) for part in parts)))
    async with conn.cursor() as c:
        await c.execute("DELETE FROM vaccination_due WHERE patient_id = ANY(%s)", (ids,))
        if text:
            async with c.copy(f"COPY vaccination_due ({_COLUMNS}) FROM STDIN") as copy:
                await copy.write(text)


async def rebuild(conn: AsyncConnection, patient_ids: Collection[str] | None = None, *, chunk: int = 1000,
                  executor: Executor | None = None) -> int:
    """Recompute the rows of these patients, or of every patient (repair, backfill); returns how many.

    On an autocommit connection each chunk is a transaction of its own, so the per-patient locks
    of :func:`refresh` are released chunk by chunk (a city does not fit in one transaction's lock
    table); inside the caller's transaction everything commits together. ``executor``: worker
    processes to compute the rows in.
    """
    async def one(ids: list[str]) -> None:
        if conn.autocommit:
            async with conn.transaction():
                await refresh(conn, ids, executor)
        else:
            await refresh(conn, ids, executor)

    if patient_ids is not None:
        ids = sorted(set(patient_ids))
        for start in range(0, len(ids), chunk):
            await one(ids[start:start + chunk])
        return len(ids)
    done, after = 0, ""
    while True:
        cur = await conn.execute("SELECT id FROM resource WHERE resource_type = 'Patient' AND id > %s "
                                 "ORDER BY id LIMIT %s", (after, chunk))
        ids = [r[0] for r in await cur.fetchall()]
        if not ids:
            return done
        await one(ids)
        done, after = done + len(ids), ids[-1]


DERIVED = Derived("vaccination_due", WATCHED, refresh, lambda conn, executor: rebuild(conn, executor=executor))


# --- The worklist -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overdue:
    disease: str
    dose_number: int | None
    earliest: date
    due: date
    overdue: date


@dataclass(frozen=True)
class WorklistChild:
    patient_id: str
    content: str  # the Patient's JSON
    overdue: tuple[Overdue, ...]


WORKLIST_SQL = """
WITH hits AS (
    SELECT v.patient_id, v.disease, v.dose_number, v.earliest, v.due, v.overdue FROM vaccination_due v
     WHERE v.holder_key = hashtextextended(%(holder)s, 0) AND v.holder = %(holder)s
       AND v.overdue_during @> %(on)s::date
       AND (%(org)s::text IS NULL OR v.organization_id = %(org)s)
       AND (%(diseases)s::text[] IS NULL OR v.disease = ANY(%(diseases)s))),
page AS (
    SELECT DISTINCT patient_id FROM hits WHERE patient_id > %(after)s ORDER BY patient_id LIMIT %(count)s)
SELECT c.total, x.* FROM (SELECT count(DISTINCT patient_id) AS total FROM hits) c
  LEFT JOIN LATERAL (
       SELECT h.patient_id, r.content, h.disease, h.dose_number, h.earliest, h.due, h.overdue
         FROM page p JOIN hits h ON h.patient_id = p.patient_id
         JOIN resource r ON r.resource_type = 'Patient' AND r.id = p.patient_id) x ON true
 ORDER BY x.patient_id, x.overdue, x.disease
"""


async def worklist(conn: AsyncConnection, holder: str, on: date, *, organization: str | None = None,
                   diseases: Sequence[str] | None = None, after: str = "",
                   count: int = 100) -> tuple[int, list[WorklistChild]]:
    """Children of ``holder`` (``Organization/x``, ``PractitionerRole/y``) with a vaccination overdue on ``on``:
    how many in all, and one page of them in patient-id order after ``after``; one statement."""
    cur = await conn.execute(WORKLIST_SQL, {"holder": holder, "on": on, "org": organization,
                                            "diseases": list(diseases) if diseases else None, "after": after,
                                            "count": count})
    total = 0
    children: dict[str, list[Overdue]] = {}
    contents: dict[str, str] = {}
    for n, pid, content, disease, dose, earliest, due, overdue in await cur.fetchall():
        total = int(n)
        if pid is not None:
            contents[pid] = content
            children.setdefault(pid, []).append(Overdue(disease, dose, earliest, due, overdue))
    return total, [WorklistChild(pid, contents[pid], tuple(items)) for pid, items in children.items()]
