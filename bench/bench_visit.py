"""Benchmark: what saving a visit from the workspace costs beyond the FHIR transaction it is.

On the embedded PostgreSQL, a well-child visit of the form (weight, length, head circumference, the
diagnosis, the 1-year examination's 7 referrals and 5 tests, the protocol: 20 resources) is saved

1. through ``records.visit_save.save`` (the draft row locked, the record's advisory lock, the chart's
   version marker compared, the Bundle, the draft marked saved), and
2. as the same Bundle alone through ``fhir.transaction.process`` (the baseline: what ``POST /fhir/R4``
   does with it),

in interleaved rounds, each in its own committed transaction; the ratio is (1)/(2), measured in the
same run. Then the version marker alone (``drafts.chart_version``) on a record of 20 resources and
on one of 5,000, and the form's check and Bundle building in Python.

    python bench/bench_visit.py [--quick]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

from medcard import domains
from medcard.access.gate import Gate
from medcard.access.requester import Requester
from medcard.core import jsonutil, migrate
from medcard.core.embedded import embedded_database
from medcard.fhir import transaction
from medcard.fhir.interactions import Context
from medcard.records import drafts, protocol, visit, visit_save

BASE = "http://bench/fhir/R4"
TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)
SYSTEM = Requester("system", "bench")
AUTHOR = protocol.Author(None, "Иванова Анна Петровна", "Врач-педиатр", None)


async def post(conn: psycopg.AsyncConnection[Any], bundle: dict[str, Any]) -> dict[str, Any]:
    async with conn.transaction():
        text = await transaction.process(Context(conn, BASE, Gate(conn, SYSTEM)), bundle)
    result: dict[str, Any] = jsonutil.loads(text)
    return result


async def child(conn: psycopg.AsyncConnection[Any], observations: int) -> visit.Child:
    """A girl of one year with ``observations`` weight measurements on record."""
    made = await post(conn, {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": {"resourceType": "Patient", "birthDate": "2025-11-20", "gender": "female",
                     "name": [{"family": "Соколова"}]}, "request": {"method": "POST", "url": "Patient"}}]})
    pid = made["entry"][0]["response"]["location"].split("/")[1]
    for start in range(0, observations, 500):
        await post(conn, {"resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": {"resourceType": "Observation", "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                         "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-01-01",
                         "valueQuantity": {"value": 9, "unit": "kg", "system": "http://unitsofmeasure.org",
                                           "code": "kg"}},
            "request": {"method": "POST", "url": "Observation"}} for _ in range(min(500, observations - start))]})
    return visit.Child(pid, date(2025, 11, 20), "female", None)


async def form(conn: psycopg.AsyncConnection[Any], c: visit.Child) -> visit.Fields:
    fields = await visit.prefill(conn, "well-child", c, TODAY)
    fields.update({"weight": ["10,2"], "height": ["76"], "head": ["46"], "complaints": ["Жалоб нет"],
                   "examination": ["Состояние удовлетворительное"], "conclusion": ["Здорова"]})
    return fields


async def account(conn: psycopg.AsyncConnection[Any]) -> str:
    from medcard.access import accounts

    async with conn.transaction():
        return await accounts.create(conn, kind="staff", username=f"bench-{time.time_ns()}", display_name="Bench",
                                     password=None, roles=[], practitioner_id=None, patient_id=None,
                                     level="standard")


async def rounds(url: str, n: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        small = await child(conn, 0)
        owner = await account(conn)
        fields = await form(conn, small)
        checked = await visit.check(conn, fields, small, TODAY)
        assert isinstance(checked, visit.Visit)
        entries = len(protocol.bundle(checked, small, AUTHOR, NOW, "k")["entry"])
        save_ms, base_ms = [], []
        for _ in range(n):
            draft = await drafts.create(conn, owner, small.id, "well-child", fields)
            started = time.perf_counter()
            async with conn.transaction():
                result = await visit_save.save(conn, Gate(conn, SYSTEM), BASE, owner, draft.key, checked, small,
                                               AUTHOR, NOW)
            save_ms.append((time.perf_counter() - started) * 1000)
            assert isinstance(result, visit_save.Saved), result
            bundle = protocol.bundle(checked, small, AUTHOR, NOW, draft.key)
            started = time.perf_counter()
            await post(conn, bundle)
            base_ms.append((time.perf_counter() - started) * 1000)
        s, b = statistics.median(save_ms), statistics.median(base_ms)
        print(f"Saving a well-child visit ({entries} resources), median of {n} interleaved rounds:")
        print(f"  records.visit_save.save            {s:7.1f} ms")
        print(f"  the same Bundle, transaction alone {b:7.1f} ms   (baseline)")
        print(f"  ratio                              {s / b:7.2f}")
        await markers(conn, n)
        python_figures(checked, small, fields, n)


async def markers(conn: psycopg.AsyncConnection[Any], n: int) -> None:
    print("The chart's version marker (drafts.chart_version), median:")
    for size in (20, 5000):
        c = await child(conn, size)
        times = []
        for _ in range(n * 4):
            started = time.perf_counter()
            await drafts.chart_version(conn, c.id)
            times.append((time.perf_counter() - started) * 1000)
        print(f"  a record of {size + 1:5d} resources  {statistics.median(times):6.2f} ms")


def python_figures(checked: visit.Visit, c: visit.Child, fields: visit.Fields, n: int) -> None:
    from medcard.records import vitals

    times_b, times_z = [], []
    for _ in range(n * 4):
        started = time.perf_counter()
        protocol.bundle(checked, c, AUTHOR, NOW, "k")
        times_b.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        vitals.scores(fields, c, TODAY)
        times_z.append((time.perf_counter() - started) * 1000)
    print("In Python, median:")
    print(f"  building the Bundle                {statistics.median(times_b):6.2f} ms")
    print(f"  the z-scores of weight, length, head circumference {statistics.median(times_z):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    domains.install()
    with tempfile.TemporaryDirectory() as home, embedded_database(Path(home)) as url:
        migrate.upgrade(url)
        with psycopg.connect(url) as conn:
            count = conn.execute("SELECT count(*) FROM icd10").fetchone()
        print(f"ICD-10 codes loaded: {count[0] if count else 0}")
        asyncio.run(rounds(url, 10 if args.quick else 40))


if __name__ == "__main__":
    main()
