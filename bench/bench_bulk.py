"""Benchmark: bulk import, chart summary at two database sizes, fuzzy patient search, bulk export.

Everything runs on a real PostgreSQL (embedded, in a temporary directory, or the one named by
MEDCARD_BENCH_DATABASE_URL, which it empties) with synthetic records from ``medcard.synth`` (aged 0-17):

1. a small city (full-history children, the oldest 15) is generated, imported, and the import
   rate compared with PostgreSQL's own COPY of the same JSON lines into a bare table;
2. the chart summary (``Patient/{id}/$summary``, over HTTP) of the child with the largest record
   is timed, with the summary's SQL alone as the baseline;
3. a large city (more children and millions of demographic-only patients) is imported into the
   same database, and the same child's summary is timed again: the ratio shows how the hot path
   grows with the database;
4. registrars' searches over all patients: fuzzy surname (with typos), surname and birth date,
   and SNILS, with the raw trigram query as the baseline;
5. a full bulk export, with ``COPY (SELECT content ...) TO STDOUT`` as the baseline.

Prints figures and ratios; asserts nothing.

    python bench/bench_bulk.py                    # the full run (2,000,000 patients; about an hour)
    python bench/bench_bulk.py --quick            # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchauth import backend_token
from medcard import domains
from medcard.core import migrate
from medcard.core.db import Database
from medcard.core.embedded import embedded_database
from medcard.fhir.bulk.export import ExportRequest, export
from medcard.fhir.bulk.importer import Importer
from medcard.fhir.operations.summary import sections
from medcard.synth import CitySize, write_ndjson

BENCH_TODAY = date(2026, 11, 25)  # the city's "today": the same city in every run
CLINICS = 8


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


def line(label: str, values: list[float]) -> tuple[float, float]:
    p50, p99 = percentiles(values)
    print(f"  {label:<58} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   (n={len(values)})")
    return p50, p99


def ndjson_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.ndjson"))


def count_lines(folder: Path) -> int:
    return sum(1 for path in ndjson_files(folder) for _ in path.open("rb"))


# 1. import -------------------------------------------------------------------------


def copy_baseline(url: str, folder: Path) -> float:
    """Rows/s of PostgreSQL COPYing the same JSON lines into a bare one-column table."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (content text NOT NULL)")
        started, rows = time.perf_counter(), 0
        with conn.cursor() as cur, cur.copy("COPY bench_copy (content) FROM STDIN") as copy:
            for path in ndjson_files(folder):
                for raw in path.open("rb"):
                    copy.write_row((raw.rstrip(b"\n").decode(),))
                    rows += 1
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
    return rows / seconds


def import_folder(url: str, folder: Path, jobs: int) -> tuple[int, float]:
    async def go() -> tuple[int, float]:
        db = Database(url, min_size=1, max_size=2)
        await db.open()
        try:
            report = await Importer(db, on_error="stop", jobs=jobs).run([folder])
        finally:
            await db.close()
        if report.failed:
            raise SystemExit(f"import failed: {report.problems[:3]}")
        return report.written, report.seconds

    return asyncio.run(go())


# 2. the server ---------------------------------------------------------------------------


@contextmanager
def server(url: str, port: int, workers: int = 1) -> Iterator[http.client.HTTPConnection]:
    env = {**os.environ, "MEDCARD_DATABASE_URL": url, "MEDCARD_LOG_LEVEL": "warning",
           "MEDCARD_API_RATE_PER_MINUTE": "100000000",
           "MEDCARD_API_RATE_BACKEND_PER_MINUTE": "0"}  # measuring throughput, not the limit
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "medcard.app:create_app", "--port",
                             str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
                            env=env)
    try:
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("GET", "/fhir/R4/metadata")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        yield conn
    finally:
        proc.terminate()
        proc.wait(timeout=30)


AUTH: dict[str, str] = {}  # the backend token, set once the schema is in place


def get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path, headers={"Accept": "application/fhir+json", **AUTH})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
    return body


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def largest_record(url: str) -> tuple[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT patient_id, count(*) FROM resource WHERE patient_id IS NOT NULL "
                           "GROUP BY patient_id ORDER BY count(*) DESC LIMIT 1").fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def summary_figures(url: str, port: int, patient: str, n: int) -> dict[str, float]:
    async def sql_only() -> list[float]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            out = []
            for _ in range(n):
                started = time.perf_counter()
                await sections(conn, patient)
                out.append(time.perf_counter() - started)
            return out

    base50, base99 = line("summary SQL alone (baseline)", asyncio.run(sql_only()))
    with server(url, port) as conn:
        get(conn, f"/fhir/R4/Patient/{patient}/$summary")
        p50, p99 = line("GET Patient/{id}/$summary over HTTP",
                        timed(lambda: get(conn, f"/fhir/R4/Patient/{patient}/$summary"), n))
    return {"p50": p50, "p99": p99, "sql_p50": base50, "sql_p99": base99}


def table_size(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT patient_id) FROM resource").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


# 4. registrars' searches ------------------------------------------------------------------


def sample_patients(folder: Path, k: int, seed: int) -> list[dict[str, Any]]:
    """k random Patients of the folder (reservoir sampling: memory does not grow with the file)."""
    rng = random.Random(seed)
    chosen: list[dict[str, Any]] = []
    with (folder / "Patient.ndjson").open("rb") as f:
        for n, raw in enumerate(f):
            if n < k:
                chosen.append(json.loads(raw))
            elif (j := rng.randrange(n + 1)) < k:
                chosen[j] = json.loads(raw)
    return chosen


def typo(word: str, rng: random.Random) -> str:
    """One everyday slip: a letter dropped, doubled, swapped or changed, or ё written as е."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "double", "swap", "change"))
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + rng.choice("аеиоуыя") + word[i + 1:]


def search_figures(url: str, port: int, folder: Path, n: int) -> dict[str, float]:
    rng = random.Random(7)
    patients = sample_patients(folder, n, seed=11)
    queries = []
    for p in patients:
        family = p["name"][0]["family"]
        snils = next(i["value"] for i in p["identifier"] if i["system"].endswith(".223"))
        queries.append((typo(family, rng), p["birthDate"], snils))

    async def raw_trigram() -> list[float]:
        from medcard.fhir.search.phonetic import skeleton

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            out = []
            for family, _, _ in queries:
                started = time.perf_counter()
                cur = await conn.execute("SELECT patient_id FROM patient_lookup WHERE family %% %s LIMIT 50",
                                         (skeleton(family),))
                await cur.fetchall()
                out.append(time.perf_counter() - started)
            return out

    figures: dict[str, float] = {}
    figures["raw_p50"], figures["raw_p99"] = line("trigram query on patient_lookup alone (baseline)",
                                                  asyncio.run(raw_trigram()))
    with server(url, port) as conn:
        def run(params: Callable[[tuple[str, str, str]], dict[str, str]]) -> list[float]:
            out = []
            for q in queries:
                path = "/fhir/R4/Patient?" + urlencode(params(q), quote_via=quote)
                started = time.perf_counter()
                get(conn, path)
                out.append(time.perf_counter() - started)
            return out

        figures["fuzzy_p50"], figures["fuzzy_p99"] = line(
            "Patient?phonetic=<surname with a typo>&_count=20", run(lambda q: {"phonetic": q[0], "_count": "20"}))
        figures["birth_p50"], figures["birth_p99"] = line(
            "Patient?phonetic=<typo>&birthdate=<date>", run(lambda q: {"phonetic": q[0], "birthdate": q[1]}))
        figures["snils_p50"], figures["snils_p99"] = line(
            "Patient?identifier=<SNILS>", run(lambda q: {"identifier": q[2]}))
    return figures


# 5. export ----------------------------------------------------------------------------------


def export_figures(url: str, out: Path) -> tuple[float, float, int]:
    with psycopg.connect(url) as conn:
        started, rows = time.perf_counter(), 0
        with conn.cursor() as cur, cur.copy("COPY (SELECT content FROM resource WHERE NOT deleted) TO STDOUT") as copy:
            for chunk in copy:
                rows += bytes(chunk).count(b"\n")
        baseline = rows / (time.perf_counter() - started)

    async def go() -> tuple[int, float]:
        db = Database(url, min_size=1, max_size=2)
        await db.open()
        try:
            started = time.perf_counter()
            with psycopg.connect(url) as c:
                stamp = c.execute("SELECT now()").fetchone()
            assert stamp is not None
            files = await export(db, ExportRequest("system"), out, stamp[0])
            return sum(f.count for f in files), time.perf_counter() - started
        finally:
            await db.close()

    count, seconds = asyncio.run(go())
    return count / seconds, baseline, count


# the run ---------------------------------------------------------------------------------


def run(url: str, args: argparse.Namespace, work: Path) -> None:
    migrate.upgrade(url)
    AUTH["Authorization"] = f"Bearer {backend_token(url)}"
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    jobs = args.jobs or os.cpu_count() or 1
    print(f"machine: {machine()}; PostgreSQL {version[0] if version else '?'}; import jobs {jobs}")

    small = work / "small"
    write_ndjson(small, 1, CitySize(args.small_children, CLINICS), BENCH_TODAY)
    lines = count_lines(small)
    print(f"1. small city: {args.small_children} full-history children, {lines} resources")
    copy_rate = copy_baseline(url, small)
    written, seconds = import_folder(url, small, jobs)
    print(f"  COPY of the same JSON into a bare table (baseline) {copy_rate:10.0f} rows/s")
    print(f"  medcard import                                     {written / seconds:10.0f} resources/s "
          f"({written} in {seconds:.1f} s; {written / seconds / copy_rate:.3f} of COPY)")

    patient, record = largest_record(url)
    size_small = table_size(url)
    print(f"2. chart summary of the largest record ({record} resources) in a store of {size_small[0]} resources")
    at_small = summary_figures(url, args.port, patient, args.repeat)

    large = work / "large"
    write_ndjson(large, 2, CitySize(args.large_children, CLINICS, args.demographic), BENCH_TODAY)
    big_lines = count_lines(large)
    print(f"3. large city: {args.large_children} more full-history children and {args.demographic} "
          f"demographic-only patients, {big_lines} resources")
    big_copy = copy_baseline(url, large)
    written, seconds = import_folder(url, large, jobs)
    print(f"  COPY of the same JSON into a bare table (baseline) {big_copy:10.0f} rows/s")
    print(f"  medcard import                                     {written / seconds:10.0f} resources/s "
          f"({written} in {seconds:.0f} s; {written / seconds / big_copy:.3f} of COPY)")
    size_large = table_size(url)
    print(f"  the same summary in a store of {size_large[0]} resources ({size_large[0] / size_small[0]:.0f}x larger)")
    at_large = summary_figures(url, args.port, patient, args.repeat)
    print(f"  larger store / smaller store: p50 {at_large['p50'] / at_small['p50']:.2f}x, "
          f"p99 {at_large['p99'] / at_small['p99']:.2f}x")

    with psycopg.connect(url) as conn:
        patients = conn.execute("SELECT count(*) FROM resource WHERE resource_type = 'Patient'").fetchone()
    print(f"4. registrars' searches over {patients[0] if patients else '?'} patients")
    search = search_figures(url, args.port, large, args.repeat)

    print("5. bulk export of the whole store")
    rate, baseline, count = export_figures(url, work / "export")
    print(f"  COPY (SELECT content) TO STDOUT (baseline)         {baseline:10.0f} rows/s")
    print(f"  medcard export                                     {rate:10.0f} resources/s ({count}; "
          f"{rate / baseline:.2f} of COPY)")

    print("targets:")
    print(f"  import >= 5,000 resources/s: {'met' if written / seconds >= 5000 else 'NOT met'}")
    print(f"  summary p50 <= 10 ms, p99 <= 40 ms: small {at_small['p50']:.1f}/{at_small['p99']:.1f}, "
          f"large {at_large['p50']:.1f}/{at_large['p99']:.1f}; larger at most 1.5x slower: "
          f"{'met' if at_large['p50'] <= 1.5 * at_small['p50'] else 'NOT met'}")
    print(f"  fuzzy search p50 <= 20 ms, p99 <= 80 ms: {search['fuzzy_p50']:.1f}/{search['fuzzy_p99']:.1f} "
          f"(with birth date {search['birth_p50']:.1f}/{search['birth_p99']:.1f})")
    print(f"  export >= 50,000 resources/s: {'met' if rate >= 50000 else 'NOT met'} ({rate:.0f})")


def machine() -> str:
    cpu = "unknown CPU"
    for text in Path("/proc/cpuinfo").read_text().splitlines():
        if text.startswith("model name"):
            cpu = text.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB"


def main() -> None:
    domains.install()  # as every entry point that writes: the import keeps the vaccination worklist
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    parser.add_argument("--small-children", type=int, default=40)
    parser.add_argument("--large-children", type=int, default=400)
    parser.add_argument("--demographic", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=300, help="requests per latency figure")
    parser.add_argument("--jobs", type=int, default=0, help="import processes (default: one per core)")
    parser.add_argument("--port", type=int, default=8741)
    args = parser.parse_args()
    if args.quick:
        args.small_children, args.large_children, args.demographic, args.repeat = 10, 40, 50_000, 50
    with tempfile.TemporaryDirectory(prefix="medcard-bench-bulk-") as tmp:
        external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
        if external:
            run(external, args, Path(tmp))
            return
        with embedded_database(Path(tmp) / "home") as url:
            run(url, args, Path(tmp))


if __name__ == "__main__":
    main()
