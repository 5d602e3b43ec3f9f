"""Overdue vaccinations of every child as a derived table, so a clinic's worklist is one indexed query.

The forecast of one child costs ~0.4 ms in Python, too much to run for 30,000 children per
request. So each child's forecast is stored as *dates*, not statuses: for every disease, the
periods during which its next dose is overdue if nothing more is recorded, with the dose number
and its earliest, due and overdue dates. "Overdue on D" is then ``overdue_during @> D`` for any
date D, past or future, and no nightly job is needed: a status changes with the calendar only at
dates the periods already hold.

The periods are found by walking the child's life from birth to 18: the forecast can change only
on a finite set of days (an event, the end of an exemption, a dose's due and overdue dates, a
yearly dose rolling over, a catch-up age limit, the start or end of a calendar version), so it
is computed once per such day and is constant in between.

One row per child and disease (migration 0013): all the disease's periods in one
``datemultirange`` (``overdue_during``), their details in arrays ordered by start
(``periods``: start, earliest, due, overdue; ``dose_numbers``), and the child's *holders*
(``Organization/x`` from ``managingOrganization``, ``PractitionerRole/y`` or ``Practitioner/z``
from ``generalPractitioner``) as ids of ``vaccination_due_holder`` in one ``integer[]``. A
worklist is one GiST scan on ``(holders, overdue_during)``. A child with no vaccination has 28
periods to 18 (17 of them the yearly influenza dose), which took 56 rows (one per period and
holder) before and take 12 now (one per disease), about a quarter of the bytes; the index on a
multirange keeps its bounding range, so a disease with several periods is rechecked on the row
(influenza: about two rows read for one listed).

The table is refreshed for a patient in the same transaction as any write of that patient's
Patient, Immunization or Flag (``medcard.fhir.derived``, installed by ``medcard.domains``), under
a per-patient advisory lock so that two concurrent writers cannot each store a forecast missing
the other's dose.
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
    catch-up ages, calendar versions and the days their rows change."""
    days = {e.occurred for e in events}
    days |= {e.exemption_until + _DAY for e in events if e.exemption_until is not None}
    birth = child.birth_date
    first = min((e.occurred for e in events if e.status == "completed"), default=None)
    for cal in calendars.versions:
        days.add(cal.meta.effective_from)
        if cal.meta.in_force_until is not None:
            days.add(cal.meta.in_force_until + _DAY)
        days |= set(cal.row_changes(disease))
        for rule in (r for r in cal.catch_up if disease in r.diseases):
            if rule.max_age is not None:
                days.add(rule.max_age.after(birth))
            # with no dose yet, the series (or no dose at all) is chosen by the age the first dose would be
            # given at; once the first dose is given, by its day
            for age in (rule.first_dose_age_from, rule.first_dose_age_to):
                if age is not None and (first is None or age.after(birth) <= first):
                    days.add(age.after(birth))
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


@dataclass(frozen=True)
class ChildPeriods:
    """One child's id, holders and overdue periods (none without a birth date or a holder)."""

    patient_id: str
    holders: tuple[str, ...]
    periods: tuple[DuePeriod, ...]


def child_periods(patient: dict[str, Any], immunizations: Iterable[dict[str, Any]],
                  flags: Iterable[dict[str, Any]]) -> ChildPeriods:
    """What the table keeps of one child, from its Patient, Immunization and Flag resources."""
    pid = str(patient["id"])
    facts = record.patient_from(patient)
    owners = tuple(holders(patient))
    if isinstance(facts, str) or not owners:
        return ChildPeriods(pid, owners, ())
    found = record.immunizations_from(immunizations, flags)
    return ChildPeriods(pid, owners, tuple(overdue_periods(record.child_from(facts, found), found.events)))


Row = tuple[str, str, str, str, str]  # patient_id, disease, overdue_during, periods, dose_numbers (COPY text)


def rows_for(child: ChildPeriods) -> list[Row]:
    """The table's rows for one child but its holders: one per disease with an overdue period."""
    by_disease: dict[str, list[DuePeriod]] = {}
    for p in child.periods:
        by_disease.setdefault(p.disease, []).append(p)
    pid = copytext.text(child.patient_id)
    rows = []
    for disease, periods in by_disease.items():
        periods.sort(key=lambda p: p.start)
        # adjacent periods merge in the multirange; their details stay apart, found by start
        ranges = ",".join(f"[{p.start},{p.end})" for p in periods)
        details = ",".join(f"{{{p.start},{p.earliest},{p.due},{p.overdue}}}" for p in periods)
        doses = ",".join("NULL" if p.dose_number is None else str(p.dose_number) for p in periods)
        rows.append((pid, copytext.text(disease), f"{{{ranges}}}", f"{{{details}}}", f"{{{doses}}}"))
    return rows


# --- The table ----------------------------------------------------------------------------------

_READ = """SELECT r.resource_type, r.patient_id, r.content FROM resource r
            WHERE r.patient_id = ANY(%s) AND r.resource_type = ANY(%s) AND NOT r.deleted"""
_COLUMNS = "holders, patient_id, disease, overdue_during, periods, dose_numbers"
# The patients' old rows go, and the ids of their holders come back, in one round trip.
_DELETE_AND_HOLDERS = """WITH gone AS (DELETE FROM vaccination_due WHERE patient_id = ANY(%s))
SELECT holder, id FROM vaccination_due_holder WHERE holder = ANY(%s)"""
_NEW_HOLDERS = """INSERT INTO vaccination_due_holder (holder) SELECT h FROM unnest(%s::text[]) AS h ORDER BY h
ON CONFLICT (holder) DO NOTHING RETURNING holder, id"""
_HOLDERS = "SELECT holder, id FROM vaccination_due_holder WHERE holder = ANY(%s)"


Record = tuple[str, list[str], list[str]]  # one child's Patient, Immunization and Flag JSON
Encoded = tuple[tuple[str, ...], str]  # one child's holders, and its rows in COPY text without the holders column
_PART = 50  # children per task of a worker process


def encode(records: Sequence[Record]) -> list[Encoded]:
    """The rows of several children, from their resources' JSON (module level, so that a worker process
    can run it and hand back strings; the holders' ids are the writer's to find)."""
    out: list[Encoded] = []
    for patient, immunizations, flags in records:
        child = child_periods(jsonutil.loads(patient), map(jsonutil.loads, immunizations), map(jsonutil.loads, flags))
        if child.periods:
            out.append((child.holders, "".join("\t".join(row) + "\n" for row in rows_for(child))))
    return out


async def _holder_ids(conn: AsyncConnection, patient_ids: list[str], names: set[str]) -> dict[str, int]:
    """Delete the patients' rows and find (or add) the ids of these holders."""
    wanted = sorted(names)
    cur = await conn.execute(_DELETE_AND_HOLDERS, (patient_ids, wanted))
    ids: dict[str, int] = dict(await cur.fetchall())
    if len(ids) < len(wanted):
        cur = await conn.execute(_NEW_HOLDERS, ([n for n in wanted if n not in ids],))
        ids.update(await cur.fetchall())
    if len(ids) < len(wanted):  # added meanwhile by a transaction that has committed since: visible now
        cur = await conn.execute(_HOLDERS, ([n for n in wanted if n not in ids],))
        ids.update(await cur.fetchall())
    return ids


async def _encode(records: list[Record], executor: Executor | None) -> list[Encoded]:
    if executor is None:
        return encode(records)
    # in parts, so that every worker of the pool takes some
    loop = asyncio.get_running_loop()
    parts = [records[start:start + _PART] for start in range(0, len(records), _PART)]
    return [e for part in await asyncio.gather(*(loop.run_in_executor(executor, encode, part) for part in parts))
            for e in part]


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
    encoded = await _encode(records, executor)
    holder_ids = await _holder_ids(conn, ids, {h for owners, _ in encoded for h in owners})
    lines = []
    for owners, text in encoded:
        head = "{" + ",".join(map(str, sorted(holder_ids[h] for h in owners))) + "}\t"
        lines += [head + line + "\n" for line in text.split("\n")[:-1]]
    if lines:
        async with conn.cursor() as c, c.copy(f"COPY vaccination_due ({_COLUMNS}) FROM STDIN") as copy:
            await copy.write("".join(lines))


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


# The holders asked for as ids (one unknown: {0}, which no row holds). The page's children's rows are
# read again by patient, with the same date and diseases, for their details (the period in force on the
# date is the last to start by then): joining them back to ``hits`` instead, the planner (which cannot
# tell how many rows an ``integer[]`` containment matches) chose a loop over every hit for each child.
WORKLIST_SQL = """
WITH hits AS (
    SELECT v.patient_id FROM vaccination_due v
     WHERE v.holders @> (SELECT CASE WHEN count(*) = cardinality(%(holders)s::text[]) THEN array_agg(h.id)
                                     ELSE '{0}' END
                           FROM vaccination_due_holder h WHERE h.holder = ANY(%(holders)s::text[]))
       AND v.overdue_during @> %(on)s::date
       AND (%(diseases)s::text[] IS NULL OR v.disease = ANY(%(diseases)s))),
page AS (
    SELECT DISTINCT patient_id FROM hits WHERE patient_id > %(after)s ORDER BY patient_id LIMIT %(count)s)
SELECT c.total, x.* FROM (SELECT count(DISTINCT patient_id) AS total FROM hits) c
  LEFT JOIN LATERAL (
       SELECT v.patient_id, r.content, v.disease, v.dose_numbers[k.i] AS dose_number,
              v.periods[k.i][2] AS earliest, v.periods[k.i][3] AS due, v.periods[k.i][4] AS overdue
         FROM page p
         JOIN resource r ON r.resource_type = 'Patient' AND r.id = p.patient_id
         JOIN vaccination_due v ON v.patient_id = p.patient_id AND v.overdue_during @> %(on)s::date
                               AND (%(diseases)s::text[] IS NULL OR v.disease = ANY(%(diseases)s))
         CROSS JOIN LATERAL (SELECT max(s.i) AS i FROM generate_subscripts(v.periods, 1) AS s(i)
                              WHERE v.periods[s.i][1] <= %(on)s::date) AS k) x ON true
 ORDER BY x.patient_id, x.overdue, x.disease
"""


async def worklist(conn: AsyncConnection, holder: str, on: date, *, organization: str | None = None,
                   diseases: Sequence[str] | None = None, after: str = "",
                   count: int = 100) -> tuple[int, list[WorklistChild]]:
    """Children of ``holder`` (``Organization/x``, ``PractitionerRole/y``) with a vaccination overdue on ``on``:
    how many in all, and one page of them in patient-id order after ``after``; one statement.

    ``organization``: only children also attached to ``Organization/<organization>`` (a district of a clinic).
    """
    wanted = list(dict.fromkeys([holder, *([f"Organization/{organization}"] if organization else [])]))
    cur = await conn.execute(WORKLIST_SQL, {"holders": wanted, "on": on,
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


# What is overdue on a date for some children: the diseases, in the order their overdue dates came, and the
# earliest of those dates (the period in force on the date is the last to start by then).
OVERDUE_OF_SQL = """
SELECT o.patient_id, array_agg(o.disease ORDER BY o.overdue, o.disease), min(o.overdue)
  FROM (SELECT v.patient_id, v.disease, v.periods[k.i][4] AS overdue
          FROM vaccination_due v
         CROSS JOIN LATERAL (SELECT max(s.i) AS i FROM generate_subscripts(v.periods, 1) AS s(i)
                              WHERE v.periods[s.i][1] <= %(on)s::date) AS k
         WHERE v.patient_id = ANY(%(patients)s) AND v.overdue_during @> %(on)s::date) AS o
 GROUP BY o.patient_id
"""


async def overdue_of(conn: AsyncConnection, patient_ids: Sequence[str], on: date) -> dict[str, tuple[list[str], date]]:
    """For each of these children with a vaccination overdue on ``on``: the diseases (SNOMED CT codes, the
    longest overdue first) and the earliest overdue date. One statement through the table's patient index,
    for children already chosen (a district's, as the access policy shows it)."""
    if not patient_ids:
        return {}
    cur = await conn.execute(OVERDUE_OF_SQL, {"patients": list(patient_ids), "on": on})
    return {pid: (list(diseases), since) for pid, diseases, since in await cur.fetchall()}
