"""Counting requests: sign-in throttling and single-use assertion ids (the ``rate_limit`` table), and
the in-process API rate counter.

Every query on ``rate_limit`` lives here. Sign-in counters live in the database so that every
server process sees the same count; the API counter lives in each process, which is enough to
stop one runaway client from starving the others (with N processes the effective limit is at
most N times the setting).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

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
        return max(1, int((window + 1) * self.window_seconds - moment + 0.999))
