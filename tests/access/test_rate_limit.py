"""The API rate limit of registered clients: shared by every server process through PostgreSQL, set
per client, with defaults by kind; 429 with Retry-After past it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from conftest import ServerThread
from helpers import bearer, create_account, person_token, run_db, system_token
from medcard.access import tokens
from medcard.access.throttle import SharedCounter, chunk
from medcard.config import Settings
from medcard.core.db import Database


def backend_token(url: str, rate_per_minute: int | None) -> str:
    """A token of a backend service registered with ``rate_per_minute``."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        client_id, _ = await tokens.register_client(conn, f"limited-{uuid.uuid4().hex[:8]}", "backend",
                                                    "system/*.rs", jwks={"keys": []},
                                                    rate_per_minute=rate_per_minute)
        return (await tokens.issue(conn, client_id, "system/*.rs", 60)).access_token

    return run_db(url, work)


def statuses(server: ServerThread, token: str, n: int) -> list[int]:
    with httpx.Client(base_url=server.base, headers=bearer(token), timeout=60) as client:
        return [client.get("/metadata").status_code for _ in range(n)]


@pytest.fixture(scope="module")
def second(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A second server on the same database, as a second process behind a load balancer would be."""
    with ServerThread(database_url, settings) as srv:
        yield srv


def test_a_clients_limit_holds_across_two_servers_on_one_database(server: ServerThread, second: ServerThread,
                                                                   database_url: str) -> None:
    token = backend_token(database_url, 5)
    minute = int(time.time() // 60)
    answers = [s for _ in range(6) for s in (statuses(server, token, 1)[0], statuses(second, token, 1)[0])]
    if int(time.time() // 60) == minute:
        # each server alone would have admitted 5 (the old per-process counter: 10 in all)
        assert answers == [200] * 5 + [429] * 7
    else:  # a new minute began during the requests: two budgets
        assert answers.count(200) <= 10, answers


def test_a_backend_service_at_the_default_is_not_throttled_by_a_burst(database_url: str,
                                                                      settings: Settings) -> None:
    """A backend's default is its kind's (60,000 a minute), not the people's (set low here)."""
    low = settings.model_copy(update={"api_rate_per_minute": 50})
    token = system_token(database_url)
    person = person_token(database_url, create_account(database_url, "family", "burst-parent"))
    with ServerThread(database_url, low) as srv, ThreadPoolExecutor(4) as pool:
        backend = [s for batch in pool.map(lambda _: statuses(srv, token, 100), range(4)) for s in batch]
        app = statuses(srv, person, 110)
    assert backend == [200] * 400
    assert 429 in app  # a person through an app has the people's default (110 > two minutes' budgets)


def test_a_client_registered_unlimited_is_never_counted(server: ServerThread, database_url: str) -> None:
    token = backend_token(database_url, 0)
    assert statuses(server, token, 30) == [200] * 30
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM api_rate").fetchone() == (0,)


# the shared counter itself, on a fixed clock -------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_two_processes_share_one_budget_and_reserve_it_in_chunks(database_url: str) -> None:
    clock = Clock(1_800_000_000.0)  # 2027-01-15T08:00:00Z, the start of a minute
    first, second = SharedCounter(clock=clock), SharedCounter(clock=clock)

    async def go() -> tuple[list[int | None], int, list[int | None], list[int | None]]:
        db = Database(database_url, min_size=1, max_size=2)
        await db.open()
        try:
            limit = 1000  # reserved 10 at a time
            together = [await (first if i % 2 else second).hit(db, "client:c", limit) for i in range(1100)]
            reservations = first.reservations + second.reservations
            clock.now += 59.5
            late = [await first.hit(db, "client:c", limit), await second.hit(db, "client:c", limit)]
            clock.now += 1  # the next minute
            fresh = [await first.hit(db, "client:c", limit), await second.hit(db, "client:c", limit)]
            clock.now += 60  # and the one after
            await first.hit(db, "client:c", limit)
            return together, reservations, late, fresh
        finally:
            await db.close()

    together, reservations, late, fresh = asyncio.run(go())
    assert together.count(None) == 1000
    assert together[-1] == 60  # Retry-After: seconds to the next minute
    assert late == [1, 1]
    assert fresh == [None, None]
    assert chunk(1000) == 10
    assert reservations == 1000 // 10 + 2  # a write per chunk (and one each to learn it is spent), not per request
    with psycopg.connect(database_url) as conn:
        minutes = conn.execute("SELECT minute FROM api_rate WHERE key = 'client:c' ORDER BY minute").fetchall()
    assert minutes == [(30_000_001,), (30_000_002,)]  # the minute before the last is forgotten


def test_a_busy_backend_costs_a_reservation_per_six_hundred_requests(database_url: str) -> None:
    counter = SharedCounter(clock=Clock(1_800_000_000.0))

    async def go() -> list[int | None]:
        db = Database(database_url, min_size=1, max_size=1)
        await db.open()
        try:
            return [await counter.hit(db, "client:busy", 60_000) for _ in range(3000)]
        finally:
            await db.close()

    assert asyncio.run(go()) == [None] * 3000
    assert counter.reservations == 5
