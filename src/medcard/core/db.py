"""The database: a connection pool per process; the request or job owns the transaction.

Pooled connections are in autocommit mode: a read that is one statement costs one round trip,
and every write runs inside an explicit :meth:`Database.transaction`.
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
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection in autocommit mode, for reads that are a single statement (one round trip)."""
        async with self.pool.connection() as conn:
            yield conn
