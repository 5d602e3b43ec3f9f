"""New things in a child's record a family is told of: a result, a document, a change of access.

The scan reads the resources written since its last run (``resource.last_updated``), from a
little before it: a transaction stamps its rows before it commits, so a row may appear after a
scan that already passed its time; the window's overlap (:data:`OVERLAP`) catches those, and the
inbox's uniqueness makes reading a row twice harmless. Only the current version of a resource is
looked at, and only events of the last :data:`RECENT` days: a bulk import of a child's history is
not news.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from medcard.access.policy import is_substance_use
from medcard.core import jsonutil
from medcard.notifications import inbox, marks
from medcard.notifications.recipients import Recipients

MARK = "events"
OVERLAP = timedelta(minutes=10)
RECENT = timedelta(days=30)
BATCH = 1000

# resource type -> (notification kind, the statuses at which it is news, the elements that date it)
WATCHED: dict[str, tuple[str, frozenset[str], tuple[str, ...]]] = {
    "DiagnosticReport": ("result", frozenset({"final", "amended", "corrected", "appended"}),
                         ("issued", "effectiveDateTime")),
    "DocumentReference": ("document", frozenset({"current"}), ("date",)),
    "Consent": ("access", frozenset({"active", "inactive", "rejected"}), ("dateTime",)),
}


async def scan(conn: AsyncConnection, now: datetime, today: date) -> int:
    """Add the events written up to ``now`` since the last scan to the inboxes; returns how many
    notifications were added. The first scan only sets the mark: what was there before is not news."""
    taken, at, _ = await marks.take(conn, MARK)
    if not taken:
        return 0
    if at is None:
        await marks.put(conn, MARK, at=now)
        return 0
    recipients, added = Recipients(conn, today), 0
    after: tuple[Any, ...] = (at - OVERLAP, "", "")
    while True:
        cur = await conn.execute(
            "SELECT last_updated, resource_type, id, version_id, patient_id, content FROM resource "
            "WHERE resource_type = ANY(%s) AND (last_updated, resource_type, id) > (%s, %s, %s) "
            "AND last_updated <= %s AND NOT deleted AND patient_id IS NOT NULL "
            "ORDER BY last_updated, resource_type, id LIMIT %s",
            (list(WATCHED), *after, now, BATCH))
        rows = await cur.fetchall()
        if not rows:
            break
        await recipients.load(r[4] for r in rows)
        found = []
        for _, rtype, rid, version, patient_id, content in rows:
            resource = jsonutil.loads(content)
            kind, statuses, dated_by = WATCHED[rtype]
            if resource.get("status") not in statuses or not _recent(resource, dated_by, today):
                continue
            key = f"{rtype}/{rid}/{version}" if kind == "access" else f"{rtype}/{rid}"
            for account_id in await recipients.who_may_read(patient_id, rtype,
                                                            substance_use=is_substance_use(resource)):
                found.append((account_id, patient_id, kind, key, None))
        added += await inbox.add(conn, found)
        after = rows[-1][:3]
        if len(rows) < BATCH:
            break
    await marks.put(conn, MARK, at=now)
    return added


def _recent(resource: dict[str, Any], dated_by: tuple[str, ...], today: date) -> bool:
    """Whether the event happened in the last :data:`RECENT` days (undated events are news)."""
    for element in dated_by:
        value = resource.get(element)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return date.fromisoformat(value[:10]) >= today - RECENT
            except ValueError:
                return True
    return True
