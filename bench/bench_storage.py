"""Benchmark: the bytes a child costs the store, table by table, and what the audit log costs.

A synthetic city (the generator of ``medcard synth``) is imported into a new store (embedded
PostgreSQL in a temporary directory, or MEDCARD_BENCH_DATABASE_URL, which it empties) in two steps:
children with a full life history, then demographic-only patients (what a registry's import
brings). After each step, ``pg_total_relation_size`` of every table (heap, indexes, TOAST; the sum
of the partitions of a partitioned one) gives the bytes each child added, extrapolated to a city of
2.3 million children. Then a pediatrician of the children's clinic opens charts through the API (a
medcard server in its own process, a staff token): the audit log's bytes per entry and per chart
opening. A chart opening is the reads a clinician's screen makes for one child: the Patient, its
``$summary``, its ``$immds-forecast`` and ``$growth``, the last 20 encounters and the last 50 vital
signs.

Prints figures; asserts nothing.

    python bench/bench_storage.py [--children 200] [--demographic 20000] [--charts 200]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bulk import server
from medcard import domains
from medcard.access import accounts, audit, tokens
from medcard.core import migrate
from medcard.core.db import Database
from medcard.core.embedded import embedded_database
from medcard.core.time import today_moscow
from medcard.fhir.bulk.importer import Importer
from medcard.synth import CitySize, write_ndjson

TODAY = date(2026, 11, 26)
CITY = 2_300_000
DERIVED = ("vaccination_due", "vaccination_due_holder")
SIZES = """
SELECT coalesce(p.relname, c.relname), sum(pg_total_relation_size(c.oid))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
  LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent
 WHERE c.relkind = 'r'
 GROUP BY 1
"""


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


def sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # sizes as written, whatever the background writer has done
        return {str(name): int(size) for name, size in conn.execute(SIZES)}


def load(url: str, folder: Path, size: CitySize, seed: int) -> int:
    """Generate and import a city; returns how many patients it added."""
    write_ndjson(folder, seed, size, TODAY)

    async def go() -> int:
        db = Database(url, min_size=1, max_size=4)
        await db.open()
        try:
            async with db.connection() as conn:
                before = await (await conn.execute("SELECT count(*) FROM resource WHERE resource_type = 'Patient'"
                                                   )).fetchone()
            report = await Importer(db, on_error="stop", jobs=max(1, (os.cpu_count() or 2) - 1)).run([folder])
            print(f"  import: {report.summary()}")
            async with db.connection() as conn:
                after = await (await conn.execute("SELECT count(*) FROM resource WHERE resource_type = 'Patient'"
                                                  )).fetchone()
            return int(after[0]) - int(before[0]) if after and before else 0
        finally:
            await db.close()

    return asyncio.run(go())


def report(title: str, before: dict[str, int], after: dict[str, int], children: int) -> None:
    print(f"{title}: {children} children; bytes a child (table, indexes, TOAST) and for {CITY:,} children")
    grown = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    total = sum(grown.values())
    for table, size in sorted(grown.items(), key=lambda kv: -kv[1]):
        if size >= children:  # at least a byte a child
            mark = "  (derived)" if table in DERIVED else ""
            print(f"  {table:24s} {size / children:9.0f}   {size / children * CITY / 2**30:8.1f} GiB{mark}")
    print(f"  {'all tables':24s} {total / children:9.0f}   {total / children * CITY / 2**30:8.1f} GiB")


def staff_token(url: str, clinic: str) -> str:
    """A pediatrician of the clinic, signed in through an app for people."""
    async def go() -> str:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            account = await accounts.create(conn, kind="staff", username=f"bench-{uuid.uuid4().hex[:8]}",
                                            display_name="Педиатр", roles=[("pediatrician", clinic)])
            client_id, _ = await tokens.register_client(conn, f"bench-app-{uuid.uuid4()}", "public",
                                                        "user/*.* openid fhirUser",
                                                        redirect_uris=["http://127.0.0.1/callback"])
            issued = await tokens.issue(conn, client_id, "user/*.*", 6 * 60, account_id=account)
            await audit.ensure_partitions(conn, today_moscow())
            await conn.commit()
            return issued.access_token

    return asyncio.run(go())


def open_charts(url: str, charts: int) -> None:
    """A pediatrician opens the charts of ``charts`` children of one clinic: the audit log's cost."""
    with psycopg.connect(url) as conn:  # the clinic with the most children with a history, and some of them
        clinic = conn.execute(
            "SELECT s.target_id FROM sp_reference s WHERE s.resource_type = 'Patient' AND s.param = 'organization' "
            "AND EXISTS (SELECT FROM resource r WHERE r.patient_id = s.resource_id AND r.resource_type = 'Encounter') "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()
        assert clinic is not None
        patients = [r[0] for r in conn.execute(
            "SELECT s.resource_id FROM sp_reference s WHERE s.resource_type = 'Patient' AND s.param = 'organization' "
            "AND s.target_id = %s AND EXISTS (SELECT FROM resource r WHERE r.patient_id = s.resource_id "
            "AND r.resource_type = 'Encounter') ORDER BY 1 LIMIT %s", (clinic[0], charts))]
    headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {staff_token(url, clinic[0])}"}
    before, count_before = audit_size(url)
    with server(url, 8104 + 1000) as conn:
        started = time.perf_counter()
        for pid in patients:
            for path in (f"Patient/{pid}", f"Patient/{pid}/$summary", f"Patient/{pid}/$immds-forecast",
                         f"Patient/{pid}/$growth", f"Encounter?patient={pid}&_sort=-date&_count=20",
                         f"Observation?patient={pid}&category=vital-signs&_sort=-date&_count=50"):
                get(conn, f"/fhir/R4/{path}", headers)
        seconds = time.perf_counter() - started
    after, count_after = audit_size(url)
    entries = count_after - count_before
    print(f"audit log: {len(patients)} charts opened by a pediatrician ({seconds:.1f} s), {entries} entries")
    print(f"  {(after - before) / entries:9.0f} bytes an entry (table and its indexes)")
    print(f"  {(after - before) / len(patients):9.0f} bytes a chart opening ({entries / len(patients):.1f} entries)")


def get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> None:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")


def audit_size(url: str) -> tuple[int, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        row = conn.execute("SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                           "WHERE inhparent = 'audit_event'::regclass), (SELECT count(*) FROM audit_event)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def main() -> None:
    domains.install()  # as every entry point that writes: the import keeps the derived tables
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--children", type=int, default=200, help="children with a full life history")
    parser.add_argument("--demographic", type=int, default=20_000, help="demographic-only patients")
    parser.add_argument("--charts", type=int, default=200, help="charts opened for the audit log's figures")
    args = parser.parse_args()
    with database() as url, tempfile.TemporaryDirectory() as tmp:
        empty = sizes(url)
        print(f"1. {args.children} children with a full life history")
        full = load(url, Path(tmp) / "full", CitySize(children=args.children, clinics=3), 1)
        with_history = sizes(url)
        report("  per child with a full history", empty, with_history, full)
        print(f"2. {args.demographic} demographic-only patients")
        demographic = load(url, Path(tmp) / "demographic", CitySize(children=0, clinics=3,
                                                                      demographic=args.demographic), 2)
        report("  per demographic-only child", with_history, sizes(url), demographic)
        print("3. the audit log")
        open_charts(url, args.charts)


if __name__ == "__main__":
    main()
