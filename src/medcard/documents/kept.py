"""Kept record books: which signed record book of a child may be served again, for which view.

A record book is rendered by WeasyPrint, whose memory grows with the book (docs/performance.md); an
unchanged record asked for again gets the book already issued. Every query on ``record_book`` lives
here; what a book depends on, and when a kept one is served, is documents/book.py's
:func:`~medcard.documents.book.kept_record_book`. One row per child and view: a new book for them
replaces it, and the caller deletes the superseded blob.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from psycopg import AsyncConnection


@dataclass(frozen=True)
class Kept:
    """A kept book: what it was built from (``inputs``), its registry code and its blob."""

    inputs: str
    code: str
    blob: str
    size: int


async def lock(conn: AsyncConnection, patient_id: str, view: str) -> None:
    """Serialize the building of one child's book for one view (two first requests render it once)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"record-book:{patient_id}:{view}",))


async def find(conn: AsyncConnection, patient_id: str, view: str) -> Kept | None:
    cur = await conn.execute("SELECT inputs, code, blob, size FROM record_book WHERE patient_id = %s AND view = %s",
                             (patient_id, view))
    row = await cur.fetchone()
    return Kept(*row) if row else None


async def keep(conn: AsyncConnection, patient_id: str, view: str, day: date, book: Kept) -> None:
    """Keep ``book`` as the child's book for this view (in the caller's transaction, with its registry entry)."""
    await conn.execute(
        "INSERT INTO record_book (patient_id, view, inputs, day, code, blob, size) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (patient_id, view) DO UPDATE SET inputs = excluded.inputs, day = excluded.day, "
        "code = excluded.code, blob = excluded.blob, size = excluded.size, kept_at = now()",
        (patient_id, view, book.inputs, day, book.code, book.blob, book.size))


async def stale(conn: AsyncConnection, before: date) -> list[str]:
    """Forget the books kept for days before ``before`` (a book prints its day: they are never served
    again); the blobs they leave, for the caller to delete once this commits."""
    cur = await conn.execute("DELETE FROM record_book WHERE day < %s RETURNING blob", (before,))
    return [str(row[0]) for row in await cur.fetchall()]
