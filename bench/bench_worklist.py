"""Benchmark: the vaccination worklist of a clinic of 30,000 children.

Runs on a real PostgreSQL (embedded, in a temporary directory, or MEDCARD_BENCH_DATABASE_URL, which
it empties). A clinic with 30 districts and 30,000 children aged 0-17, each with a vaccination
history (mostly on time, some late, some missing doses, a few refusals), and ``--demographic`` more
with none recorded, is written by the bulk importer, which keeps the derived table
``vaccination_due`` in the same transactions. The baseline layout, the table as it was before
migration 0013 (one row per period and holder, ``worklist_by_period.py``), is then built beside it
from the same records. Then, the two layouts side by side, alternating round by round:

0. the table's rows and bytes a child;
1. the worklist (children with a vaccination overdue on a date, one page of 100 and the total), one
   indexed query, for the clinic, the clinic without influenza, a district and a district within
   the clinic, today and in a month, with a check that both answer the same;
2. the baseline of the first version: the same answer computed the direct way, reading every
   child's Patient and Immunizations in one query and running the forecast in Python per child;
3. what keeping the table costs: a write's refresh of one child, a full rebuild, the import itself.

Prints figures and ratios; asserts nothing.

    python bench/bench_worklist.py [--children 30000] [--demographic 0] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import worklist_by_period as by_period
from medcard import domains
from medcard.core import migrate
from medcard.core.db import Database
from medcard.core.embedded import embedded_database
from medcard.fhir.bulk.importer import Importer
from medcard.pediatrics import immunization, record, vaccination_due

TODAY = date(2026, 11, 26)
SNOMED = "http://snomed.info/sct"
HEPB, TB, PNEUMO, POLIO, HIB, FLU = "66071002", "56717001", "16814004", "398102009", "709410003", "6142004"
DTP, DT, MMR = ("397430003", "27836007", "76902006"), ("397430003", "76902006"), ("14189004", "36989005", "36653000")
# Age in days and diseases of each dose, as the calendar schedules them (bench data only).
SCHEDULE = ((0, (HEPB,)), (4, (TB,)), (30, (HEPB,)), (61, (PNEUMO,)), (91, (*DTP, POLIO, HIB)),
            (137, (*DTP, POLIO, HIB, PNEUMO)), (183, (*DTP, POLIO, HIB, HEPB)), (365, MMR), (456, (PNEUMO,)),
            (548, (*DTP, POLIO, HIB)), (609, (POLIO,)), (2192, (*MMR, POLIO)), (2200, (*DT, TB)), (5114, DT))


@contextmanager
def database() -> Iterator[str]:
    external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
    if external:
        migrate.upgrade(external)
        with psycopg.connect(external, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                                 "AND tablename <> 'alembic_version'")]
            conn.execute(f"TRUNCATE {', '.join(tables)}")
        yield external
        return
    with tempfile.TemporaryDirectory() as home, embedded_database(Path(home)) as url:
        migrate.upgrade(url)
        yield url


def immunization_resource(pid: str, day: date, diseases: tuple[str, ...], rng: random.Random) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Immunization", "id": str(uuid.UUID(int=rng.getrandbits(128))), "status": "completed",
        "patient": {"reference": f"Patient/{pid}"}, "vaccineCode": {"text": "Вакцина"},
        "occurrenceDateTime": day.isoformat(),
        "protocolApplied": [{"targetDisease": [{"coding": [{"system": SNOMED, "code": d}]} for d in diseases],
                             "doseNumberString": "по календарю"}]}
    if rng.random() < 0.01:  # a refusal instead of the dose
        res["status"] = "not-done"
        res["statusReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                           "code": "PATOBJ"}]}
    return res


def write_city(folder: Path, children: int, demographic: int = 0, seed: int = 6) -> str:
    """Organization, PractitionerRoles, Patients, Immunizations as NDJSON (``demographic`` more children
    with no vaccination recorded, as a registry's import brings them); returns the clinic's id."""
    rng = random.Random(seed)
    org = "clinic-1"
    roles = [f"district-{n}" for n in range(1, 31)]
    with (folder / "1-Organization.ndjson").open("wb") as f:
        f.write(orjson.dumps({"resourceType": "Organization", "id": org, "name": "ДГП № 1"}) + b"\n")
    with (folder / "2-PractitionerRole.ndjson").open("wb") as f:
        for role in roles:
            f.write(orjson.dumps({"resourceType": "PractitionerRole", "id": role,
                                  "organization": {"reference": f"Organization/{org}"}}) + b"\n")
    with (folder / "3-Patient.ndjson").open("wb") as patients, (folder / "4-Immunization.ndjson").open("wb") as imms:
        for i in range(children):
            pid = f"child-{i:06d}"
            birth = TODAY - timedelta(days=rng.randrange(18 * 365))
            patients.write(orjson.dumps({
                "resourceType": "Patient", "id": pid, "gender": rng.choice(("male", "female")),
                "birthDate": birth.isoformat(), "name": [{"family": "Иванов", "given": ["Пётр"]}],
                "managingOrganization": {"reference": f"Organization/{org}"},
                "generalPractitioner": [{"reference": f"PractitionerRole/{rng.choice(roles)}"}]}) + b"\n")
            lateness = rng.choice((0, 0, 0, 5, 20, 60))
            for age, diseases in SCHEDULE:
                day = birth + timedelta(days=age + rng.randrange(lateness + 1))
                if day >= TODAY or rng.random() < 0.03:  # not yet, or a missed dose
                    continue
                imms.write(orjson.dumps(immunization_resource(pid, day, diseases, rng)) + b"\n")
            for year in range(1, 18):  # influenza some autumns
                day = birth.replace(month=10, day=1) + timedelta(days=365 * year) if birth.month < 10 else None
                if day is not None and day < TODAY and rng.random() < 0.3:
                    imms.write(orjson.dumps(immunization_resource(pid, day, (FLU,), rng)) + b"\n")
        for i in range(demographic):
            patients.write(orjson.dumps({
                "resourceType": "Patient", "id": f"registered-{i:06d}", "gender": rng.choice(("male", "female")),
                "birthDate": (TODAY - timedelta(days=rng.randrange(18 * 365))).isoformat(),
                "managingOrganization": {"reference": f"Organization/{org}"},
                "generalPractitioner": [{"reference": f"PractitionerRole/{rng.choice(roles)}"}]}) + b"\n")
    return org


async def timed(fn: Callable[[], Awaitable[Any]], rounds: int) -> tuple[float, Any]:
    """Median seconds of ``rounds`` calls, and the last result."""
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


BASELINE_SQL = """
SELECT r.resource_type, r.patient_id, r.content FROM sp_reference s
  JOIN resource r ON r.patient_id = s.resource_id AND r.resource_type IN ('Patient', 'Immunization', 'Flag')
 WHERE s.resource_type = 'Patient' AND s.param = 'organization' AND s.target_type = 'Organization'
   AND s.target_id = %s AND NOT r.deleted
"""


async def baseline(db: Database, org: str, on: date) -> int:
    """The direct way: every child's record read in one query, the forecast run per child in Python."""
    async with db.connection() as conn:
        cur = await conn.execute(BASELINE_SQL, (org,))
        rows = await cur.fetchall()
    parts: dict[str, dict[str, list[Any]]] = {}
    for rtype, pid, content in rows:
        parts.setdefault(pid, {}).setdefault(rtype, []).append(orjson.loads(content))
    overdue = 0
    for p in parts.values():
        facts = record.patient_from(p["Patient"][0])
        if isinstance(facts, str):
            continue
        found = record.immunizations_from(p.get("Immunization", ()), p.get("Flag", ()))
        forecasts = immunization.forecast(record.child_from(facts, found), found.events, on)
        overdue += any(f.status == "overdue" for f in forecasts)
    return overdue


async def run(url: str, children: int, demographic: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        org = write_city(folder, children, demographic)
        files = [folder / f"{n}-{t}.ndjson" for n, t in enumerate(("Organization", "PractitionerRole", "Patient",
                                                                   "Immunization"), 1)]
        db = Database(url, min_size=1, max_size=4)
        await db.open()
        try:
            start = time.perf_counter()
            report = await Importer(db, jobs=max(1, min(4, (os.cpu_count() or 2) - 1))).run(files)
            seconds = time.perf_counter() - start
            print(f"import: {report.summary()}")
            async with db.connection() as conn:  # autocommit: a transaction per chunk of children
                await conn.execute(by_period.CREATE)
                legacy_start = time.perf_counter()
                await by_period.rebuild(conn)
                legacy_fill = time.perf_counter() - legacy_start
                await conn.execute(f"ANALYZE vaccination_due; ANALYZE {by_period.TABLE}")
            await report_sizes(db, children + demographic)
            await report_worklist(db, org, children + demographic, rounds)
            await report_writes(db, children + demographic, legacy_fill)
            print(f"  the import that kept the table (all resources) {seconds:8.2f} s")
        finally:
            await db.close()


async def report_sizes(db: Database, children: int) -> None:
    """Rows and bytes (table, indexes, TOAST) of the table in both layouts, per child."""
    print("0. the table's size")
    sizes = {}
    async with db.connection() as conn:
        for label, table, extra in (("by period and holder (before 0013)", by_period.TABLE, None),
                                    ("by child and disease (now)", "vaccination_due", "vaccination_due_holder")):
            cur = await conn.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
            rows, size = await cur.fetchone() or (0, 0)
            if extra:
                cur = await conn.execute(f"SELECT pg_total_relation_size('{extra}')")
                size += (await cur.fetchone() or (0,))[0]
            sizes[label] = size
            print(f"  {label:36s} {rows:9d} rows ({rows / children:5.1f} a child)   {size / 2**20:8.1f} MiB   "
                  f"{size / children:7.0f} bytes a child")
    before, now = sizes.values()
    print(f"  now / before: {now / before:.3f}")


async def ab(first: Callable[[], Awaitable[Any]], second: Callable[[], Awaitable[Any]],
             rounds: int) -> tuple[float, float, Any, Any]:
    """Median seconds of each of two calls, alternated round by round (the same minutes for both)."""
    a, b, ra, rb = [], [], None, None
    for _ in range(rounds):
        start = time.perf_counter()
        ra = await first()
        a.append(time.perf_counter() - start)
        start = time.perf_counter()
        rb = await second()
        b.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b), ra, rb


def _flat(total: int, children: list[vaccination_due.WorklistChild]) -> list[tuple[Any, ...]]:
    """The current worklist's answer as the old query's rows, to compare the two."""
    return [(total, c.patient_id, c.content, o.disease, o.dose_number, o.earliest, o.due, o.overdue)
            for c in children for o in c.overdue] or [(total, None, None, None, None, None, None, None)]


async def report_worklist(db: Database, org: str, children: int, rounds: int) -> None:
    holder = f"Organization/{org}"
    non_flu = [d for d in record_diseases() if d != FLU]
    cases = (("clinic, page of 100 + total", holder, None, None),
             ("clinic, all but influenza", holder, None, non_flu),
             ("one district", "PractitionerRole/district-7", None, None),
             ("one district within the clinic", "PractitionerRole/district-7", org, None))
    for label, on in (("today", TODAY), ("in a month", TODAY + timedelta(days=30))):
        print(f"1. worklist on {on} ({label}), clinic of {children} children: now / before (old layout, same run)")
        for name, who, within, diseases in cases:
            async def now(who: str = who, within: str | None = within, diseases: Any = diseases,
                          on: date = on) -> list[tuple[Any, ...]]:
                async with db.connection() as conn:
                    return _flat(*await vaccination_due.worklist(conn, who, on, organization=within,
                                                                 diseases=diseases, count=100))

            async def before(who: str = who, within: str | None = within, diseases: Any = diseases,
                             on: date = on) -> list[tuple[Any, ...]]:
                async with db.connection() as conn:
                    return await by_period.worklist(conn, who, on, organization=within, diseases=diseases, count=100)

            t_now, t_before, r_now, r_before = await ab(now, before, rounds)
            same = "same answer" if r_now == r_before else "DIFFERENT ANSWERS"
            print(f"  {name:32s} ({r_now[0][0]:5d} children) {t_now * 1e3:8.2f} ms   before {t_before * 1e3:8.2f} ms"
                  f"   {t_now / t_before:5.2f}x   {same}")
        t_base, base_total = await timed(lambda on=on: baseline(db, org, on), 1)
        print(f"2. baseline: forecast per child in Python ({base_total} children overdue)")
        print(f"  read every record + forecast each           {t_base * 1e3:8.0f} ms")


async def report_writes(db: Database, children: int, legacy_fill: float) -> None:
    """What keeping the table costs: a write's refresh of one child, and a full rebuild, in both layouts."""
    print("3. keeping the table")
    async with db.connection() as conn:
        cur = await conn.execute("SELECT id FROM resource WHERE resource_type = 'Patient' ORDER BY md5(id) LIMIT 300")
        sample = [r[0] for r in await cur.fetchall()]
    now_times: list[float] = []
    before_times: list[float] = []
    for pid in sample:  # one child per transaction, as a REST write of an Immunization refreshes it
        for refresh, times in ((vaccination_due.refresh, now_times), (by_period.refresh, before_times)):
            async with db.transaction() as conn:
                start = time.perf_counter()
                await refresh(conn, [pid])
                times.append(time.perf_counter() - start)
    t_now, t_before = statistics.median(now_times), statistics.median(before_times)
    print(f"  a write's refresh of one child (median of {len(sample)})   {t_now * 1e3:6.2f} ms   "
          f"before {t_before * 1e3:6.2f} ms   {t_now / t_before:5.2f}x")
    async with db.connection() as conn:  # autocommit: a transaction per chunk of children
        rebuild_start = time.perf_counter()
        await vaccination_due.rebuild(conn)
        rebuild = time.perf_counter() - rebuild_start
        legacy_start = time.perf_counter()
        await by_period.rebuild(conn)
        legacy = time.perf_counter() - legacy_start
    print(f"  full rebuild in one process, {children} children {rebuild:8.2f} s ({rebuild / children * 1e3:.2f} ms "
          f"a child)   before {legacy:8.2f} s (first fill {legacy_fill:.2f} s)   {rebuild / legacy:5.2f}x")
    jobs = os.cpu_count() or 1
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled_start = time.perf_counter()
        async with db.connection() as conn:
            await vaccination_due.rebuild(conn, executor=pool)
        pooled = time.perf_counter() - pooled_start
    print(f"  the same with {jobs} worker processes (medcard db rebuild-derived) {pooled:8.2f} s   "
          f"({pooled / children * 1e3:.2f} ms a child; {rebuild / pooled:.2f}x faster)")


def record_diseases() -> list[str]:
    from medcard.pediatrics import rules

    return sorted({d for cal in rules.calendars().versions for d in cal.diseases})


def main() -> None:
    domains.install()  # as every entry point that writes: the import keeps the worklist's table
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=30_000)
    parser.add_argument("--demographic", type=int, default=0, help="further children with no vaccination recorded")
    parser.add_argument("--quick", action="store_true", help="2,000 children, fewer rounds")
    args = parser.parse_args()
    children, rounds = (2_000, 5) if args.quick else (args.children, 21)
    with database() as url:
        asyncio.run(run(url, children, args.demographic, rounds))


if __name__ == "__main__":
    main()
