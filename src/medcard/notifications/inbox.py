"""The inbox of a family account: notifications, what is unread per child, e-mail preference.

The portal's pages read these; :func:`add` is how the scans put an event in (once per account,
kind and key, whoever runs the scan and however often).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from psycopg import AsyncConnection

# The kinds of event, and what the inbox says of each (no diagnosis, no value).
KINDS: dict[str, dict[str, str]] = {
    "result": {"ru": "Новый результат исследования", "en": "A new test result"},
    "document": {"ru": "Новый документ", "en": "A new document"},
    "access": {"ru": "Изменён доступ к медкарте", "en": "Access to the record changed"},
    "vaccination-due": {"ru": "Скоро прививка", "en": "A vaccination is due soon"},
    "vaccination-overdue": {"ru": "Прививка просрочена", "en": "A vaccination is overdue"},
}


@dataclass(frozen=True)
class Notification:
    id: int
    patient_id: str
    kind: str
    key: str
    due_on: date | None
    created_at: datetime
    read_at: datetime | None

    def title(self, lang: str = "ru") -> str:
        return KINDS[self.kind]["en" if lang == "en" else "ru"]


async def add(conn: AsyncConnection, rows: Sequence[tuple[str, str, str, str, date | None]]) -> int:
    """Add events ``(account_id, patient_id, kind, key, due_on)`` not yet in their inboxes, and queue
    an e-mail for each new one whose account wants e-mail and has a confirmed address; returns how
    many were new."""
    if not rows:
        return 0
    unknown = {r[2] for r in rows} - KINDS.keys()
    if unknown:
        raise ValueError(f"unknown notification kinds: {sorted(unknown)}")
    cur = await conn.execute(
        """WITH new AS (
             INSERT INTO notification (account_id, patient_id, kind, key, due_on)
             SELECT a::uuid, p, k, y, d FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::date[])
                    AS e(a, p, k, y, d)
             ON CONFLICT (account_id, kind, key) DO NOTHING
             RETURNING id, account_id),
           mail AS (
             INSERT INTO notification_delivery (notification_id, channel)
             SELECT new.id, 'email' FROM new
               JOIN account a ON a.id = new.account_id
               LEFT JOIN notification_preference p ON p.account_id = new.account_id
              WHERE a.email IS NOT NULL AND a.email_verified AND coalesce(p.email, true))
           SELECT count(*) FROM new""",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
         [r[4] for r in rows]))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def listing(conn: AsyncConnection, account_id: str, *, limit: int = 50,
                  before: int | None = None) -> list[Notification]:
    """The account's notifications, newest first; ``before`` (an id) pages on."""
    cur = await conn.execute(
        "SELECT id, patient_id, kind, key, due_on, created_at, read_at FROM notification "
        "WHERE account_id = %s AND (%s::bigint IS NULL OR id < %s) ORDER BY id DESC LIMIT %s",
        (account_id, before, before, limit))
    return [Notification(*row) for row in await cur.fetchall()]


async def unread(conn: AsyncConnection, account_id: str) -> dict[str, dict[str, int]]:
    """Unread notifications per child and kind: ``{patient_id: {kind: count}}``."""
    cur = await conn.execute(
        "SELECT patient_id, kind, count(*) FROM notification WHERE account_id = %s AND read_at IS NULL "
        "GROUP BY patient_id, kind", (account_id,))
    counts: dict[str, dict[str, int]] = {}
    for patient_id, kind, n in await cur.fetchall():
        counts.setdefault(patient_id, {})[kind] = int(n)
    return counts


async def mark_read(conn: AsyncConnection, account_id: str, ids: list[int] | None = None, *,
                    patient_id: str | None = None) -> int:
    """Mark the account's notifications read: these ids, or all of one child, or all; returns how many."""
    cur = await conn.execute(
        "UPDATE notification SET read_at = now() WHERE account_id = %s AND read_at IS NULL "
        "AND (%s::bigint[] IS NULL OR id = ANY(%s::bigint[])) AND (%s::text IS NULL OR patient_id = %s)",
        (account_id, ids, ids, patient_id, patient_id))
    return cur.rowcount


async def wants_email(conn: AsyncConnection, account_id: str) -> bool:
    cur = await conn.execute("SELECT email FROM notification_preference WHERE account_id = %s", (account_id,))
    row = await cur.fetchone()
    return True if row is None else bool(row[0])


async def set_email(conn: AsyncConnection, account_id: str, enabled: bool) -> None:
    """Turn e-mail on or off for the account (messages already queued are dropped when turned off)."""
    await conn.execute(
        "INSERT INTO notification_preference (account_id, email) VALUES (%s, %s) "
        "ON CONFLICT (account_id) DO UPDATE SET email = excluded.email, updated_at = now()", (account_id, enabled))
    if not enabled:
        await conn.execute(
            "DELETE FROM notification_delivery d USING notification n WHERE d.notification_id = n.id "
            "AND n.account_id = %s AND d.status = 'queued'", (account_id,))
