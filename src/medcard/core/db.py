"""The database: a connection pool per process; the request or job owns the transaction.

Pooled connections are in autocommit mode: a read that is one statement costs one round trip,
and every write runs inside an explicit :meth:`Database.transaction`.

Durability: transactions commit durably (``synchronous_commit = on``, the WAL flushed to disk
before the commit returns). Statements on autocommit connections are reads and the audit rows of
reads; they are as durable as writes by default (the session's ``synchronous_commit`` is ``on``),
so a read is answered only once its audit row would survive a crash or a failover to a
synchronous standby. That costs a WAL flush per read (``bench/bench_audit_durability.py``; the
figures and the decision are in docs/security.md). ``durable_reads=False``
(MEDCARD_DURABLE_READ_AUDIT=false) sets the session's ``synchronous_commit`` to ``off`` instead
(transactions turn it on again): a crash of PostgreSQL or of its machine, or a failover, can then
lose the audit rows of the reads answered in the last 3 x ``wal_writer_delay`` (600 ms by
default). Either way an error writing a row fails its read.

Timeouts: the server's pool sets ``statement_timeout`` (MEDCARD_STATEMENT_TIMEOUT_SECONDS) on its
connections, so no request can keep PostgreSQL busy for longer; bulk jobs, migrations and
``rebuild-derived`` use pools or connections of their own without it.

Outages: when a connection breaks (PostgreSQL crashed, was stopped, or failed over), the pool is
closed at once and every caller gets :class:`DatabaseUnavailable` straight away (the API answers
503 with ``Retry-After``) instead of waiting for the pool's timeout, while a probe tries to
connect, 0.25 s apart at first and then up to 5 s apart. When it can, a new pool takes over.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2  # seconds a probe may take to connect (libpq's connect_timeout: whole seconds, at least 2)
FIRST_PAUSE, LONGEST_PAUSE = 0.25, 5.0  # between probes while the database is down
# SQLSTATEs that mean the server went away or cannot take connections, not that a statement failed:
# class 08 (connection exception) and admin shutdown, crash shutdown, cannot connect now.
_OUTAGE_STATES = ("57P01", "57P02", "57P03")


class DatabaseUnavailable(OperationalError):
    """The database is known to be down: said at once, without waiting for a connection."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the database is unavailable")
        self.retry_after = retry_after


def is_outage(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be reached (rather than that a statement failed)."""
    if isinstance(exc, DatabaseUnavailable | PoolTimeout | PoolClosed):
        return True
    if not isinstance(exc, OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _OUTAGE_STATES


class Database:
    """A pool of connections to one PostgreSQL database, which notices when the database goes away."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10,
                 statement_timeout: float | None = None, timeout: float = 30.0, durable_reads: bool = True) -> None:
        """``statement_timeout``: seconds any one statement may run (None: no limit, for bulk work);
        ``timeout``: how long a caller waits for a free connection while the database is up;
        ``durable_reads``: autocommit statements (reads' audit rows) wait for the WAL flush, as writes do."""
        self.url = url
        self.min_size, self.max_size, self.timeout = min_size, max_size, timeout
        self.statement_timeout = statement_timeout
        self.durable_reads = durable_reads
        self._pool = self._new_pool()
        self._recovery: asyncio.Task[None] | None = None  # runs while the database is down
        self._down_since = 0.0
        self._pause = FIRST_PAUSE
        self._probing = False
        self._background: set[asyncio.Task[None]] = set()

    @property
    def pool(self) -> AsyncConnectionPool:
        return self._pool

    def _new_pool(self) -> AsyncConnectionPool:
        return AsyncConnectionPool(
            self.url, min_size=self.min_size, max_size=self.max_size, open=False, configure=self._configure,
            kwargs={"autocommit": True}, name="medcard", timeout=self.timeout,
        )

    async def _configure(self, conn: AsyncConnection) -> None:
        # one round trip for all; synchronous_commit: see the module's docstring
        timeout = "0" if self.statement_timeout is None else f"{max(1, round(self.statement_timeout * 1000))}ms"
        await conn.execute(
            "SELECT set_config('application_name', 'medcard', false), set_config('TimeZone', 'UTC', false), "
            "set_config('synchronous_commit', %s, false), set_config('statement_timeout', %s, false)",
            ("on" if self.durable_reads else "off", timeout))

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
            self._recovery = None
        await self._pool.close()
        await asyncio.gather(*self._background, return_exceptions=True)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction: committed when the block ends, rolled back on error."""
        async with self._connection() as conn, conn.transaction():
            if not self.durable_reads:  # the session's is off; with durable reads it is on already
                await conn.execute("SET LOCAL synchronous_commit = on")
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection in autocommit mode, for reads that are a single statement (one round trip)."""
        async with self._connection() as conn:
            yield conn

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        if self._recovery is not None:
            raise DatabaseUnavailable(self._retry_after())
        pool = self._pool
        try:
            async with pool.connection() as conn:
                try:
                    yield conn
                except OperationalError as exc:
                    if conn.broken or is_outage(exc):
                        self._lost(pool, exc)
                    raise
        except PoolTimeout:
            # all connections busy, or none can be made: one probe at a time tells which
            if not self._probing:
                self._probing = True
                self._spawn(self._probe_after_timeout(pool))
            raise

    def _retry_after(self) -> int:
        return max(1, min(5, math.ceil(self._pause)))

    def _lost(self, pool: AsyncConnectionPool, exc: BaseException) -> None:
        """A connection of ``pool`` broke: stop handing out connections and probe until the database is back."""
        if pool is not self._pool or self._recovery is not None:
            return
        # the type only: libpq's message names hosts and paths, which the log does not need
        log.error("database connection lost (%s); answering 'unavailable' until it is back", type(exc).__name__)
        self._down_since = time.monotonic()
        self._pause = FIRST_PAUSE
        self._recovery = asyncio.get_running_loop().create_task(self._recover(), name="medcard-db-recovery")
        # callers waiting in the old pool fail at once (PoolClosed), not after its timeout
        self._spawn(pool.close())

    async def _recover(self) -> None:
        while True:
            await asyncio.sleep(self._pause)
            try:
                if await self._reopened():
                    log.warning("database available again after %.1f s", time.monotonic() - self._down_since)
                    return
            except Exception as exc:  # whatever goes wrong, keep trying: stopping would mean 503 for good
                log.error("reconnecting to the database failed (%s); trying again", type(exc).__name__)
            self._pause = min(self._pause * 2, LONGEST_PAUSE)

    async def _reopened(self) -> bool:
        """One attempt: a probe, then a new pool that takes over; whether it did."""
        if not await self._reachable():
            return False
        pool = self._new_pool()
        try:
            await pool.open(wait=True, timeout=self.timeout)
        except PoolTimeout:
            await pool.close()
            return False
        except BaseException:
            await pool.close()
            raise
        self._pool, self._recovery = pool, None
        return True

    async def _reachable(self) -> bool:
        try:
            conn = await AsyncConnection.connect(self.url, connect_timeout=PROBE_TIMEOUT)
        except OperationalError:
            return False
        await conn.close()
        return True

    async def _probe_after_timeout(self, pool: AsyncConnectionPool) -> None:
        try:
            if pool is self._pool and self._recovery is None and not await self._reachable():
                self._lost(pool, PoolTimeout())
        finally:
            self._probing = False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
