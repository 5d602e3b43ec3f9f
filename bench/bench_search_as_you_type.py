"""Benchmark: the workspace's patient search as the clinician types, over millions of patients.

The data set is built quickly, without the bulk importer: demographic-only Patients from
``medcard.synth`` (and, for those born before 2016, an archived paper card: a DocumentReference with
its number) are written by ``COPY`` straight into the store's tables, with the rows the store itself
writes for them (``store.analyze``: the stored JSON, every ``sp_token`` and ``sp_reference`` row, the
``patient_lookup`` name keys, whose trigger keeps the dictionary of surname skeletons). The other
index tables (strings, dates, full text) are not written: the search never reads them.

Then, on a real PostgreSQL (embedded, in a temporary directory, or MEDCARD_BENCH_DATABASE_URL, which
it empties), each sampled child is looked for as a person types into the box: the surname letter by
letter from the second letter, the whole surname with a typo, the surname with the birth date, the
SNILS and the paper card's number. Each query is ``records.finder.find`` with a gate, as the page
runs it: the policy's condition in the SQL, the audit entries written (one per patient shown) in a
transaction of their own. Two requesters: a registrar (finds any child) and the district
pediatrician of the child's clinic (only the clinic's children). The baseline, in the same run and
through the same path, is the exact lookup of a SNILS. Then the same keystrokes through the page
itself (``/app/patients?q=`` as htmx asks for it, over HTTP, signed in through the sign-in form),
timed at the client, with the SNILS lookup through the page as its baseline.

Prints figures; asserts nothing.

    python bench/bench_search_as_you_type.py                  # 2,000,000 patients
    python bench/bench_search_as_you_type.py --patients 50000 --children 100
    python bench/bench_search_as_you_type.py --home /tmp/sayt   # keep the database for a second run (--reuse)
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bulk import machine, typo  # the same machine line and typos as the other search benchmarks
from medcard.access import accounts, audit
from medcard.access.gate import Gate
from medcard.access.requester import Requester, StaffRole
from medcard.core import copytext, migrate
from medcard.core.embedded import embedded_database
from medcard.core.identifiers import format_snils, system_uri
from medcard.core.time import today_moscow
from medcard.fhir.search.index import indexer
from medcard.fhir.store import _serialize, analyze, patient_lookup_rows
from medcard.fhir.validation import validate
from medcard.records import finder
from medcard.synth import CitySize, city

BENCH_TODAY = date(2026, 11, 25)  # the city's "today": the same city in every run
SEED = 5
CLINICS = 8
CARDS_BEFORE = date(2016, 1, 1)  # children born before it have an archived paper card
BATCH = 2000
TABLES = ("resource", "sp_token", "sp_reference", "patient_lookup")
BASELINE = "baseline: SNILS, exact lookup"


@dataclass(frozen=True)
class Child:
    """A sampled child: what a clinician would type to find it."""

    id: str
    family: str
    given: str
    birth_date: str
    snils: str
    organization: str
    card: str | None


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered) * 1000, p99 * 1000, ordered[-1] * 1000


def line(label: str, values: list[float]) -> tuple[float, float]:
    p50, p99, top = percentiles(values)
    print(f"  {label:<58} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {top:7.1f} ms  (n={len(values)})", flush=True)
    return p50, p99


# 1. the data set -----------------------------------------------------------------------------------


def _card(patient: dict[str, Any], number: int, clinics: dict[str, int]) -> dict[str, Any]:
    clinic = clinics[patient["managingOrganization"]["reference"]]
    return {"resourceType": "DocumentReference", "id": f"card-{patient['id']}", "status": "current",
            "identifier": [{"system": f"{finder.PAPER_CARD_SYSTEM}{clinic}", "value": f"{clinic}-{number:07d}"}],
            "subject": {"reference": f"Patient/{patient['id']}"},
            "description": "Бумажная история развития ребёнка (ф. 112/у), передана в архив",
            "content": [{"attachment": {"contentType": "text/plain", "title": "История развития ребёнка (ф. 112/у)"}}]}


def _encode(batch: list[dict[str, Any]]) -> dict[str, str]:
    """COPY text by table for a batch of resources, as the store writes them (in a worker process).

    The rows come from the store's own parts (serialization, indexer, name keys) without the
    validation and checks of ``store.analyze``, which would take most of an hour for two million
    patients here; :func:`check_shape` compares the two on a sample first.
    """
    now = datetime.now(UTC)
    ix = indexer()
    out: dict[str, list[str]] = {t: [] for t in TABLES}
    for resource in batch:
        rtype, rid = resource["resourceType"], resource["id"]
        rows = ix.rows(resource)
        patients = [rid] if rtype == "Patient" else rows.patient_references(ix.compartment_params(rtype))
        lookup = patient_lookup_rows(resource) if rtype == "Patient" else []
        parts = _serialize(resource, rtype, rid)
        patient = copytext.value(patients[0] if patients else None)
        head = f"{copytext.text(rtype)}\t{copytext.text(rid)}\t{patient}\t"
        out["resource"].append(f"{rtype}\t{copytext.text(rid)}\t1\t{now.isoformat()}\tf\t{patient}\t"
                               f"\\\\x{parts.hash.hex()}\t{copytext.text(parts.content(1, now))}\n")
        out["sp_token"].append(copytext.rows(head, rows.token))
        out["sp_reference"].append(copytext.rows(head, rows.reference))
        if lookup:
            out["patient_lookup"].append(copytext.rows(f"{copytext.text(rid)}\t", lookup))
    return {t: "".join(lines) for t, lines in out.items()}


def check_shape(resources: list[dict[str, Any]]) -> None:
    """The fast rows of :func:`_encode` are those ``store.analyze`` gives (the store's write path)."""
    fast = _encode(resources)
    slow: dict[str, list[str]] = {t: [] for t in TABLES[1:]}
    for resource in resources:
        encoded = analyze(resource, resource["resourceType"], resource["id"], validate(resource)).encoded()
        for table in slow:
            slow[table].append(encoded.lines.get(table, ""))
    for table, lines in slow.items():
        if "".join(lines) != fast[table]:
            raise SystemExit(f"the rows of {table} differ from what the store writes")
    print(f"  rows checked against store.analyze on {len(resources)} resources: identical", flush=True)


def _batches(patients: int, sample: int, chosen: list[Child]) -> Iterator[list[dict[str, Any]]]:
    """The city's resources in batches; fills ``chosen`` with a reservoir sample of its children."""
    rng = random.Random(11)
    batch: list[dict[str, Any]] = []
    clinics: dict[str, int] = {}
    n = cards = 0
    for resource in city(SEED, CitySize(0, CLINICS, patients), BENCH_TODAY):
        batch.append(resource)
        if resource["resourceType"] == "Organization" and "-" in resource["id"]:
            clinics.setdefault(f"Organization/{resource['id']}", len(clinics) + 1)
        if resource["resourceType"] == "Patient":
            card = None
            if date.fromisoformat(resource["birthDate"]) < CARDS_BEFORE:
                cards += 1
                document = _card(resource, cards, clinics)
                batch.append(document)
                card = document["identifier"][0]["value"]
            name = resource["name"][0]
            child = Child(resource["id"], name["family"], name["given"][0], resource["birthDate"],
                          next(i["value"] for i in resource["identifier"] if i["system"] == system_uri("snils")),
                          resource["managingOrganization"]["reference"].removeprefix("Organization/"), card)
            if n < sample:
                chosen.append(child)
            elif (j := rng.randrange(n + 1)) < sample:
                chosen[j] = child
            n += 1
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(files: dict[str, Any], blocks: dict[str, str]) -> None:
    for table, text in blocks.items():
        files[table].write(text)


def load(url: str, patients: int, sample: int, work: Path) -> list[Child]:
    """Generate and encode the city (two processes), then COPY each table; the sampled children."""
    chosen: list[Child] = []
    started = time.perf_counter()
    files = {t: (work / f"{t}.copy").open("w", buffering=1 << 20) for t in TABLES}
    batches = _batches(patients, sample, chosen)
    first = next(batches)
    check_shape(first[:2000])
    # A bounded window of batches in flight: Executor.map would read the whole city into memory first.
    with ProcessPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:
        pending: deque[Future[dict[str, str]]] = deque()
        for batch in itertools.chain([first], batches):
            pending.append(pool.submit(_encode, batch))
            if len(pending) >= 6:
                _write(files, pending.popleft().result())
        while pending:
            _write(files, pending.popleft().result())
    for f in files.values():
        f.close()
    print(f"  {patients:,} patients generated and encoded as the store writes them in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    with psycopg.connect(url) as conn:
        for table in TABLES:
            started = time.perf_counter()
            columns = _columns(conn, table)
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy, \
                    (work / f"{table}.copy").open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            conn.commit()
            (work / f"{table}.copy").unlink()
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            print(f"  COPY {table:<15} {rows[0] if rows else 0:>12,} rows in {time.perf_counter() - started:6.0f} s",
                  flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (*TABLES, "patient_family"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CREATE TABLE bench_sayt_sample (n serial, child text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_sayt_sample (child) VALUES (%s)",
                            [("\x1f".join(str(v) for v in vars(c).values()),) for c in chosen])
    return chosen


def _columns(conn: psycopg.Connection[Any], table: str) -> str:
    """The columns the store's COPY text gives, in its order."""
    if table == "resource":
        return "resource_type, id, version_id, last_updated, deleted, patient_id, content_hash, content"
    if table == "patient_lookup":
        return "patient_id, family, given, birth_date"
    extra = {"sp_token": "system, code, text", "sp_reference": "target_type, target_id, url"}[table]
    return f"resource_type, resource_id, patient_id, param, {extra}"


async def audit_partitions(url: str) -> None:
    """The audit log's monthly partitions, as the server makes them at start (the entries of an earlier
    run of this benchmark are dropped first: they would sit in the default partition and block it)."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute("TRUNCATE audit_event")
        await audit.ensure_partitions(conn, today_moscow())
        await conn.commit()


def sampled(url: str) -> list[Child]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT child FROM bench_sayt_sample ORDER BY n").fetchall()
    out = []
    for (text,) in rows:
        v = text.split("\x1f")
        out.append(Child(v[0], v[1], v[2], v[3], v[4], v[5], v[6] if v[6] != "None" else None))
    return out


# 2. the searches ---------------------------------------------------------------------------------------


def typed(child: Child, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) of what a person types to find the child, keystroke by keystroke."""
    day = date.fromisoformat(child.birth_date).strftime("%d.%m.%Y")
    out = [("surname, letter by letter", child.family[:i]) for i in range(2, len(child.family) + 1)]
    out.append(("surname with a typo", typo(child.family, rng)))
    out += [("surname + ДД.ММ.ГГГГ", f"{child.family} {day[:i]}") for i in (2, 5, 10)]
    out.append(("surname + given name + ДД.ММ.ГГГГ", f"{child.family} {child.given} {day}"))
    out.append(("SNILS with hyphens", format_snils(child.snils)))
    if child.card:
        out.append(("paper card number", child.card))
    return out


async def one(conn: psycopg.AsyncConnection[Any], requester: Requester, text: str) -> tuple[float, float, int]:
    """One query as the page runs it: find through the gate, then its audit entries written (on the
    autocommit connection, durably, as a read's are). Seconds to the answer, seconds with the audit
    write, and the patients shown."""
    started = time.perf_counter()
    gate = Gate(conn, requester)
    found = await finder.find(conn, gate, text)
    answered = time.perf_counter()
    await gate.flush(conn)
    return answered - started, time.perf_counter() - started, len(found.patients)


async def measure(url: str, children: list[Child], rounds: int) -> dict[str, dict[str, list[float]]]:
    rng = random.Random(7)
    registrar = Requester("staff", "bench registrar", account_id=str(uuid.uuid4()),
                          roles=(StaffRole("registrar", children[0].organization),))
    times: dict[str, dict[str, list[float]]] = {"registrar": {}, "pediatrician": {}, "registrar, find alone": {},
                                                 "pediatrician, find alone": {}}
    found: dict[str, list[int]] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for child in children[:10]:  # warm the caches
            await one(conn, registrar, child.family)
        for _ in range(rounds):
            for child in children:
                pediatrician = Requester("staff", "bench pediatrician", account_id=str(uuid.uuid4()),
                                         roles=(StaffRole("pediatrician", child.organization),))
                for kind, text in typed(child, rng):
                    for who, requester in (("registrar", registrar), ("pediatrician", pediatrician)):
                        alone, seconds, shown = await one(conn, requester, text)
                        times[who].setdefault(kind, []).append(seconds)
                        times[f"{who}, find alone"].setdefault(kind, []).append(alone)
                        found.setdefault(f"{who}: {kind}", []).append(shown)
                # the baseline: the exact SNILS lookup, the same path
                for who, requester in (("registrar", registrar), ("pediatrician", pediatrician)):
                    alone, seconds, _ = await one(conn, requester, child.snils)
                    times[who].setdefault(BASELINE, []).append(seconds)
                    times[f"{who}, find alone"].setdefault(BASELINE, []).append(alone)
    for key, counts in sorted(found.items()):
        print(f"    patients shown per query, {key}: {statistics.mean(counts):.1f}")
    return times


def report(times: dict[str, dict[str, list[float]]]) -> None:
    for who, kinds in times.items():
        print(f"  as {who}{'' if 'alone' in who else ', with the audit entries written'}:")
        typing: list[float] = []
        for kind, values in kinds.items():
            line(kind, values)
            if not kind.startswith("baseline"):
                typing += values
        p50, p99 = line("every keystroke above", typing)
        base50, base99 = percentiles(kinds[BASELINE])[:2]
        print(f"    ratio to the baseline: p50 {p50 / base50:.1f}x, p99 {p99 / base99:.1f}x", flush=True)


# 3. the page over HTTP ---------------------------------------------------------------------------------


@contextmanager
def page_server(url: str, port: int) -> Iterator[None]:
    """``medcard serve``'s application in a process of its own, cookies over plain HTTP, no second factor."""
    env = {**os.environ, "MEDCARD_DATABASE_URL": url, "MEDCARD_LOG_LEVEL": "warning", "MEDCARD_SECURE_COOKIES": "false",
           "MEDCARD_SECOND_FACTOR_ROLES": "", "MEDCARD_API_RATE_PER_MINUTE": "100000000"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "medcard.app:create_app",
                             "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def signed_in(url: str, port: int, role: str, organization: str) -> httpx.Client:
    """A client signed in through the sign-in form as a new staff account."""
    username = f"bench-{role}-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex  # a fresh one for each bench account

    async def create() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await accounts.create(conn, kind="staff", username=username, display_name=username, password=password,
                                  roles=[(role, organization)])
            await conn.commit()

    asyncio.run(create())
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    form = client.get("/auth/login").text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    done = client.post("/auth/login", data={**{k: html.unescape(v) for k, v in hidden.items()},
                                            "username": username, "password": password}, follow_redirects=False)
    if done.status_code != 303:
        raise SystemExit(f"sign-in failed: {done.status_code}")
    return client


def measure_pages(url: str, port: int, children: list[Child]) -> dict[str, dict[str, list[float]]]:
    """The page's answer to each keystroke (``HX-Request``, as htmx asks), timed at the client."""
    rng = random.Random(7)
    times: dict[str, dict[str, list[float]]] = {"registrar, page over HTTP": {}, "pediatrician, page over HTTP": {}}
    with page_server(url, port):
        registrar = signed_in(url, port, "registrar", children[0].organization)
        doctors: dict[str, httpx.Client] = {}
        for child in children[:10]:
            registrar.get("/app/patients", params={"q": child.family}, headers={"HX-Request": "true"})
        for child in children:
            if child.organization not in doctors:
                doctors[child.organization] = signed_in(url, port, "pediatrician", child.organization)
            for kind, text in [*typed(child, rng), (BASELINE, child.snils)]:
                for who, client in (("registrar", registrar), ("pediatrician", doctors[child.organization])):
                    started = time.perf_counter()
                    answer = client.get("/app/patients", params={"q": text}, headers={"HX-Request": "true"})
                    times[f"{who}, page over HTTP"].setdefault(kind, []).append(time.perf_counter() - started)
                    if answer.status_code != 200:
                        raise SystemExit(f"/app/patients?q=...: {answer.status_code}")
        for client in (registrar, *doctors.values()):
            client.close()
    return times


# running ------------------------------------------------------------------------------------------------


@contextmanager
def database(home: Path | None) -> Iterator[tuple[str, bool]]:
    """(url, whether it already holds the data set)."""
    external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
    if external:
        yield external, False
        return
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        with embedded_database(home) as url:
            yield url, _has_sample(url)
        return
    with tempfile.TemporaryDirectory(prefix="medcard-sayt-") as tmp, embedded_database(Path(tmp)) as url:
        yield url, False


def _has_sample(url: str) -> bool:
    try:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT to_regclass('bench_sayt_sample')").fetchone() not in (None, (None,))
    except psycopg.Error:
        return False


def empty(url: str) -> None:
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN "
            "('alembic_version', 'icd10')").fetchall()]
        conn.execute(f"TRUNCATE {', '.join(tables)}")
        conn.execute("DROP TABLE IF EXISTS bench_sayt_sample")
        conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=2_000_000)
    parser.add_argument("--children", type=int, default=200, help="children looked for")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--home", type=Path, help="keep the embedded database here")
    parser.add_argument("--reuse", action="store_true", help="search the data set kept in --home")
    parser.add_argument("--port", type=int, default=18121, help="also time the page over HTTP on this port (0: no)")
    args = parser.parse_args()
    print(f"search as you type: {args.patients:,} patients, {args.children} children looked for; {machine()}",
          flush=True)
    with database(args.home) as (url, loaded):
        if args.reuse and loaded:
            children = sampled(url)
        else:
            empty(url)
            with tempfile.TemporaryDirectory(prefix="medcard-sayt-copy-", dir=args.home) as work:
                children = load(url, args.patients, args.children, Path(work))
        asyncio.run(audit_partitions(url))
        times = asyncio.run(measure(url, children[: args.children], args.rounds))
        if args.port:
            times |= measure_pages(url, args.port, children[: args.children])
        report(times)


if __name__ == "__main__":
    main()
