"""Benchmark: the family portal under 100 simulated parents, beside the FHIR API's reads in the same run.

Runs a real medcard server (uvicorn, 2 workers, its own process) on the embedded PostgreSQL with a
synthetic city, signs in 100 parents (each linked to one or two children) through the sign-in form,
and drives them with an asyncio + httpx load generator on loopback:

1. **Parents reading** (the target): each parent, in a loop with 1-5 s of "reading time" between pages
   (``--reading``; Locust's documented ``wait_time = between(1, 5)``; a parent reading a result or a
   vaccination plan takes longer, so this is a busy crowd), opens ``/my/``, a child's record, the
   documents and now and then a document's PDF. Pages' p50/p95/p99 (target p99 <= 150 ms), PDFs'
   apart, errors (target none) with their kinds, requests/s.
2. **Saturation, same concurrency, no reading time**: portal pages per second beside
   ``GET /fhir/R4/Patient/{id}`` per second by 100 backend clients — the FHIR read baseline.
3. **Page weight**: bytes transferred for each page on a first visit (HTML, styles, icons) and after
   (static files are cached for a year, so only the HTML). Targets 100 KB and 30 KB.

Locust is not used: it brings gevent, whose monkey-patching and per-user greenlets cost CPU on the
same two shared cores the server needs; 100 asyncio tasks on one httpx connection pool do the same
work for less. Prints figures; asserts nothing.

    python bench/bench_portal.py [--quick] [--parents 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchauth import backend_token
from medcard import domains
from medcard.access import accounts
from medcard.access.requester import Requester
from medcard.core import migrate
from medcard.core.embedded import embedded_database
from medcard.fhir.bulk.cli import run_import
from medcard.synth.writer import CitySize, write_ndjson

PASSWORD = "bench portal password"  # noqa: S105 - the benchmark's own throwaway accounts
TODAY = date(2026, 11, 26)
PAGE_P99_MS, FIRST_KB, AFTER_KB = 150.0, 100, 30


def city(url: str, children: int) -> list[str]:
    """A synthetic city loaded into the store; its children's ids."""
    with tempfile.TemporaryDirectory(prefix="medcard-bench-city-") as folder:
        write_ndjson(Path(folder), 7, CitySize(children, 2, 0), TODAY)
        run_import(url, [Path(folder)], on_error="stop", chunk=500, jobs=2)
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM resource WHERE resource_type = 'Patient' AND NOT deleted "
                                           "ORDER BY id").fetchall()]


def parents(url: str, children: list[str], n: int) -> list[str]:
    """``n`` parent accounts, each a legal representative of one or two children; their usernames."""
    async def go() -> list[str]:
        names = []
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for i in range(n):
                name = f"parent-{i}@bench.ru"
                account = await accounts.create(conn, kind="family", username=name, display_name=f"Родитель {i}",
                                                password=PASSWORD)
                for child in {children[i % len(children)], children[(i * 7 + 3) % len(children)]}:
                    await accounts.link(conn, Requester("system", "bench"), account, child, "parent", "bench")
                names.append(name)
            await conn.commit()
        return names

    return asyncio.run(go())


@contextmanager
def server(url: str, port: int, workers: int, home: Path | None) -> Iterator[str]:
    """A medcard server; its MEDCARD_HOME (the blob store of rendered PDFs) kept in ``home`` when given, as the
    database that records those PDFs is."""
    env = {**os.environ, "MEDCARD_DATABASE_URL": url, "MEDCARD_LOG_LEVEL": "warning", "MEDCARD_DB_POOL_MAX": "20",
           "MEDCARD_SECURE_COOKIES": "false", "MEDCARD_LOGIN_RATE_PER_ADDRESS": "100000",
           "MEDCARD_API_RATE_PER_MINUTE": "100000000", "MEDCARD_API_RATE_BACKEND_PER_MINUTE": "0",
           "MEDCARD_HOME": str(home) if home else tempfile.mkdtemp(prefix="medcard-bench-home-")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "medcard.app:create_app", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log"], env=env)
    root = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{root}/fhir/R4/metadata", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield root
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def sign_in(client: httpx.AsyncClient, username: str) -> list[str]:
    """Sign a parent in; the ids of the children on their start page."""
    form = (await client.get("/auth/login")).text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    done = await client.post("/auth/login", data={**{k: html.unescape(v) for k, v in hidden.items()},
                                                  "username": username, "password": PASSWORD})
    assert done.status_code == 303, done.text[:300]
    home = (await client.get("/my/")).text
    return sorted(set(re.findall(r'href="/my/children/([0-9a-f-]{36})"', home)))


class Stats:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.why: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, kind: str, seconds: float, ok: bool, why: str = "") -> None:
        self.times[kind].append(seconds * 1000)
        if not ok:
            self.errors[kind] += 1
            self.why[kind][why] += 1


async def timed(stats: Stats, kind: str, client: httpx.AsyncClient, path: str) -> httpx.Response | None:
    """One request, timed; a dropped connection or timeout counts as an error, and the parent goes on."""
    start = time.perf_counter()
    try:
        response = await client.get(path)
    except httpx.HTTPError as error:
        stats.add(kind, time.perf_counter() - start, False, type(error).__name__)
        return None
    stats.add(kind, time.perf_counter() - start, response.status_code == 200, f"HTTP {response.status_code}")
    return response


async def parent_loop(client: httpx.AsyncClient, kids: list[str], stats: Stats, until: float,
                      think: tuple[float, float] | None, rng: random.Random) -> None:
    docs: dict[str, list[str]] = {}
    if think:  # parents arrive over the first reading time, as Locust spawns users, not all in one instant
        await asyncio.sleep(rng.uniform(0, think[1]))
    while time.perf_counter() < until:
        kid = rng.choice(kids)
        steps = ["/my/", f"/my/children/{kid}", f"/my/children/{kid}/documents"]
        for path in steps:
            response = await timed(stats, "page", client, path)
            if response is not None and path.endswith("/documents"):
                docs[kid] = re.findall(r'/documents/([0-9a-f-]{36})/pdf', response.text)
            if think:
                await asyncio.sleep(rng.uniform(*think))
        if think and docs.get(kid) and rng.random() < 0.25:  # one visit in four downloads a document
            await timed(stats, "pdf", client, f"/my/children/{kid}/documents/{rng.choice(docs[kid][:5])}/pdf")


async def fhir_loop(client: httpx.AsyncClient, ids: list[str], stats: Stats, until: float, rng: random.Random) -> None:
    while time.perf_counter() < until:
        await timed(stats, "fhir", client, f"/fhir/R4/Patient/{rng.choice(ids)}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def report(label: str, stats: Stats, kind: str, seconds: float) -> dict[str, float]:
    t = stats.times[kind]
    figures = {"n": len(t), "rps": len(t) / seconds, "p50": statistics.median(t), "p95": pct(t, 95),
               "p99": pct(t, 99), "errors": stats.errors[kind]}
    why = ", ".join(f"{reason}: {n}" for reason, n in sorted(stats.why[kind].items()))
    print(f"  {label:<34} {figures['n']:6.0f} requests {figures['rps']:7.1f}/s  p50 {figures['p50']:6.1f} ms  "
          f"p95 {figures['p95']:6.1f} ms  p99 {figures['p99']:6.1f} ms  errors {figures['errors']}"
          + (f" ({why})" if why else ""))
    return figures


async def weight(client: httpx.AsyncClient, path: str) -> tuple[int, int]:
    """Bytes transferred for a page: first visit (HTML and every static file it links), and after."""
    page = await client.get(path)  # httpx asks for gzip, as browsers do; bytes are counted as they came
    first = page.num_bytes_downloaded + len(str(page.headers))
    for static in sorted(set(re.findall(r'(?:href|src)="(/static/[^"]+|/manifest.webmanifest)"', page.text))):
        got = await client.get(html.unescape(static))
        first += got.num_bytes_downloaded + len(str(got.headers))
    return first, page.num_bytes_downloaded + len(str(page.headers))


async def drive(root: str, usernames: list[str], patient_ids: list[str], token: str, seconds: float,
                pause: tuple[float, float]) -> None:
    # idle connections are dropped before the server's keep-alive timeout (5 s) ends them under a request, as a
    # browser retries such a request on a new connection without showing an error
    limits = httpx.Limits(max_connections=len(usernames) + 10, max_keepalive_connections=len(usernames) + 10,
                          keepalive_expiry=4.0)
    clients = [httpx.AsyncClient(base_url=root, timeout=60, limits=limits) for _ in usernames]
    gate = asyncio.Semaphore(2)  # a password check (Argon2) is made to be slow: not 100 at once

    async def one(client: httpx.AsyncClient, username: str) -> list[str]:
        async with gate:
            return await sign_in(client, username)

    kids = await asyncio.gather(*(one(c, u) for c, u in zip(clients, usernames, strict=True)))
    print(f"{len(clients)} parents signed in ({sum(map(len, kids))} children's cards)")
    rng = random.Random(17)

    print(f"1. parents reading, {pause[0]:g}-{pause[1]:g} s between pages, {seconds:.0f} s:")
    stats = Stats()
    until = time.perf_counter() + seconds
    await asyncio.gather(*(parent_loop(c, k, stats, until, pause, random.Random(rng.random()))
                           for c, k in zip(clients, kids, strict=True)))
    reading = report("portal pages", stats, "page", seconds)
    if stats.times["pdf"]:
        report("document PDFs", stats, "pdf", seconds)

    print(f"2. saturation, {len(clients)} clients, no reading time, {seconds / 2:.0f} s each:")
    stats = Stats()
    until = time.perf_counter() + seconds / 2
    await asyncio.gather(*(parent_loop(c, k, stats, until, None, random.Random(rng.random()))
                           for c, k in zip(clients, kids, strict=True)))
    pages = report("portal pages", stats, "page", seconds / 2)
    fhir_clients = [httpx.AsyncClient(base_url=root, timeout=60, limits=limits,
                                      headers={"Authorization": f"Bearer {token}",
                                               "Accept": "application/fhir+json"}) for _ in usernames]
    stats = Stats()
    until = time.perf_counter() + seconds / 2
    await asyncio.gather(*(fhir_loop(c, patient_ids, stats, until, random.Random(rng.random())) for c in fhir_clients))
    fhir = report("FHIR read Patient/{id} (baseline)", stats, "fhir", seconds / 2)
    print(f"  portal pages/s : FHIR reads/s = {pages['rps'] / fhir['rps']:.2f}")

    print("3. page weight (bytes transferred, gzip accepted as browsers do):")
    kid = kids[0][0]
    heaviest = (0, 0)
    for path in ("/my/", f"/my/children/{kid}", f"/my/children/{kid}/documents"):
        first, after = await weight(clients[0], path)
        heaviest = max(heaviest, (first, after))
        print(f"  {path.replace(kid, '{id}'):<32} first visit {first / 1024:6.1f} KB   after {after / 1024:6.1f} KB")

    ok = reading["p99"] <= PAGE_P99_MS and reading["errors"] == 0
    print(f"targets: pages p99 <= {PAGE_P99_MS:.0f} ms with no errors: {'met' if ok else 'NOT met'} "
          f"({reading['p99']:.0f} ms, {reading['errors']} errors); first visit <= {FIRST_KB} KB: "
          f"{'met' if heaviest[0] <= FIRST_KB * 1024 else 'NOT met'}; after <= {AFTER_KB} KB: "
          f"{'met' if max(w for w in (heaviest[1],)) <= AFTER_KB * 1024 else 'NOT met'}")
    for c in clients + fhir_clients:
        await c.aclose()


def kept(url: str, parents_wanted: int) -> tuple[list[str], list[str]] | None:
    """The children and parents of a city made by an earlier run in the same ``--home`` (None: none yet)."""
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute("SELECT username FROM account WHERE username LIKE %s ORDER BY created_at",
                                            ("parent-%@bench.ru",)).fetchall()]
        ids = [r[0] for r in conn.execute("SELECT id FROM resource WHERE resource_type = 'Patient' AND NOT deleted "
                                          "ORDER BY id").fetchall()]
    return (ids, names[:parents_wanted]) if len(names) >= parents_wanted else None


def run(url: str, args: argparse.Namespace) -> None:
    domains.install()  # as every entry point that writes does
    migrate.upgrade(url)
    started = time.perf_counter()
    again = kept(url, args.parents) if args.home else None
    if again:
        ids, usernames = again
    else:
        ids = city(url, args.children)
        usernames = parents(url, ids, args.parents)
    print(f"city: {len(ids)} children, {args.parents} parents, made in {time.perf_counter() - started:.0f} s")
    token = backend_token(url)
    with server(url, args.port, 2, args.home / "server" if args.home else None) as root:
        asyncio.run(drive(root, usernames, ids, token, args.seconds, args.reading))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 parents, 10 s")
    parser.add_argument("--parents", type=int, default=100)
    parser.add_argument("--children", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=18181)
    parser.add_argument("--reading", type=lambda v: tuple(float(x) for x in v.split(",")), default=(1.0, 5.0),
                        help="a parent's reading time between pages, LOW,HIGH seconds (default 1,5)")
    parser.add_argument("--home", type=Path, help="keep the embedded database here; a second run reuses its city")
    args = parser.parse_args()
    if args.quick:
        args.parents, args.children, args.seconds = 20, 30, 10.0
    external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
    if external:
        run(external, args)
        return
    if args.home:
        args.home.mkdir(parents=True, exist_ok=True)
        with embedded_database(args.home) as url:
            run(url, args)
        return
    with tempfile.TemporaryDirectory(prefix="medcard-bench-") as home, embedded_database(Path(home)) as url:
        run(url, args)


if __name__ == "__main__":
    main()
