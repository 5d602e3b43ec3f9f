"""Counting requests: sign-in throttling and single-use assertion ids (the ``rate_limit`` table), and
the API rate counters: shared across server processes for registered clients (``api_rate``), per
process for everyone else.

Every query on ``rate_limit`` and ``api_rate`` lives here. Sign-in counters live in the database so
that every server process sees the same count.

**The API limit of a client** (:class:`SharedCounter`) is a budget per minute shared by every server
process through PostgreSQL, without a write per request: a process reserves a chunk of the
minute's budget (1 % of the limit, at least 1 and at most 1,000 requests) with one UPSERT, admits
that many requests from memory, and reserves again when they are used. A process never admits
more than it reserved, so the processes together never admit more than the limit in a minute; a
chunk reserved by a process that then sees no more requests of that client is lost for the minute,
so a client may be refused up to one chunk per process early (1 % of its limit per process). A
client at 500 requests a second under a limit of 60,000 costs one UPSERT every 1.2 seconds per
process. Minutes are those of each process's clock (unix time / 60).

**Everyone else** (a person's session on medcard's own pages, requests without a live token) is
counted in each process (:class:`WindowCounter`): those keys are not registered anywhere and could
be invented at will, so they must not cost a write each; with N processes their effective limit is
at most N times the setting.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from psycopg import AsyncConnection

from medcard.core.db import Database

log = logging.getLogger(__name__)

_ONCE = "once:"  # keys of single-use values; their window_start holds the moment they may be forgotten


@dataclass(frozen=True)
class Count:
    count: int
    window_start: datetime


async def hit(conn: AsyncConnection, key: str, window_seconds: int) -> Count:
    """Count one event under ``key`` in a fixed window of ``window_seconds``; the count so far in the window."""
    cur = await conn.execute(
        "INSERT INTO rate_limit AS r (key, window_start, count) VALUES (%(k)s, now(), 1) ON CONFLICT (key) DO UPDATE "
        "SET window_start = CASE WHEN r.window_start <= now() - make_interval(secs => %(w)s) THEN now() "
        "ELSE r.window_start END, count = CASE WHEN r.window_start <= now() - make_interval(secs => %(w)s) THEN 1 "
        "ELSE r.count + 1 END RETURNING count, window_start", {"k": key, "w": window_seconds})
    row = await cur.fetchone()
    assert row is not None
    return Count(row[0], row[1])


async def first_use(conn: AsyncConnection, namespace: str, value: str, until: datetime) -> bool:
    """Whether ``value`` is used here for the first time; it is remembered until ``until``.

    Used for the ``jti`` of client assertions: an assertion replayed before it expires is refused.
    """
    key = _ONCE + namespace + ":" + hashlib.sha256(value.encode()).hexdigest()
    cur = await conn.execute(
        "INSERT INTO rate_limit (key, window_start, count) VALUES (%s, %s, 1) ON CONFLICT (key) DO NOTHING "
        "RETURNING 1", (key, until))
    return await cur.fetchone() is not None


async def sweep(conn: AsyncConnection, keep_seconds: int) -> None:
    """Forget single-use values past their time, and counters whose window ended long ago."""
    await conn.execute(
        "DELETE FROM rate_limit WHERE CASE WHEN starts_with(key, %s) THEN window_start < now() "
        "ELSE window_start < now() - make_interval(secs => %s) END", (_ONCE, keep_seconds))


class WindowCounter:
    """Fixed one-minute windows of requests per key, in this process.

    The number of keys held is capped: past the cap, new keys share one overflow counter, so a
    client inventing a new key per request (random bearer values) cannot grow memory, and is
    throttled together with the others that arrived after the cap.
    """

    def __init__(self, limit: int, *, window_seconds: int = 60, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, now: float | None = None) -> int | None:
        """Count a request; None when allowed, else the seconds until the window ends (for Retry-After)."""
        moment = time.time() if now is None else now
        window = int(moment // self.window_seconds)
        if window != self._window:
            self._window, self._counts = window, {}
        if key not in self._counts and len(self._counts) >= self.max_keys:
            key = "overflow"
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count <= self.limit:
            return None
        return retry_after(moment, self.window_seconds)


def retry_after(moment: float, window_seconds: int = 60) -> int:
    """Whole seconds from ``moment`` to the start of the next window (at least 1), for ``Retry-After``."""
    return max(1, int(window_seconds - moment % window_seconds + 0.999))


# the shared API budget of registered clients ------------------------------------------------


async def reserve(conn: AsyncConnection, minute: int, key: str, wanted: int, limit: int) -> int:
    """Reserve up to ``wanted`` requests of ``key``'s budget of ``limit`` in ``minute``; how many were granted
    (0 once the budget is spent)."""
    cur = await conn.execute(
        "INSERT INTO api_rate AS r (minute, key, count) VALUES (%(m)s, %(k)s, %(n)s) ON CONFLICT (minute, key) "
        "DO UPDATE SET count = r.count + %(n)s WHERE r.count < %(l)s RETURNING count",
        {"m": minute, "k": key, "n": wanted, "l": limit})
    row = await cur.fetchone()
    if row is None:
        return 0
    before = int(row[0]) - wanted  # the count this reservation found
    return max(0, min(wanted, limit - before))


async def forget_minutes_before(conn: AsyncConnection, minute: int) -> None:
    await conn.execute("DELETE FROM api_rate WHERE minute < %s", (minute,))


def chunk(limit: int) -> int:
    """How many requests a process reserves at once: 1 % of the limit, at least 1, at most 1,000."""
    return max(1, min(limit // 100, 1000))


@dataclass
class _Allowance:
    left: int = 0  # requests this process reserved and has not admitted yet, this minute
    spent: bool = False  # PostgreSQL granted less than asked: the minute's budget is used up
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SharedCounter:
    """Per-minute request budgets of registered clients, shared by every process through ``api_rate``.

    :meth:`hit` answers from memory while the process's reserved allowance lasts, and otherwise
    reserves the next chunk (one statement; concurrent requests of one key wait for the same
    reservation). Once PostgreSQL grants less than asked, the key is refused from memory for the
    rest of the minute, so a client past its limit costs no writes. If the reservation fails (the
    database is unreachable), the request is admitted with a chunk's allowance: the limiter never
    fails a request, and the request meets the outage itself.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.reservations = 0  # statements sent to PostgreSQL (for the benchmark)
        self._minute = -1
        self._allowances: dict[str, _Allowance] = {}
        self._forget = False

    async def hit(self, db: Database, key: str, limit: int) -> int | None:
        """Count a request of ``key`` under ``limit`` a minute; None when admitted, else the seconds until the
        next minute (for Retry-After)."""
        moment = self.clock()
        minute = int(moment // 60)
        if minute != self._minute:
            self._minute, self._allowances, self._forget = minute, {}, True
        allowance = self._allowances.get(key)
        if allowance is None:
            if len(self._allowances) >= self.max_keys:
                return None  # see docs/security.md: keys past the cap are not counted until the next minute
            allowance = self._allowances[key] = _Allowance()
        if allowance.left == 0 and not allowance.spent:
            async with allowance.lock:
                if allowance.left == 0 and not allowance.spent:
                    await self._reserve(db, minute, key, limit, allowance)
        if allowance.left > 0:
            allowance.left -= 1
            return None
        return retry_after(moment)

    async def _reserve(self, db: Database, minute: int, key: str, limit: int, allowance: _Allowance) -> None:
        wanted = chunk(limit)
        self.reservations += 1
        try:
            async with db.connection() as conn:
                if self._forget:
                    self._forget = False
                    await forget_minutes_before(conn, minute - 1)
                granted = await reserve(conn, minute, key, wanted, limit)
        except Exception as e:  # the limiter never fails a request: admit on a local allowance
            log.warning("API rate reservation failed (%s); admitting on a local allowance", type(e).__name__)
            granted = wanted
        allowance.left += granted
        allowance.spent = granted < wanted
