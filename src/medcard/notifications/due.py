"""Due dates a family is told of, once a day: a vaccination due within :data:`AHEAD` days, or overdue.

The vaccination worklist (``vaccination_due``, kept by the pediatrics domain with every write)
already holds, for every child and disease, the periods during which the next dose is overdue and
each period's due date. The daily scan takes the periods whose due date came within
:data:`AHEAD` days, or whose overdue start came, since the last day it ran: a missed day is caught
up, and a dose recorded meanwhile has already removed its period.
"""

from __future__ import annotations

from datetime import date, timedelta

from psycopg import AsyncConnection

from medcard.notifications import inbox, marks
from medcard.notifications.recipients import Recipients

MARK = "due"
AHEAD = 14  # days before a dose's due date that the family hears of it (ux.md §4)

_PERIODS = """
SELECT v.patient_id, v.disease, v.periods[i][1] AS start, v.periods[i][3] AS due
  FROM vaccination_due v, generate_subscripts(v.periods, 1) AS i
 WHERE (v.periods[i][3] > %(last)s::date + %(ahead)s AND v.periods[i][3] <= %(today)s::date + %(ahead)s)
    OR (v.periods[i][1] > %(last)s::date AND v.periods[i][1] <= %(today)s::date)
"""


async def scan(conn: AsyncConnection, today: date) -> int:
    """Add today's due and overdue vaccinations to the inboxes (once a day); returns how many were added."""
    taken, _, day = await marks.take(conn, MARK)
    if not taken or (day is not None and day >= today):
        return 0
    last = day if day is not None else today - timedelta(days=1)
    cur = await conn.execute(_PERIODS, {"last": last, "today": today, "ahead": AHEAD})
    periods = await cur.fetchall()
    recipients = Recipients(conn, today)
    await recipients.load(p[0] for p in periods)
    found = []
    for patient_id, disease, start, due in periods:
        accounts = await recipients.who_may_read(patient_id, "Immunization")
        if last < start <= today:
            found += [(a, patient_id, "vaccination-overdue", f"{disease}:{start.isoformat()}", start) for a in accounts]
        if last + timedelta(days=AHEAD) < due <= today + timedelta(days=AHEAD):
            found += [(a, patient_id, "vaccination-due", f"{disease}:{due.isoformat()}", due) for a in accounts]
    added = await inbox.add(conn, found)
    await marks.put(conn, MARK, day=today)
    return added
