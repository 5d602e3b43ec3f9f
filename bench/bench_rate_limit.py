"""Benchmark: what the API rate limit costs a request, shared across processes versus per process.

Drives the rate-limiting middleware (``access.hardening.Hardening``) in process, around an ASGI app
that answers at once, with 4 concurrent request streams on one event loop (as uvicorn runs them),
on the embedded PostgreSQL (or MEDCARD_BENCH_DATABASE_URL). Cases:

- no limit: a path the limiter skips (``/healthz``): the middleware's own cost, the floor;
- per-process counter: a session cookie, counted in memory (``WindowCounter``, its limit raised
  so that nothing is refused) — the counter every request used before the limit was shared (the
  baseline of the ratios);
- shared, backend at its default (60,000 a minute: reserved 600 at a time);
- shared, a person through an app at the people's default (6,000 a minute: reserved 60 at a time);
- shared, an UPSERT per request (the same counter with reservations of 1): the simple design
  the chunks avoid.

Prints microseconds a request, the ratio to the per-process counter, and the statements sent to
PostgreSQL per 1,000 requests. Asserts nothing.

    python bench/bench_rate_limit.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg

from medcard.access import accounts, throttle, tokens
from medcard.access.hardening import Hardening
from medcard.config import Settings
from medcard.core import migrate
from medcard.core.db import Database
from medcard.core.embedded import embedded_database

STREAMS = 4


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def database() -> Iterator[str]:
    external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
    if external:
        migrate.upgrade(external)
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="medcard-bench-rate-") as home, embedded_database(Path(home)) as url:
        migrate.upgrade(url)
        yield url


async def _tokens(url: str) -> dict[str, str]:
    """A backend service's token and a person's token through a public app, each client at its default."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        backend, _ = await tokens.register_client(conn, f"bench-{uuid.uuid4()}", "backend", "system/*.rs",
                                                  jwks={"keys": []})
        app, _ = await tokens.register_client(conn, f"bench-app-{uuid.uuid4()}", "public", "user/*.rs",
                                              redirect_uris=["http://127.0.0.1/cb"])
        person = await accounts.create(conn, kind="family", username=f"bench-{uuid.uuid4()}", display_name="Bench")
        out = {"backend": (await tokens.issue(conn, backend, "system/*.rs", 60)).access_token,
               "person": (await tokens.issue(conn, app, "user/*.rs", 60, account_id=person)).access_token}
        await conn.commit()
        return out


def _one(limit: int) -> int:
    """Reservations of one request: an UPSERT per request."""
    return 1


def _scope(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "scheme": "http", "headers": headers,
            "client": ("127.0.0.1", 40000), "app": app}


async def _run(middleware: Hardening, scope: dict[str, Any], n: int) -> tuple[float, int]:
    """Seconds a request (wall time over ``STREAMS`` concurrent streams) and how many were refused."""
    refused = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal refused
        if message["type"] == "http.response.start" and message["status"] == 429:
            refused += 1

    async def stream(count: int) -> None:
        for _ in range(count):
            await middleware(dict(scope), receive, send)

    started = time.perf_counter()
    await asyncio.gather(*(stream(n // STREAMS) for _ in range(STREAMS)))
    return (time.perf_counter() - started) / n, refused


async def bench(url: str, n: int, rounds: int) -> None:
    settings = Settings(database_url=url, home=Path(tempfile.gettempdir()))
    db = Database(url, min_size=2, max_size=4)
    await db.open()
    app = SimpleNamespace(state=SimpleNamespace(db=db))
    issued = await _tokens(url)
    backend = [(b"authorization", b"Bearer " + issued["backend"].encode())]
    person = [(b"authorization", b"Bearer " + issued["person"].encode())]
    cases = [  # name, path, headers, requests (a person's budget is 6,000 a minute), reservations of 1
        ("no limit (/healthz, the middleware alone)", "/healthz", [], n, False),
        ("per-process counter (a session; before)", "/fhir/R4/session",
         [(b"cookie", b"medcard_session=bench")], n, False),
        ("shared: backend at 60,000/min (chunks of 600)", "/fhir/R4/metadata", backend, n, False),
        ("shared: a person via an app at 6,000/min (chunks of 60)", "/fhir/R4/metadata", person, min(n, 5000),
         False),
        ("shared: an UPSERT per request (chunks of 1)", "/fhir/R4/metadata", backend, n, True),
    ]
    print(f"{n:,} requests a case in {STREAMS} concurrent streams, best of {rounds} rounds; "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    results: list[tuple[str, float, float, int]] = []
    chunk = throttle.chunk
    for name, path, headers, count, one_by_one in cases:
        best, statements, refused = float("inf"), 0.0, 0
        throttle.chunk = _one if one_by_one else chunk  # type: ignore[assignment]
        for _ in range(rounds):
            # A fresh middleware (counters, token cache) per round, on a fresh minute's rows.
            async with db.connection() as conn:
                await conn.execute("TRUNCATE api_rate")
            unthrottled = path == "/fhir/R4/session"  # the baseline: counted, never refused
            middleware = Hardening(_answer, settings.model_copy(update={"api_rate_per_minute": 10**9})
                                   if unthrottled else settings)
            seconds, refused = await _run(middleware, _scope(app, path, headers), count)
            if seconds < best:
                best, statements = seconds, 1000 * middleware.shared.reservations / count
        throttle.chunk = chunk  # type: ignore[assignment]
        results.append((name, best, statements, refused))
    await db.close()
    baseline = results[1][1]
    for name, seconds, statements, refused in results:
        note = f"  ({refused} refused)" if refused else ""
        print(f"  {name:<58} {seconds * 1e6:8.1f} µs   ×{seconds / baseline:5.2f}   "
              f"{statements:7.1f} statements / 1,000 requests{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args()
    n, rounds = (2_000, 1) if args.quick else (20_000, 3)
    with database() as url:
        asyncio.run(bench(url, n, rounds))


if __name__ == "__main__":
    sys.exit(main())
