"""Benchmark: «Мой день» of a district pediatrician, and how it grows with the district.

Runs on a real PostgreSQL (embedded, in a temporary directory). A synthetic city of ``--children``
full-history children and ``--demographic`` children with no history yet (registered, attached,
nothing recorded) in one clinic of six districts is generated and loaded by the bulk importer: with
the defaults a district holds about 880 children, as a Moscow district does. Then, for each
district pediatrician, alternating round by round:

1. the whole day (:func:`medcard.worklists.day.my_day`: districts, children, examinations of the
   month, overdue vaccinations, unseen results, open referrals), through a gate of the doctor;
2. the baseline measured in the same run: the district's vaccination worklist alone
   (:func:`medcard.pediatrics.vaccination_due.worklist`, the one indexed query the day builds on).

Prints the statements each day takes, the p50 of both and their ratio; asserts nothing.

    python bench/bench_my_day.py [--children 300] [--demographic 5000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from medcard import domains
from medcard.access.gate import Gate
from medcard.access.requester import Requester, StaffRole
from medcard.core import jsonutil, migrate
from medcard.core.embedded import embedded_database
from medcard.fhir.bulk.cli import run_import
from medcard.pediatrics import vaccination_due
from medcard.synth.writer import CitySize, write_ndjson
from medcard.worklists import day, practice

TODAY = date(2026, 11, 26)


async def doctors(conn: psycopg.AsyncConnection[Any]) -> list[tuple[str, str]]:
    """(Practitioner id, Organization id) of every district pediatrician."""
    cur = await conn.execute("SELECT content FROM resource WHERE resource_type = 'PractitionerRole' AND NOT deleted")
    found = []
    for (content,) in await cur.fetchall():
        role = jsonutil.loads(content)
        codes = {c.get("code") for cc in role.get("code", ()) for c in cc.get("coding", ())}
        if "pediatrician" in codes and role.get("identifier"):
            found.append((role["practitioner"]["reference"].split("/")[1],
                          role["organization"]["reference"].split("/")[1]))
    return sorted(found)


async def whole_day(conn: psycopg.AsyncConnection[Any], requester: Requester, mine: practice.Practice,
                    sizes: list[tuple[int, ...]] | None) -> None:
    """The whole day through a gate of the doctor (a new gate per request, as a page makes)."""
    found = await day.my_day(conn, Gate(conn, requester, today=TODAY), mine, TODAY)
    if sizes is not None:
        sizes.append((found.children, len(found.examinations), len(found.vaccinations), found.results.unseen,
                      len(found.referrals)))


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return (time.perf_counter() - started) * 1000


async def measure(url: str, rounds: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        staff = await doctors(conn)
        statements: list[str] = []
        original = conn.execute

        async def counted(query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(str(query))
            return await original(query, *args, **kwargs)

        days: list[float] = []
        bases: list[float] = []
        sizes: list[tuple[int, ...]] = []
        for n in range(rounds):
            for practitioner_id, org in staff:
                requester = Requester("staff", "bench", account_id=None, practitioner_id=practitioner_id,
                                      roles=(StaffRole("pediatrician", org),))
                gate = Gate(conn, requester, today=TODAY)
                mine = await practice.practice(conn, gate)
                holder = f"PractitionerRole/{mine.districts[0].role_id}"

                pair = [(partial(whole_day, conn, requester, mine, sizes if n == 0 else None), days),
                        (partial(vaccination_due.worklist, conn, holder, TODAY, organization=org,
                                 count=5000), bases)]
                for work, into in pair if n % 2 == 0 else reversed(pair):
                    into.append(await timed(work))
                if n == 0 and practitioner_id == staff[0][0]:
                    conn.execute = counted  # type: ignore[method-assign]
                    await day.my_day(conn, Gate(conn, requester, today=TODAY), mine, TODAY)
                    conn.execute = original  # type: ignore[method-assign]
    print(f"districts: {len(staff)}; (children, examinations, vaccinations, unseen results, referrals): {sizes}")
    print(f"statements of one day: {len(statements)}")
    p50_day, p50_base = statistics.median(days), statistics.median(bases)
    print(f"my day p50 {p50_day:.1f} ms, p90 {statistics.quantiles(days, n=10)[-1]:.1f} ms ({len(days)} runs)")
    print(f"baseline (the district's vaccination worklist alone) p50 {p50_base:.1f} ms")
    print(f"ratio my day / worklist: {p50_day / p50_base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=300)
    parser.add_argument("--demographic", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--home", type=Path, help="keep the database here and reuse it when it is loaded")
    args = parser.parse_args()
    domains.install()
    with tempfile.TemporaryDirectory() as scratch, embedded_database(args.home or Path(scratch)) as url:
        migrate.upgrade(url)
        with psycopg.connect(url) as conn:
            loaded = conn.execute("SELECT count(*) FROM resource WHERE resource_type = 'Patient'").fetchone()
        if loaded and loaded[0]:
            asyncio.run(measure(url, args.rounds))
            return
        folder = Path(scratch) / "city"
        started = time.perf_counter()
        write_ndjson(folder, 11, CitySize(args.children, 1, args.demographic), TODAY)
        run_import(url, [folder], on_error="stop", chunk=500, jobs=os.cpu_count() or 1)
        seconds = time.perf_counter() - started
        print(f"city of {args.children} + {args.demographic} children in one clinic loaded in {seconds:.0f} s",
              file=sys.stderr)
        asyncio.run(measure(url, args.rounds))


if __name__ == "__main__":
    main()
