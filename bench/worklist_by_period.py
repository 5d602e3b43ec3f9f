"""The vaccination worklist's table as it was before migration 0013: one row per overdue period and holder.

The baseline of ``bench_worklist.py``: built beside the current table, from the same records, in the
same run, with the table, indexes, refresh and query of migrations 0005 and 0008 (under another
name), so that sizes, query times and write costs compare on the same data and the same minutes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from psycopg import AsyncConnection

from medcard.core import copytext, jsonutil
from medcard.pediatrics.vaccination_due import WATCHED, child_periods

TABLE = "bench_vaccination_due_by_period"
CREATE = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (
    patient_id text NOT NULL,
    holder text NOT NULL,
    organization_id text,
    disease text NOT NULL,
    dose_number integer,
    earliest date NOT NULL,
    due date NOT NULL,
    overdue date NOT NULL,
    overdue_during daterange NOT NULL,
    holder_key bigint NOT NULL GENERATED ALWAYS AS (hashtextextended(holder, 0)) STORED
);
CREATE INDEX {TABLE}_worklist_idx ON {TABLE} USING gist (holder_key, overdue_during);
CREATE INDEX {TABLE}_patient_idx ON {TABLE} (patient_id);
"""
_COLUMNS = "patient_id, holder, organization_id, disease, dose_number, earliest, due, overdue, overdue_during"
_READ = """SELECT r.resource_type, r.patient_id, r.content FROM resource r
            WHERE r.patient_id = ANY(%s) AND r.resource_type = ANY(%s) AND NOT r.deleted"""


def copy_text(records: Sequence[tuple[str, list[str], list[str]]]) -> str:
    """The old rows of several children: every period once for each holder."""
    lines = []
    for patient, immunizations, flags in records:
        child = child_periods(jsonutil.loads(patient), map(jsonutil.loads, immunizations), map(jsonutil.loads, flags))
        org = next((h.split("/", 1)[1] for h in child.holders if h.startswith("Organization/")), None)
        lines.append(copytext.rows("", [(child.patient_id, holder, org, p.disease, p.dose_number, p.earliest, p.due,
                                         p.overdue, f"[{p.start},{p.end})")
                                        for holder in child.holders for p in child.periods]))
    return "".join(lines)


async def refresh(conn: AsyncConnection, patient_ids: Collection[str]) -> None:
    """Recompute these patients' old rows, as the old code did (lock, read, delete, COPY)."""
    ids = sorted(set(patient_ids))
    await conn.execute("SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT hashtext(p) AS k "
                       "FROM unnest(%s::text[]) AS p) AS keys ORDER BY k", (60_006, ids))
    cur = await conn.execute(_READ, (ids, sorted(WATCHED)))
    by_patient: dict[str, dict[str, list[str]]] = {}
    for rtype, pid, content in await cur.fetchall():
        by_patient.setdefault(pid, {}).setdefault(rtype, []).append(content)
    text = copy_text([(patient, parts.get("Immunization", []), parts.get("Flag", []))
                      for parts in by_patient.values() for patient in parts.get("Patient", ())])
    async with conn.cursor() as c:
        await c.execute(f"DELETE FROM {TABLE} WHERE patient_id = ANY(%s)", (ids,))
        if text:
            async with c.copy(f"COPY {TABLE} ({_COLUMNS}) FROM STDIN") as copy:
                await copy.write(text)


async def rebuild(conn: AsyncConnection, chunk: int = 1000) -> int:
    """Every patient's old rows, a transaction per chunk (``conn`` in autocommit)."""
    done, after = 0, ""
    while True:
        cur = await conn.execute("SELECT id FROM resource WHERE resource_type = 'Patient' AND id > %s "
                                 "ORDER BY id LIMIT %s", (after, chunk))
        ids = [r[0] for r in await cur.fetchall()]
        if not ids:
            return done
        async with conn.transaction():
            await refresh(conn, ids)
        done, after = done + len(ids), ids[-1]


WORKLIST_SQL = f"""
WITH hits AS (
    SELECT v.patient_id, v.disease, v.dose_number, v.earliest, v.due, v.overdue FROM {TABLE} v
     WHERE v.holder_key = hashtextextended(%(holder)s, 0) AND v.holder = %(holder)s
       AND v.overdue_during @> %(on)s::date
       AND (%(org)s::text IS NULL OR v.organization_id = %(org)s)
       AND (%(diseases)s::text[] IS NULL OR v.disease = ANY(%(diseases)s))),
page AS (
    SELECT DISTINCT patient_id FROM hits WHERE patient_id > %(after)s ORDER BY patient_id LIMIT %(count)s)
SELECT c.total, x.* FROM (SELECT count(DISTINCT patient_id) AS total FROM hits) c
  LEFT JOIN LATERAL (
       SELECT h.patient_id, r.content, h.disease, h.dose_number, h.earliest, h.due, h.overdue
         FROM page p JOIN hits h ON h.patient_id = p.patient_id
         JOIN resource r ON r.resource_type = 'Patient' AND r.id = p.patient_id) x ON true
 ORDER BY x.patient_id, x.overdue, x.disease
"""


async def worklist(conn: AsyncConnection, holder: str, on: date, *, organization: str | None = None,
                   diseases: Sequence[str] | None = None, after: str = "", count: int = 100) -> list[Any]:
    """The old query's rows (total, patient, content, disease, dose number, earliest, due, overdue)."""
    cur = await conn.execute(WORKLIST_SQL, {"holder": holder, "on": on, "org": organization,
                                            "diseases": list(diseases) if diseases else None, "after": after,
                                            "count": count})
    return await cur.fetchall()
