"""Where a scan got to, held under a row lock so that one worker at a time runs each scan."""

from __future__ import annotations

from datetime import date, datetime

from psycopg import AsyncConnection


async def take(conn: AsyncConnection, name: str) -> tuple[bool, datetime | None, date | None]:
    """Lock the scan's mark for this transaction: ``(taken, at, day)``; not taken when another
    worker holds it (that worker is running the scan now)."""
    await conn.execute("INSERT INTO notification_mark (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))
    cur = await conn.execute("SELECT at, day FROM notification_mark WHERE name = %s FOR UPDATE SKIP LOCKED", (name,))
    row = await cur.fetchone()
    if row is None:
        return False, None, None
    return True, row[0], row[1]


async def put(conn: AsyncConnection, name: str, *, at: datetime | None = None, day: date | None = None) -> None:
    await conn.execute("UPDATE notification_mark SET at = coalesce(%s, at), day = coalesce(%s, day) WHERE name = %s",
                       (at, day, name))
