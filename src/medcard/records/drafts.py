"""Drafts of visit forms, kept on the server (``visit_draft``) so a closed tab or a lost connection loses
nothing: the form is saved as typed every few seconds and on each change, and re-opening the form for
the same child and kind of visit brings the draft back.

A draft lives ``MEDCARD_VISIT_DRAFT_DAYS`` (30 by default) after its last change: an older one is no
longer offered, and the background worker deletes it (:func:`purge`, docs/operations.md).

A draft belongs to the clinician who opened it; every query here carries the account, so no one reads
or writes another's draft. Each draft remembers the chart's version marker from when the form was
opened, which the save compares with the chart's version then (:mod:`medcard.records.visit_save`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from medcard.core import jsonutil
from medcard.fhir import store
from medcard.records.visit import Fields, Kind

MAX_DRAFT_CHARS = 200_000  # far above what the form's limits allow; refuses a runaway autosave
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DraftTooLarge(ValueError):
    """An autosave bigger than any form within its limits."""


@dataclass(frozen=True)
class Draft:
    key: str
    patient_id: str
    kind: Kind
    fields: Fields
    chart_version: str
    updated_at: datetime
    encounter_id: str | None


_COLUMNS = "id::text, patient_id, kind, fields, chart_version, updated_at, encounter_id"


def _draft(row: tuple[Any, ...]) -> Draft:
    fields = row[3] if isinstance(row[3], dict) else jsonutil.loads(row[3])
    return Draft(row[0], row[1], row[2], {k: [str(v) for v in vs] for k, vs in fields.items()}, row[4], row[5],
                 row[6])


def version_text(count: int, last: datetime | None) -> str:
    """The chart's version marker as kept in a draft: the record's size and its last change."""
    return f"{count}@{(last or _EPOCH).isoformat()}"


def version_time(marker: str) -> datetime:
    """When the record last changed, read back from a marker."""
    return datetime.fromisoformat(marker.partition("@")[2])


async def chart_version(conn: AsyncConnection, patient_id: str) -> str:
    """The chart's version marker now."""
    return version_text(*await store.record_version(conn, patient_id))


def _key(key: str) -> str | None:
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return None


async def open_draft(conn: AsyncConnection, account: str, patient_id: str, kind: Kind, since: datetime
                     ) -> Draft | None:
    """The clinician's latest unsaved draft of this kind of visit for the child, last changed after ``since``
    (an older one has expired: it is not offered, and :func:`purge` deletes it)."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM visit_draft WHERE account_id = %s AND patient_id = %s AND kind = %s"
        " AND encounter_id IS NULL AND updated_at > %s ORDER BY updated_at DESC LIMIT 1",
        (account, patient_id, kind, since))
    row = await cur.fetchone()
    return _draft(row) if row else None


async def create(conn: AsyncConnection, account: str, patient_id: str, kind: Kind, fields: Fields) -> Draft:
    """A new draft with the given fields and the chart's version now."""
    version = await chart_version(conn, patient_id)
    cur = await conn.execute(
        f"INSERT INTO visit_draft (id, account_id, patient_id, kind, fields, chart_version) VALUES"
        f" (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (uuid.uuid4(), account, patient_id, kind, Jsonb(fields), version))
    row = await cur.fetchone()
    assert row is not None
    return _draft(row)


async def get(conn: AsyncConnection, account: str, key: str, *, lock: bool = False) -> Draft | None:
    """The clinician's draft by its key (locked for the rest of the transaction with ``lock``)."""
    valid = _key(key)
    if valid is None:
        return None
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM visit_draft WHERE id = %s AND account_id = %s"
                             + (" FOR UPDATE" if lock else ""), (valid, account))
    row = await cur.fetchone()
    return _draft(row) if row else None


async def autosave(conn: AsyncConnection, account: str, key: str, patient_id: str, fields: Fields) -> bool:
    """Keep the form as typed; False when there is no such unsaved draft of the clinician for the child."""
    valid = _key(key)
    if valid is None:
        return False
    if len(jsonutil.dumps(fields)) > MAX_DRAFT_CHARS:
        raise DraftTooLarge(f"a draft holds at most {MAX_DRAFT_CHARS} characters")
    cur = await conn.execute(
        "UPDATE visit_draft SET fields = %s, updated_at = now() WHERE id = %s AND account_id = %s"
        " AND patient_id = %s AND encounter_id IS NULL", (Jsonb(fields), valid, account, patient_id))
    return cur.rowcount == 1


async def rebase(conn: AsyncConnection, key: str, version: str) -> None:
    """The clinician has been told what changed in the chart: later saves compare with this version."""
    await conn.execute("UPDATE visit_draft SET chart_version = %s WHERE id = %s", (version, key))


async def mark_saved(conn: AsyncConnection, key: str, encounter_id: str) -> None:
    """The draft became this Encounter: keep the link (a second submit finds it), drop the typed fields."""
    await conn.execute("UPDATE visit_draft SET encounter_id = %s, fields = '{}', updated_at = now() WHERE id = %s",
                       (encounter_id, key))


async def discard(conn: AsyncConnection, account: str, key: str) -> bool:
    """Delete the clinician's unsaved draft."""
    valid = _key(key)
    if valid is None:
        return False
    cur = await conn.execute("DELETE FROM visit_draft WHERE id = %s AND account_id = %s AND encounter_id IS NULL",
                             (valid, account))
    return cur.rowcount == 1


async def purge(conn: AsyncConnection, before: datetime) -> int:
    """Delete the drafts last changed before ``before``: unsaved ones expired, and saved ones whose only use,
    answering a repeated submit of the same form, is long past. How many were deleted."""
    cur = await conn.execute("DELETE FROM visit_draft WHERE updated_at < %s", (before,))
    return cur.rowcount
