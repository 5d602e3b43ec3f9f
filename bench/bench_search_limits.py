"""Benchmark: what the search limits bound, and what the request guards cost.

1. PostgreSQL's planning and execution time of a Patient search with N repetitions of ``family=``
   (each an AND-ed criterion), and with N comma-separated values of one ``family``, over a few
   thousand patients on the embedded PostgreSQL; the ratio is against one criterion, measured in
   the same run. This is why ``max_search_criteria`` is 20 and ``max_search_or_values`` 100.
   The SQL is the search engine's own (``engine._plan``), timed by ``EXPLAIN (ANALYZE)``.
2. The cost per request of the two middlewares of issue 14 (``InputGuard``: URL and header checks;
   ``CancelOnDisconnect``: a task per request watching for the client to go): an app that answers at
   once, called straight through ASGI with and without them in interleaved rounds; the difference
   is set against a read (``GET Patient/{id}``) through the whole app, measured in the same run.

    python bench/bench_search_limits.py [--quick]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchauth import backend_token
from medcard.app import create_app
from medcard.config import Settings
from medcard.core import jsonutil, migrate
from medcard.core.embedded import embedded_database
from medcard.fhir.api.disconnect import CancelOnDisconnect
from medcard.fhir.api.http import InputGuard
from medcard.fhir.search import engine, limits

LETTERS = "абвгдежзиклмнопрстуфхцчшэюя"


def family(i: int) -> str:
    return "".join(LETTERS[(i // 27**k) % 27] for k in range(4))


async def load(client: httpx.AsyncClient, patients: int) -> str:
    """``patients`` Patients with distinct surnames, in batches of 100; the id of the first."""
    first = ""
    for start in range(0, patients, 100):
        entries = [{"resource": {"resourceType": "Patient", "gender": "female", "birthDate": "2020-01-01",
                                 "name": [{"family": family(i), "given": ["Анна"]}]},
                    "request": {"method": "POST", "url": "Patient"}} for i in range(start, start + 100)]
        r = await client.post("", content=jsonutil.dumps({"resourceType": "Bundle", "type": "batch",
                                                          "entry": entries}))
        assert r.status_code == 200, r.text[:300]
        first = first or r.json()["entry"][0]["response"]["location"].split("/")[1]
    return first


def plan_and_run(url: str, pairs: list[tuple[str, str]], repeat: int) -> tuple[float, float]:
    """Median planning and execution time (ms) of the search's page query."""
    with limits.applied(limits.SearchLimits(10_000, 100_000)):
        _, plan = engine._plan(engine.SearchRequest("Patient", pairs, "http://bench/fhir/R4"))
    sql = (f"EXPLAIN (ANALYZE, SUMMARY, FORMAT JSON) SELECT r.id FROM {plan.source} WHERE {plan.where} "
           f"LIMIT {plan.count + 1}")
    planning, execution = [], []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(repeat):
            row = conn.execute(sql, plan.b.params).fetchone()
            assert row is not None
            planning.append(row[0][0]["Planning Time"])
            execution.append(row[0][0]["Execution Time"])
    return statistics.median(planning), statistics.median(execution)


def criteria_figures(url: str, quick: bool) -> None:
    print("Search criteria (Patient, family=, over the loaded patients): PostgreSQL time per search")
    print(f"  {'search':<34} {'planning ms':>12} {'execution ms':>13} {'total / 1 criterion':>20}")
    cases: list[tuple[str, list[tuple[str, str]]]] = []
    for n in (1, 5, 10, 20, 30) if quick else (1, 5, 10, 20, 30, 40, 50):
        cases.append((f"{n} AND-ed criteri{'on' if n == 1 else 'a'}", [("family", family(i)) for i in range(n)]))
    for n in (10, 100, 1000):
        cases.append((f"1 criterion of {n} OR values", [("family", ",".join(family(i) for i in range(n)))]))
    cases.append(("20 criteria of 100 OR values each",
                  [("family", ",".join(family(i * 100 + j) for j in range(100))) for i in range(20)]))
    base = None
    for name, pairs in cases:
        planning, execution = plan_and_run(url, pairs, 1 if len(pairs) > 30 else 3)
        total = planning + execution
        base = base or total
        print(f"  {name:<34} {planning:12.1f} {execution:13.1f} {total / base:19.1f}x")


async def _call(app: Any, scope: dict[str, Any]) -> None:
    """One request straight into an ASGI app, answered at once; receive behaves as uvicorn's does."""
    done = asyncio.Event()
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # until the response is complete (or the client goes)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    await app(scope, receive, send)


async def guard_figures(settings: Settings, client: httpx.AsyncClient, pid: str, rounds: int, per_round: int) -> None:
    print("Per-request cost of InputGuard and CancelOnDisconnect (ASGI calls in-process, interleaved rounds)")

    async def answer(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    apps = {"an app that answers at once": answer,
            "the same behind the two guards": InputGuard(CancelOnDisconnect(answer), settings)}
    path = f"/fhir/R4/Patient/{pid}"
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"_format=application%2Ffhir%2Bjson&_pretty=false", "root_path": "",
             "headers": [(b"host", b"bench"), (b"authorization", b"Bearer x" * 8), (b"accept", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    times: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            started = time.perf_counter()
            for _ in range(per_round):
                await _call(app, dict(scope))
                await asyncio.sleep(0)  # a turn of the loop, as a server takes between requests
            times[name].append((time.perf_counter() - started) / per_round * 1e6)
    bare, guarded = (statistics.median(times[name]) for name in apps)
    for name, value in zip(apps, (bare, guarded), strict=True):
        print(f"  {name:<34} {value:8.1f} us per request (median of {rounds} rounds of {per_round})")
    reads = []
    for _ in range(per_round):
        started = time.perf_counter()
        assert (await client.get(f"/Patient/{pid}")).status_code == 200
        reads.append((time.perf_counter() - started) * 1e6)
    read = statistics.median(reads)
    print(f"  {'a read, GET Patient/{id}, whole app':<34} {read:8.1f} us (median of {per_round})")
    print(f"  {'the guards / a read':<34} {(guarded - bare) / read:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer patients, cases and rounds")
    args = parser.parse_args()
    with embedded_database(Path(tempfile.mkdtemp()) / "home") as url:
        migrate.upgrade(url)
        token = backend_token(url)
        settings = Settings(database_url=url, home=Path(tempfile.mkdtemp()))
        app = create_app(settings, url)

        async def go() -> None:
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bench/fhir/R4",
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}) as c:
                pid = await load(c, 1000 if args.quick else 5000)
                criteria_figures(url, args.quick)
                await guard_figures(settings, c, pid, 5 if args.quick else 15, 500 if args.quick else 2000)

        asyncio.run(go())


if __name__ == "__main__":
    main()
