"""Benchmark: the vaccination worklist of a clinic of 30,000 children.

Runs on a real PostgreSQL (embedded, in a temporary directory, or MEDCARD_BENCH_DATABASE_URL, which
it empties). A clinic with 30 districts and 30,000 children aged 0-17, each with a vaccination
history (mostly on time, some late, some missing doses, a few refusals), is written by the bulk
importer, which keeps the derived table ``vaccination_due`` in the same transactions. Then:

1. the worklist (children with a vaccination overdue on a date, one page of 100 and the total),
   one indexed query on ``vaccination_due``, for the clinic and for one district;
2. the baseline, measured in the same run: the same answer computed the direct way, reading every
   child's Patient and Immunizations in one query and running the forecast in Python per child;
3. what keeping the table costs: a full rebuild of the 30,000 children, and the import itself.

Prints figures and ratios; asserts nothing.

    python bench/bench_worklist.py [--children 30000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
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


def write_city(folder: Path, children: int, seed: int = 6) -> str:
    """Organization, PractitionerRoles, Patients, Immunizations as NDJSON; returns the clinic's id."""
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


async def run(url: str, children: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        org = write_city(folder, children)
        files = [folder / f"{n}-{t}.ndjson" for n, t in enumerate(("Organization", "PractitionerRole", "Patient",
                                                                   "Immunization"), 1)]
        db = Database(url, min_size=1, max_size=4)
        await db.open()
        try:
            start = time.perf_counter()
            report = await Importer(db, jobs=max(1, min(4, (os.cpu_count() or 2) - 1))).run(files)
            seconds = time.perf_counter() - start
            print(f"import: {report.summary()}")
            async with db.connection() as conn:
                cur = await conn.execute("SELECT count(*), count(DISTINCT patient_id) FROM vaccination_due")
                n_rows, n_children = await cur.fetchone() or (0, 0)
                await conn.execute("ANALYZE vaccination_due")
            print(f"  vaccination_due: {n_rows} rows for {n_children} children")
            await report_worklist(db, org, children, rounds)
            print("3. keeping the table")
            rebuild_start = time.perf_counter()
            async with db.connection() as conn:  # autocommit: a transaction per chunk of children
                await vaccination_due.rebuild(conn)
            rebuild = time.perf_counter() - rebuild_start
            print(f"  full rebuild in one process, {children} children {rebuild:8.2f} s   "
                  f"({rebuild / children * 1e3:.2f} ms a child)")
            jobs = os.cpu_count() or 1
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                pooled_start = time.perf_counter()
                async with db.connection() as conn:
                    await vaccination_due.rebuild(conn, executor=pool)
                pooled = time.perf_counter() - pooled_start
            print(f"  the same with {jobs} worker processes (medcard db rebuild-derived) {pooled:8.2f} s   "
                  f"({pooled / children * 1e3:.2f} ms a child; {rebuild / pooled:.2f}x faster)")
            print(f"  the import that kept it (all resources)      {seconds:8.2f} s")
        finally:
            await db.close()


async def report_worklist(db: Database, org: str, children: int, rounds: int) -> None:
    holder = f"Organization/{org}"
    for label, on in (("today", TODAY), ("in a month", TODAY + timedelta(days=30))):
        async def clinic(on: date = on) -> tuple[int, Any]:
            async with db.connection() as conn:
                return await vaccination_due.worklist(conn, holder, on, count=100)

        async def district(on: date = on) -> tuple[int, Any]:
            async with db.connection() as conn:
                return await vaccination_due.worklist(conn, "PractitionerRole/district-7", on, count=100)

        async def non_flu(on: date = on) -> tuple[int, Any]:
            async with db.connection() as conn:
                return await vaccination_due.worklist(conn, holder, on, count=100,
                                                      diseases=[d for d in record_diseases() if d != FLU])

        t_clinic, (total, _) = await timed(clinic, rounds)
        t_district, (d_total, _) = await timed(district, rounds)
        t_non_flu, (nf_total, _) = await timed(non_flu, rounds)
        t_base, base_total = await timed(lambda on=on: baseline(db, org, on), 1)
        print(f"1. worklist on {on} ({label}), clinic of {children} children")
        print(f"  clinic, page of 100 + total ({total:5d} children)   {t_clinic * 1e3:8.2f} ms")
        print(f"  clinic, all but influenza ({nf_total:5d} children)   {t_non_flu * 1e3:8.2f} ms")
        print(f"  one district ({d_total:4d} children)                {t_district * 1e3:8.2f} ms")
        print(f"2. baseline: forecast per child in Python ({base_total} children overdue)")
        print(f"  read every record + forecast each           {t_base * 1e3:8.0f} ms   "
              f"({t_base / t_clinic:.0f}x the worklist query)")


def record_diseases() -> list[str]:
    from medcard.pediatrics import rules

    return sorted({d for cal in rules.calendars().versions for d in cal.diseases})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=30_000)
    parser.add_argument("--quick", action="store_true", help="2,000 children, fewer rounds")
    args = parser.parse_args()
    children, rounds = (2_000, 5) if args.quick else (args.children, 21)
    with database() as url:
        asyncio.run(run(url, children, rounds))


if __name__ == "__main__":
    main()
