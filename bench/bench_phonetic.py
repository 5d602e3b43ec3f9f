"""Benchmark: registrars' fuzzy surname search (``Patient?phonetic=``) over millions of patients.

Builds a store-shaped data set quickly, without the bulk importer (which writes about 800
patients a second here, too slow for two million): demographic-only Patients from
``medcard.synth`` are written straight into the ``resource`` table and their name keys
(``store.patient_lookup_rows``, the rows the store itself writes) into ``patient_lookup``, both
by ``COPY``. The migrations' trigger on ``patient_lookup`` keeps the dictionary of surname
skeletons as it does for every write. No other index rows are written: the searches measured
need none.

Then, on a real PostgreSQL (embedded, in a temporary directory, or MEDCARD_BENCH_DATABASE_URL,
which it empties) and through a real medcard server over HTTP:

1. the load: ``COPY`` of the name keys into ``patient_lookup`` (whose trigger maintains the
   dictionary) against the same ``COPY`` into a copy of the table without the trigger;
2. ``Patient?phonetic=<surname with a typo>&_count=20`` and the same with ``&birthdate=``, p50
   and p99 over a few hundred queries; the baseline, in the same run, is the SQL the previous
   version of medcard ran for the same page (a trigram match ``family % key`` over
   ``patient_lookup`` ranked by ``similarity``, with its GIN index created for the purpose);
   both answers are compared;
3. the bulk importer's rate for demographic patients with the dictionary trigger enabled and
   disabled, in a second database of the same server.

Prints figures; asserts nothing.

    python bench/bench_phonetic.py                 # 2,000,000 patients
    python bench/bench_phonetic.py --quick         # a smoke run (20,000 patients)
    python bench/bench_phonetic.py --patients 500000 --home /tmp/phon-home   # keep the database for a re-run
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bulk import AUTH, get, machine, server, typo  # the same server, GET and typos as the bulk benchmark
from benchauth import backend_token
from medcard import domains
from medcard.core import copytext, jsonutil, migrate
from medcard.core.db import Database
from medcard.core.embedded import embedded_database
from medcard.core.time import fhir_instant
from medcard.fhir.bulk.importer import STORE_TABLES, Importer
from medcard.fhir.search.phonetic import skeleton
from medcard.fhir.store import patient_lookup_rows
from medcard.synth import CitySize, city, write_ndjson

BENCH_TODAY = date(2026, 11, 25)  # the city's "today": the same city in every run
SEED = 3
CLINICS = 8
PAGE = 20  # _count of every search measured


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


def line(label: str, values: list[float]) -> tuple[float, float]:
    p50, p99 = percentiles(values)
    print(f"  {label:<66} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   (n={len(values)})", flush=True)
    return p50, p99


def scalar(url: str, sql: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


# 1. the data set -----------------------------------------------------------------------------


def load(url: str, patients: int, work: Path, sample: int) -> None:
    """Write the city's Patients into ``resource`` and their name keys into ``patient_lookup``, by COPY.

    Keeps (surname, birth date) of ``sample`` patients drawn at random in ``bench_phonetic_sample``.
    """
    rng = random.Random(11)
    chosen: list[tuple[str, str]] = []
    lookup_file = work / "patient_lookup.copy"
    now = datetime.now(UTC)
    meta = {"versionId": "1", "lastUpdated": fhir_instant(now)}
    started = time.perf_counter()
    n = 0
    with psycopg.connect(url) as conn, lookup_file.open("w", buffering=1 << 20) as lookup:
        with conn.cursor() as cur, cur.copy(
                "COPY resource (resource_type, id, version_id, last_updated, deleted, patient_id, content) "
                "FROM STDIN") as copy:
            buffer: list[str] = []
            for resource in city(SEED, CitySize(0, CLINICS, patients), BENCH_TODAY):
                rtype, rid = resource["resourceType"], resource["id"]
                # the stored form: id and meta first, as the store writes it
                body = {k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")}
                content = orjson.dumps({"resourceType": rtype, "id": rid, "meta": meta, **body}).decode()
                patient = rid if rtype == "Patient" else None
                buffer.append(f"{rtype}\t{copytext.text(rid)}\t1\t{now.isoformat()}\tf\t{copytext.value(patient)}\t"
                              f"{copytext.text(content)}\n")
                if rtype == "Patient":
                    lookup.write(copytext.rows(f"{copytext.text(rid)}\t", patient_lookup_rows(resource)))
                    item = (resource["name"][0]["family"], resource["birthDate"])
                    if n < sample:
                        chosen.append(item)
                    elif (j := rng.randrange(n + 1)) < sample:
                        chosen[j] = item
                    n += 1
                if len(buffer) >= 5000:
                    copy.write("".join(buffer))
                    buffer.clear()
            copy.write("".join(buffer))
        conn.execute("CREATE TABLE bench_phonetic_sample (n serial, family text, birth_date text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_phonetic_sample (family, birth_date) VALUES (%s, %s)", chosen)
        conn.commit()
    print(f"  {n} patients generated and copied into resource in {time.perf_counter() - started:.0f} s", flush=True)
    copy_lookup(url, lookup_file)
    lookup_file.unlink()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("resource", "patient_lookup", "patient_family"):
            conn.execute(f"VACUUM ANALYZE {table}")


def copy_file(conn: psycopg.Connection[Any], table: str, path: Path) -> float:
    started = time.perf_counter()
    with conn.cursor() as cur, cur.copy(f"COPY {table} (patient_id, family, given, birth_date) FROM STDIN") as copy,\
            path.open("rb") as f:
        while chunk := f.read(1 << 20):
            copy.write(chunk)
    conn.commit()
    return time.perf_counter() - started


def copy_lookup(url: str, path: Path) -> None:
    """COPY the name keys into patient_lookup (its trigger keeps the dictionary), and into a copy without it."""
    rows = sum(1 for _ in path.open("rb"))
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_lookup_plain")
        conn.execute("CREATE TABLE bench_lookup_plain (LIKE patient_lookup INCLUDING ALL)")
        conn.commit()
        plain = copy_file(conn, "bench_lookup_plain", path)
        real = copy_file(conn, "patient_lookup", path)
        conn.execute("TRUNCATE bench_lookup_plain")
        conn.commit()
        plain = min(plain, copy_file(conn, "bench_lookup_plain", path))
        conn.execute("DROP TABLE bench_lookup_plain")
        conn.commit()
        row = conn.execute("SELECT count(*) FROM patient_family").fetchone()
    print(f"  COPY of {rows} name keys into a copy of patient_lookup without the trigger (best of 2) "
          f"{plain:6.1f} s ({rows / plain:,.0f} rows/s)")
    print(f"  the same COPY into patient_lookup, whose trigger keeps the dictionary         {real:6.1f} s "
          f"({rows / real:,.0f} rows/s; {real / plain:.2f}x); {row[0] if row else '?'} distinct skeletons", flush=True)


def queries(url: str, n: int) -> list[tuple[str, str]]:
    """(surname with a typo, birth date) of n sampled patients."""
    rng = random.Random(7)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT family, birth_date FROM bench_phonetic_sample ORDER BY n LIMIT %s", (n,)).fetchall()
    return [(typo(family, rng), born) for family, born in rows]


# 2. the searches --------------------------------------------------------------------------------


# The SQL of the page that medcard ran before the dictionary (engine and query.py as of revision
# 0006), for _count=20 and a backend client (no access restriction): a trigram match over every
# row of patient_lookup, each match scored by a lookup of its names.
OLD_SCORE = "(SELECT max(greatest(similarity(l.family, %(key)s))) FROM patient_lookup l WHERE l.patient_id = r.id)"
OLD_PAGE = ("SELECT r.resource_type, r.id, r.content, r.patient_id, {score} AS k0, r.resource_type AS k1, r.id AS k2 "
            "FROM resource r WHERE NOT r.deleted AND r.resource_type = 'Patient' AND r.id IN ({match}) "
            "ORDER BY {score} DESC NULLS LAST, r.resource_type ASC NULLS LAST, r.id ASC NULLS LAST LIMIT {limit}")
OLD_MATCH = "SELECT l.patient_id FROM patient_lookup l WHERE l.family %% %(key)s"
OLD_MATCH_BORN = ("SELECT l.patient_id FROM patient_lookup l WHERE l.birth_date = ANY(%(born)s::date[]) "
                  "AND (l.family %% %(key)s)")
OLD_INDEX = ("CREATE INDEX IF NOT EXISTS bench_old_search_idx ON patient_lookup "
             "USING gin (birth_date, family gin_trgm_ops)")


def old_sql(url: str, work: list[tuple[str, str]], born: bool) -> tuple[list[float], list[list[str]]]:
    sql = OLD_PAGE.format(score=OLD_SCORE, match=OLD_MATCH_BORN if born else OLD_MATCH, limit=PAGE + 1)

    async def go() -> tuple[list[float], list[list[str]]]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            times, answers = [], []
            for family, birth in work:
                started = time.perf_counter()
                cur = await conn.execute(sql, {"key": skeleton(family), "born": [birth]})
                rows = await cur.fetchall()
                times.append(time.perf_counter() - started)
                answers.append([str(r[1]) for r in rows[:PAGE]])
            return times, answers

    return asyncio.run(go())


def http_search(conn: http.client.HTTPConnection, work: list[tuple[str, str]], born: bool
                ) -> tuple[list[float], list[list[str]]]:
    times, answers = [], []
    for family, birth in work:
        params = {"phonetic": family, "_count": str(PAGE), **({"birthdate": birth} if born else {})}
        path = "/fhir/R4/Patient?" + urlencode(params, quote_via=quote)
        started = time.perf_counter()
        body = get(conn, path)
        times.append(time.perf_counter() - started)
        answers.append([e["resource"]["id"] for e in jsonutil.loads(body).get("entry", [])
                        if e["search"]["mode"] == "match"])
    return times, answers


def search_figures(url: str, port: int, work: list[tuple[str, str]]) -> dict[str, float]:
    figures: dict[str, float] = {}
    shown: dict[bool, list[list[str]]] = {}
    with server(url, port) as conn:
        http_search(conn, work[:20], born=False)  # warm the server and the caches
        for born in (False, True):
            label = "Patient?phonetic=<typo>&birthdate=<date>" if born else "Patient?phonetic=<surname with a typo>"
            times, shown[born] = http_search(conn, work, born)
            figures[f"new{born:d}_p50"], figures[f"new{born:d}_p99"] = line(f"{label}&_count={PAGE}", times)
            figures[f"new{born:d}_found"] = sum(len(a) for a in shown[born]) / len(work)
    print("  the previous version's SQL alone (baseline; its GIN index created for it):", flush=True)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(OLD_INDEX)
        c.execute("ANALYZE patient_lookup")
    print(f"    (the trigram GIN index over patient_lookup built in {time.perf_counter() - started:.0f} s)")
    old_sql(url, work[:20], born=False)
    for born in (False, True):
        label = "trigram match and ranking, with the birth date" if born else "trigram match and ranking"
        times, answers = old_sql(url, work, born)
        figures[f"old{born:d}_p50"], figures[f"old{born:d}_p99"] = line(f"  {label}", times)
        differ = sum(a != b for a, b in zip(answers, shown[born], strict=True))
        print(f"    pages that differ from medcard's: {differ} of {len(answers)}")
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP INDEX bench_old_search_idx")
    return figures


# 3. the import ----------------------------------------------------------------------------------


def import_folder(url: str, folder: Path, jobs: int) -> float:
    async def go() -> float:
        db = Database(url, min_size=1, max_size=2)
        await db.open()
        try:
            report = await Importer(db, on_error="stop", jobs=jobs).run([folder])
        finally:
            await db.close()
        if report.failed:
            raise SystemExit(f"import failed: {report.problems[:3]}")
        return report.written / report.seconds

    return asyncio.run(go())


def import_figures(url: str, patients: int, work: Path, jobs: int, rounds: int) -> None:
    """Import rate of demographic patients: schema before this change, with the trigger, without it."""
    folder = work / "import"
    write_ndjson(folder, SEED + 1, CitySize(0, CLINICS, patients), BENCH_TODAY)
    names = {"before": "bench_import_0006", "new": "bench_import_0007"}
    urls = {}
    parts = urlsplit(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
    for key, name in names.items():
        urls[key] = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
        migrate.upgrade(urls[key], "0006" if key == "before" else "0007")
    with psycopg.connect(url, autocommit=True) as conn:  # the time spent in the trigger's function
        conn.execute(f"ALTER DATABASE {names['new']} SET track_functions = 'pl'")
    rates: dict[str, list[float]] = {"before": [], "trigger": [], "no trigger": []}
    in_trigger: list[tuple[float, float, int]] = []  # (seconds in the trigger, seconds of the import, calls)
    import_folder(urls["new"], folder, jobs)  # a first import, not counted: worker start-up, caches
    for _ in range(rounds):
        for case in rates:
            target = urls["before" if case == "before" else "new"]
            with psycopg.connect(target, autocommit=True) as conn:
                tables = [*STORE_TABLES, *(["patient_family"] if case != "before" else [])]
                conn.execute(f"TRUNCATE {', '.join(tables)}")
                if case != "before":
                    action = "DISABLE" if case == "no trigger" else "ENABLE"
                    conn.execute(f"ALTER TABLE patient_lookup {action} TRIGGER patient_lookup_family_insert")
            before = trigger_time(target) if case == "trigger" else (0.0, 0)
            started = time.perf_counter()
            rates[case].append(import_folder(target, folder, jobs))
            print(f"    {case:<12} {rates[case][-1]:8.0f} resources/s", flush=True)
            if case == "trigger":
                after = trigger_time(target)
                in_trigger.append((after[0] - before[0], time.perf_counter() - started, after[1] - before[1]))
    best = {case: max(values) for case, values in rates.items()}
    print(f"  import of {patients} demographic patients, best of {rounds}: before this change (revision 0006) "
          f"{best['before']:.0f}/s; with the dictionary trigger {best['trigger']:.0f}/s; the same with the "
          f"trigger disabled {best['no trigger']:.0f}/s")
    print(f"  the trigger's cost: {best['no trigger'] / best['trigger']:.3f}x the time; "
          f"this change against before: {best['before'] / best['trigger']:.3f}x the time", flush=True)
    for spent, seconds, calls in in_trigger:
        print(f"  time in the trigger's function (pg_stat_user_functions): {spent:.2f} s in {calls} statements, "
              f"{spent / seconds:.2%} of the import's {seconds:.0f} s, {spent / patients * 1e6:.0f} µs a patient")
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f"DROP DATABASE {name}")


def trigger_time(url: str) -> tuple[float, int]:
    """Seconds spent in patient_family_add() so far in this database, and its calls."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        row = conn.execute("SELECT total_time, calls FROM pg_stat_user_functions "
                           "WHERE funcname = 'patient_family_add'").fetchone()
    return (float(row[0]) / 1000, int(row[1])) if row else (0.0, 0)


# the run ---------------------------------------------------------------------------------------


def run(url: str, args: argparse.Namespace, work: Path) -> None:
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    print(f"machine: {machine()}; PostgreSQL {version[0] if version else '?'}")
    loaded = scalar(url, "SELECT count(*) FROM resource WHERE resource_type = 'Patient'")
    if loaded != args.patients or scalar(url, "SELECT to_regclass('bench_phonetic_sample')") is None:
        print(f"1. loading {args.patients} demographic-only patients (synth, COPY into resource and patient_lookup)")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_phonetic_sample")
            conn.execute(f"TRUNCATE {', '.join(STORE_TABLES)}, patient_family")
        load(url, args.patients, work, max(args.queries, 20))
    else:
        print(f"1. reusing the {loaded} patients of {args.home}")
    AUTH["Authorization"] = f"Bearer {backend_token(url)}"
    skeletons = scalar(url, "SELECT count(*) FROM patient_family")
    print(f"2. registrars' searches over {loaded if loaded == args.patients else args.patients} patients "
          f"({skeletons} distinct surname skeletons), {args.queries} queries each")
    figures = search_figures(url, args.port, queries(url, args.queries))
    print(f"  patients shown per page: {figures['new0_found']:.1f} (surname), {figures['new1_found']:.1f} (with date)")
    if args.import_patients:
        print(f"3. the bulk importer and the dictionary's trigger ({args.import_patients} patients, "
              f"{args.jobs} worker processes)")
        import_figures(url, args.import_patients, work, args.jobs, args.rounds)
    print("targets: fuzzy search p50 <= 20 ms, p99 <= 80 ms: "
          f"surname {figures['new0_p50']:.1f}/{figures['new0_p99']:.1f} "
          f"(before {figures['old0_p50']:.1f}/{figures['old0_p99']:.1f}, SQL alone); "
          f"with a birth date {figures['new1_p50']:.1f}/{figures['new1_p99']:.1f} "
          f"(before {figures['old1_p50']:.1f}/{figures['old1_p99']:.1f})")


def main() -> None:
    domains.install()  # as every entry point that writes: the import keeps the vaccination worklist
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 patients, 50 queries")
    parser.add_argument("--patients", type=int, default=2_000_000)
    parser.add_argument("--queries", type=int, default=300, help="queries per latency figure")
    parser.add_argument("--import-patients", type=int, default=20_000,
                        help="patients of the import measurement (0: skip it)")
    parser.add_argument("--rounds", type=int, default=2, help="imports of each kind (the best counts)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="import worker processes")
    parser.add_argument("--home", type=Path, help="keep the embedded database here and reuse its data next time")
    parser.add_argument("--port", type=int, default=8743)
    args = parser.parse_args()
    if args.quick:
        args.patients, args.queries, args.import_patients, args.rounds = 20_000, 50, 2_000, 1
    with tempfile.TemporaryDirectory(prefix="medcard-bench-phonetic-") as tmp:
        external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
        if external:
            run(external, args, Path(tmp))
            return
        with embedded_database(args.home or Path(tmp) / "home") as url:
            run(url, args, Path(tmp))


if __name__ == "__main__":
    main()
