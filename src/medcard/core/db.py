"""The database: a connection pool per process; the request or job owns the transaction.

Pooled connections are in autocommit mode: a read that is one statement costs one round trip,
and every write runs inside an explicit :meth:`Database.transaction`.

Durability: transactions commit durably (``synchronous_commit = on``, the WAL flushed to disk
before the commit returns). Statements on autocommit connections are reads and the audit rows of
reads; they commit without waiting for the disk (``synchronous_commit = off`` on the session),
which makes recording a read about 0.3 ms cheaper. Only a crash of PostgreSQL itself within a
fraction of a second could lose such a row; an error writing it still fails the read.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)


async def _configure(conn: AsyncConnection) -> None:
    await conn.execute("SET application_name = 'medcard'")
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.execute("SET synchronous_commit = off")  # autocommit statements; transactions turn it on


class Database:
    """A pool of connections to one PostgreSQL database."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self.pool = AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, configure=_configure,
            kwargs={"autocommit": True}, name="medcard",
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction: committed when the block ends, rolled back on error."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = on")
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection in autocommit mode, for reads that are a single statement (one round trip)."""
        async with self.pool.connection() as conn:
            yield conn
