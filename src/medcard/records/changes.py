"""What changed in a child's record since this clinician last opened the chart.

"Last opened" comes from the audit log: the clinician's (account's) latest successful opening of
this chart (an entry with ``query`` 'chart', written by :func:`.banner.open_record`); the chart
page links here naming the opening before its own, which is the one a clinician means. What
changed is read from the store by ``last_updated``: new or changed results, consultations,
diagnoses and documents (a consultation's note stands for its visit), in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.records import fhirview as fv
from medcard.records.ages import age_at
from medcard.records.banner import Banner, open_record
from medcard.records.names import load_names

LIMIT = 200
OPENED = "chart"  # the audit entry's query of a chart opening

# One account's latest opening of a chart, or the opening named (an entry id the chart page links with).
OPENING_SQL = """
SELECT a.id::text, a.recorded FROM audit_event a
 WHERE a.account_id = %(account)s AND a.patient_id = %(p)s AND a.subtype = 'read' AND a.outcome = '0'
   AND a.query = %(opened)s AND a.entity = 'Patient/' || %(p)s
   AND (%(opening)s::uuid IS NULL OR a.id = %(opening)s::uuid)
 ORDER BY a.recorded DESC LIMIT 1
"""

CHANGED_SQL = """
SELECT r.resource_type, r.id, r.last_updated, r.content FROM resource r
 WHERE r.patient_id = %(p)s AND r.resource_type = ANY(%(types)s) AND NOT r.deleted AND r.last_updated > %(since)s
 ORDER BY r.last_updated DESC LIMIT %(limit)s
"""
TYPES = ["DiagnosticReport", "Observation", "Condition", "DocumentReference", "Encounter"]
GROUPS = {"results": "Новые результаты", "consultations": "Консультации", "diagnoses": "Диагнозы",
          "documents": "Документы"}
CONSULT_NOTE = "11488-4"


@dataclass(frozen=True)
class Change:
    group: str
    rtype: str
    id: str
    changed: datetime
    day: date | None
    age: str
    title: str
    detail: str
    who: str

    @property
    def href(self) -> str:
        return fv.detail_path(self.rtype, self.id)


@dataclass
class Changes:
    banner: Banner
    since: datetime | None  # None: the chart was never opened by this person before
    since_opening: str = ""  # the audit entry of that opening
    groups: dict[str, list[Change]] = field(default_factory=dict)
    truncated: bool = False

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.groups.values())


async def previous_opening(conn: AsyncConnection, account_id: str | None, patient_id: str,
                           opening: str | None = None) -> tuple[str, datetime] | None:
    """(audit entry id, time) of this account's latest opening of the chart, or of the opening named, if it is
    this account's opening of this chart (None otherwise)."""
    if account_id is None:
        return None
    cur = await conn.execute(OPENING_SQL, {"account": account_id, "p": patient_id, "opened": OPENED,
                                           "opening": opening})
    row = await cur.fetchone()
    return (str(row[0]), row[1]) if row else None


async def load_changes(conn: AsyncConnection, gate: Gate, patient_id: str, today: date,
                       since_opening: str | None = None) -> Changes:
    """The changes since the requester's latest opening of the chart, or since the opening ``since_opening``
    (the chart links here with the opening before its own)."""
    previous = await previous_opening(conn, gate.requester.account_id, patient_id, since_opening)
    opened = await open_record(conn, gate, patient_id, today, purpose="changes")
    out = Changes(banner=opened.banner, since=previous[1] if previous else None,
                  since_opening=previous[0] if previous else "")
    if previous is None:
        return out
    cur = await conn.execute(CHANGED_SQL, {"p": patient_id, "types": TYPES, "since": previous[1], "limit": LIMIT + 1})
    rows = [(t, i, at, fv.parse(c)) for t, i, at, c in await cur.fetchall() if opened.shown(t, c)]
    out.truncated = len(rows) > LIMIT
    rows = rows[:LIMIT]
    names = await load_names(conn, [[r for *_, r in rows]])
    birth = opened.banner.birth_date
    noted = {key[1] for *_, r in rows if r.get("resourceType") == "DocumentReference"
             for ref in (r.get("context") or {}).get("encounter") or () if (key := fv.ref_key(ref))}
    for rtype, rid, at, resource in rows:
        if rtype == "Encounter" and rid in noted:
            continue  # its note says more, and is listed
        change = _change(rtype, rid, at, resource, birth, names.of)
        if change is not None:
            out.groups.setdefault(change.group, []).append(change)
    return out


def _change(rtype: str, rid: str, at: datetime, r: dict[str, Any], birth: date | None, name_of: Any) -> Change | None:
    day = fv.local_day(fv.when_of(r))
    age = age_at(birth, day)
    if rtype == "DiagnosticReport":
        return Change("results", rtype, rid, at, day, age, fv.text_of(r.get("code")) or "Исследование",
                      str(r.get("conclusion") or ""), next((name_of(p) for p in r.get("performer") or ()), ""))
    if rtype == "Observation":
        if fv.code_in(r.get("category"), "http://terminology.hl7.org/CodeSystem/observation-category") != "laboratory":
            return None
        code = fv.flag(r)
        return Change("results", rtype, rid, at, day, age, fv.text_of(r.get("code")) or "Показатель",
                      " ".join(x for x in (fv.value_text(r), fv.FLAG_TEXT.get(code, "")) if x), "")
    if rtype == "Condition":
        icd = fv.code_in(r.get("code"), fv.ICD10)
        title = fv.text_of(r.get("code")) or "Диагноз"
        return Change("diagnoses", rtype, rid, at, day, age, f"{icd} {title}" if icd else title,
                      fv.text_of(r.get("clinicalStatus")), name_of(r.get("recorder")))
    if rtype == "Encounter":
        service = fv.code_in(r.get("serviceType"), fv.SPECIALIST)
        if not service or service == "pediatrician" or r.get("partOf"):
            return None
        return Change("consultations", rtype, rid, at, day, age, fv.text_of(r.get("serviceType")),
                      fv.texts_of(r.get("reasonCode")), next((name_of(p.get("individual")) for p in
                                                               r.get("participant") or () if isinstance(p, dict)), ""))
    text = fv.attachment_text(r) if fv.code_in(r.get("type"), fv.LOINC) == CONSULT_NOTE else ""
    conclusion = fv.labelled(text, "Заключение:")
    group = "consultations" if conclusion else "documents"
    return Change(group, rtype, rid, at, day, age, str(r.get("description") or fv.text_of(r.get("type")) or "Документ"),
                  conclusion, next((name_of(a) for a in r.get("author") or ()), ""))
