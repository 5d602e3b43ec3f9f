"""Benchmark: the clinician's chart page (``/app/patients/{id}``) against ``$summary`` alone, on a city of
2,000 full histories and on a store with 10× the children.

Runs a real medcard server (uvicorn, one worker, its own process) on the embedded PostgreSQL (kept in
``--home`` between runs, so the city is generated and imported once) and drives it over HTTP on
loopback with keep-alive connections, signed in as a district pediatrician of every clinic (a session
made directly in the store). For a sample of full-history children, in the same run and interleaved:

- the chart page: its server time (the page's own ``Server-Timing``) and its latency on loopback,
  and its size;
- ``Patient/{id}/$summary`` through the FHIR API (the baseline: the one query the chart starts from,
  plus the API's authentication, gate and JSON), its latency on loopback.

Then it imports 18,000 more children (demographic only: a Patient each, no record, so the extra 9×
is *cheaper children*, not 9× the records) and measures again. The first paint of the chart in
headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright) when Playwright is installed.
Prints figures and ratios; asserts nothing.

    python bench/bench_workspace.py [--home DIR] [--children 2000] [--extra 18000] [--sample 150] [--port 18111]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchauth import backend_token
from medcard import domains
from medcard.access import accounts, sessions
from medcard.config import Settings
from medcard.core import migrate
from medcard.core.embedded import embedded_database
from medcard.fhir.bulk.cli import run_import
from medcard.synth import CitySize, write_ndjson

TODAY = date(2026, 11, 26)
PARTS = ("session", "gate", "chart", "audit", "render")  # the chart page's Server-Timing parts
DOCTOR = "bench-pediatrician"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, values: list[float], unit: str = "ms") -> dict[str, float]:
    out = {"p50": statistics.median(values), "p95": percentile(values, 0.95), "p99": percentile(values, 0.99)}
    print(f"  {name:<46} p50 {out['p50']:7.2f} {unit}   p95 {out['p95']:7.2f} {unit}   p99 {out['p99']:7.2f} {unit}")
    return out


# --- the city ----------------------------------------------------------------------------------------


def prepare(home: Path, children: int, extra: int) -> tuple[Path, Path]:
    """The city as NDJSON (generated once), split: full histories, and the extra demographic-only Patients."""
    city, full, more = home / "city", home / "city-full", home / "city-extra"
    if not (home / "city.done").exists():
        started = time.perf_counter()
        write_ndjson(city, 1, CitySize(children=children, clinics=3, demographic=extra), TODAY)
        print(f"generated the city in {time.perf_counter() - started:.0f} s", flush=True)
        (home / "city.done").touch()
    if not (home / "split.done").exists():
        full.mkdir(exist_ok=True)
        more.mkdir(exist_ok=True)
        for path in city.glob("*.ndjson"):
            if path.name != "Patient.ndjson":
                (full / path.name).unlink(missing_ok=True)
                (full / path.name).symlink_to(path)
        with (city / "Patient.ndjson").open("rb") as lines, (full / "Patient.ndjson").open("wb") as first, \
                (more / "Patient.ndjson").open("wb") as rest:
            for n, row in enumerate(lines):  # the writer puts the full-history children first
                (first if n < children else rest).write(row)
        (home / "split.done").touch()
    return full, more


def load(url: str, home: Path, folder: Path, mark: str) -> None:
    if (home / mark).exists():
        return
    started = time.perf_counter()
    code = run_import(url, [folder], on_error="stop", chunk=500, jobs=os.cpu_count() or 1)
    print(f"imported {folder.name} in {time.perf_counter() - started:.0f} s (exit {code})", flush=True)
    (home / mark).touch()


def remove_extra(url: str, home: Path, more: Path) -> None:
    """Take the extra children out again (``--again``), so that a second run measures the base store first."""
    if not (home / "extra.done").exists():
        return
    ids = [orjson.loads(row)["id"] for row in (more / "Patient.ndjson").read_bytes().splitlines() if row.strip()]
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'patient_id' "
            "AND table_schema = 'public' AND table_name IN (SELECT tablename FROM pg_tables)").fetchall()]
        for table in tables:
            conn.execute(f"DELETE FROM {table} WHERE patient_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM resource WHERE resource_type = 'Patient' AND id = ANY(%s)", (ids,))
        conn.execute("VACUUM ANALYZE")
    (home / "extra.done").unlink()
    print(f"removed the {len(ids):,} extra children", flush=True)


def counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        patients = conn.execute("SELECT count(*) FROM resource WHERE resource_type = 'Patient'").fetchone()
        resources = conn.execute("SELECT count(*) FROM resource").fetchone()
    assert patients is not None
    assert resources is not None
    return int(patients[0]), int(resources[0])


def sample(url: str, n: int) -> list[str]:
    """Full-history children (with a record), chosen at random but the same in both phases."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT DISTINCT patient_id FROM resource WHERE resource_type = 'Encounter' "
                            "ORDER BY 1").fetchall()
    ids = [r[0] for r in rows]
    random.Random(7).shuffle(ids)
    return ids[:n]


def session_cookie(url: str, settings: Settings) -> str:
    """A signed-in pediatrician of every clinic (a session made in the store, as a sign-in would)."""
    async def go() -> str:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute("SELECT id FROM resource WHERE resource_type = 'Organization' AND NOT deleted")
            clinics = [r[0] for r in await cur.fetchall()]
            account = await accounts.by_username(conn, DOCTOR)
            account_id = account.id if account else await accounts.create(
                conn, kind="staff", username=DOCTOR, display_name="Педиатр (бенчмарк)", password=None,
                roles=[("pediatrician", c) for c in clinics])
            session = await sessions.start(conn, settings, account_id, second_factor=True)
            await conn.commit()
            return session.value

    return asyncio.run(go())


# --- the server -------------------------------------------------------------------------------------


@contextmanager
def server(url: str, port: int) -> Iterator[str]:
    env = {**os.environ, "MEDCARD_DATABASE_URL": url, "MEDCARD_LOG_LEVEL": "warning",
           "MEDCARD_SECURE_COOKIES": "false",  # plain HTTP on loopback: the cookie without __Host-
           "MEDCARD_API_RATE_PER_MINUTE": "100000000", "MEDCARD_API_RATE_BACKEND_PER_MINUTE": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "medcard.app:create_app", "--port",
                             str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"], env=env)
    root = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{root}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield root
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Client:
    """A keep-alive HTTP/1.1 connection with little client-side overhead."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = headers

    def get(self, path: str) -> tuple[int, bytes, float, dict[str, str]]:
        started = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, (time.perf_counter() - started) * 1000, dict(response.getheaders())


def server_ms(headers: dict[str, str], name: str = "app") -> float:
    """One metric of the page's ``Server-Timing`` (``app``: the whole server time)."""
    timing = headers.get("Server-Timing") or headers.get("server-timing") or ""
    for metric in timing.split(","):
        key, _, dur = metric.strip().partition(";dur=")
        if key == name:
            return float(dur)
    return float("nan")


def measure(port: int, cookie: str, token: str, patients: list[str], rounds: int) -> dict[str, Any]:
    page = Client(port, {"Cookie": f"medcard_session={cookie}", "Accept": "text/html"})
    api = Client(port, {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
    for pid in patients[:20]:  # warm-up: code paths, plans, caches
        page.get(f"/app/patients/{pid}")
        api.get(f"/fhir/R4/Patient/{pid}/$summary")
    chart_server, chart_wall, summary_wall, sizes = [], [], [], []
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    for _ in range(rounds):
        for pid in patients:
            status, body, wall, headers = page.get(f"/app/patients/{pid}")
            assert status == 200, (status, body[:300])
            chart_server.append(server_ms(headers))
            for name in PARTS:
                parts[name].append(server_ms(headers, name))
            chart_wall.append(wall)
            sizes.append(len(body) / 1024)
            status, body, wall, _ = api.get(f"/fhir/R4/Patient/{pid}/$summary")
            assert status == 200, (status, body[:300])
            summary_wall.append(wall)
    out = {"chart_server": line("chart page, server time (Server-Timing)", chart_server),
           "chart_wall": line("chart page, latency on loopback", chart_wall),
           "summary_wall": line("$summary alone (FHIR API), latency on loopback", summary_wall),
           "size": line("chart page size", sizes, "KB")}
    for name in PARTS:
        line(f"  of which {name}", parts[name])
    ratio = out["chart_wall"]["p50"] / out["summary_wall"]["p50"]
    print(f"  chart page / $summary (p50 latency): {ratio:.2f}×")
    return out


def first_paint(root: str, cookie: str, patient: str) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("first paint: Playwright is not installed (pip install playwright); skipped")
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        context.add_cookies([{"name": "medcard_session", "value": cookie, "url": root}])
        page = context.new_page()
        paints = []
        for n in range(12):
            page.goto(f"{root}/app/patients/{patient}", wait_until="load")
            value = page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
            if n >= 2 and value:
                paints.append(float(value))
        browser.close()
    if not paints:  # Chromium reported no paint (seen once on a quiet machine): say so, keep the other figures
        print("first contentful paint, headless Chromium: no paint entry recorded; skipped")
        return
    line("first contentful paint, headless Chromium", paints)


def main() -> None:
    domains.install()  # as every entry point that writes does (the import keeps the worklist too)
    parser = argparse.ArgumentParser()
    default_home = Path(os.environ.get("MEDCARD_BENCH_HOME") or Path(tempfile.gettempdir()) / "medcard-bench-ws")
    parser.add_argument("--home", type=Path, default=default_home, help="where the city and its store are kept")
    parser.add_argument("--children", type=int, default=2000)
    parser.add_argument("--extra", type=int, default=18000)
    parser.add_argument("--sample", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port", type=int, default=18111)
    parser.add_argument("--prepare-only", action="store_true", help="generate and import the base city, then stop")
    parser.add_argument("--again", action="store_true", help="a run after the first: take the extra children out first")
    args = parser.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    full, more = prepare(args.home, args.children, args.extra)
    with embedded_database(args.home / "db") as url:
        migrate.upgrade(url)
        load(url, args.home, full, "full.done")
        if args.again:
            remove_extra(url, args.home, more)
        if args.prepare_only:
            return
        settings = Settings(home=args.home)
        patients = sample(url, args.sample)
        token = backend_token(url)
        results = {}
        for phase in ("base", "10x"):
            if phase == "10x":
                load(url, args.home, more, "extra.done")
            n_patients, n_resources = counts(url)
            print(f"\n{phase}: {n_patients:,} children, {n_resources:,} resources; "
                  f"{len(patients)} full-history charts × {args.rounds}", flush=True)
            cookie = session_cookie(url, settings)
            with server(url, args.port) as root:
                results[phase] = measure(args.port, cookie, token, patients, args.rounds)
                if phase == "base":
                    first_paint(root, cookie, patients[0])
        for key in ("p50", "p99"):
            ratio = results["10x"]["chart_server"][key] / results["base"]["chart_server"][key]
            print(f"chart page server time {key}, 10× store / base: {ratio:.2f}×")


if __name__ == "__main__":
    main()
