"""The doctor's inbox: results of the tests they ordered, abnormal first, and which of them they have seen.

A result is a DiagnosticReport (or a lone Observation) whose ``basedOn`` is a ServiceRequest whose
``requester`` is the practitioner (or one of their PractitionerRoles). Its values are the report's
``result`` Observations; a value is abnormal by its ``interpretation`` (v3-ObservationInterpretation:
H, L, A and their critical forms HH, LL, AA first). Marking a result seen writes a row of
``result_seen`` (who, which result, when) and an audit entry; a seen result leaves the inbox and
"my day"'s count.

Two queries list the inbox, whatever its length: the results with their patients and seen marks,
then the Observations of the reports; both carry the gate's search condition, and the list is
audited as a search (one entry per child shown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.core.errors import BadRequest, NotFound
from medcard.fhir import store
from medcard.fhir.search.conditions import SqlBuilder
from medcard.worklists.practice import Child, Practice

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CRITICAL = frozenset({"AA", "HH", "LL"})
ABNORMAL = CRITICAL | frozenset({"A", "H", "L", "HU", "LU", ">", "<", "POS", "DET", "R", "W"})
RESULT_TYPES = ("DiagnosticReport", "Observation")
RESULT_STATUSES = ("preliminary", "partial", "final", "amended", "corrected", "appended")
LIMIT = 300  # results listed at most; the total is counted whatever it is
SEEN_MISSING = "no such result"


@dataclass(frozen=True)
class Value:
    """One value of a result: its name, the value with unit, the reference range and the flag."""

    name: str
    value: str
    unit: str
    range: str
    flag: str | None  # interpretation code (H, L, ...), None when none is given

    @property
    def abnormal(self) -> bool:
        return self.flag in ABNORMAL


@dataclass(frozen=True)
class Result:
    resource_type: str
    id: str
    child: Child
    title: str
    issued: str | None  # the instant or date as recorded
    conclusion: str
    values: tuple[Value, ...]
    seen_at: datetime | None

    @property
    def level(self) -> int:
        """2: a critical value, 1: an abnormal value, 0: none."""
        flags = {v.flag for v in self.values}
        return 2 if flags & CRITICAL else 1 if flags & ABNORMAL else 0

    @property
    def abnormal_values(self) -> tuple[Value, ...]:
        return tuple(v for v in self.values if v.abnormal)


@dataclass(frozen=True)
class Inbox:
    total: int  # results listed (unseen, plus the recently seen when asked for)
    unseen: int
    results: tuple[Result, ...]


# The practitioner's orders, the results based on them, each with its patient and seen mark; the total
# counted before the limit.
RESULTS_SQL = """
WITH orders AS (
    SELECT i.resource_id FROM sp_reference i
     WHERE i.resource_type = 'ServiceRequest' AND i.param = 'requester'
       AND ((i.target_type = 'Practitioner' AND i.target_id = {me})
            OR (i.target_type = 'PractitionerRole' AND i.target_id = ANY({roles})))),
results AS (
    SELECT DISTINCT b.resource_type, b.resource_id FROM sp_reference b
     WHERE b.target_type = 'ServiceRequest' AND b.target_id IN (SELECT resource_id FROM orders)
       AND b.resource_type = ANY({types}) AND b.param = 'based-on')
SELECT r.resource_type, r.id, r.content, s.seen_at, p.content, count(*) OVER (), count(s.seen_at) OVER ()
  FROM results x
  JOIN resource r ON r.resource_type = x.resource_type AND r.id = x.resource_id AND NOT r.deleted
  JOIN resource p ON p.resource_type = 'Patient' AND p.id = r.patient_id AND NOT p.deleted
  LEFT JOIN result_seen s ON s.practitioner_id = {me} AND s.resource_type = r.resource_type AND s.resource_id = r.id
 WHERE EXISTS (SELECT 1 FROM sp_token t WHERE t.resource_type = r.resource_type AND t.resource_id = r.id
                  AND t.param = 'status' AND t.code = ANY({statuses}))
   AND (s.seen_at IS NULL OR s.seen_at >= {since}::timestamptz)
   AND {visible_r} AND {visible_p}
 ORDER BY s.seen_at IS NOT NULL, r.last_updated DESC
 LIMIT {limit}
"""

MEMBERS_SQL = """
SELECT r.id, r.content FROM resource r
 WHERE r.resource_type = 'Observation' AND r.id = ANY({ids}) AND NOT r.deleted AND {visible}
"""


async def inbox(conn: AsyncConnection, gate: Gate, practice: Practice, *, seen_since: datetime | None = None,
                query: str = "workspace: inbox") -> Inbox:
    """The practitioner's results not yet seen (and those seen since ``seen_since``), abnormal first."""
    if not practice.practitioner_id:
        return Inbox(0, 0, ())
    await gate.prepare_search()
    b = SqlBuilder()
    sql = RESULTS_SQL.format(
        me=b.bind(practice.practitioner_id), roles=b.bind(list(practice.role_ids)), types=b.bind(list(RESULT_TYPES)),
        statuses=b.bind(list(RESULT_STATUSES)), since=b.bind(seen_since),
        visible_r=gate.visible(b, "*", "r"), visible_p=gate.visible(b, "Patient", "p"), limit=b.bind(LIMIT))
    cur = await conn.execute(sql, b.params)
    rows = await cur.fetchall()
    total = int(rows[0][5]) if rows else 0
    seen = int(rows[0][6]) if rows else 0
    found = [(rtype, jsonutil.loads(content), seen_at, jsonutil.loads(patient))
             for rtype, _, content, seen_at, patient, _, _ in rows]
    members = await _members(conn, gate, [r for t, r, _, _ in found if t == "DiagnosticReport"])
    inside = {ref.removeprefix("Observation/") for _, r, _, _ in found for ref in _result_refs(r)}
    results = [_result(rtype, resource, seen_at, patient, members) for rtype, resource, seen_at, patient in found
               if not (rtype == "Observation" and resource.get("id") in inside)]  # shown within its report
    dropped = [r for t, r, seen_at, _ in found if t == "Observation" and r.get("id") in inside]
    dropped_unseen = sum(1 for t, r, seen_at, _ in found
                         if t == "Observation" and r.get("id") in inside and seen_at is None)
    results.sort(key=lambda r: (r.seen_at is not None, -r.level, _desc(r.issued)))
    gate.saw("search", "DiagnosticReport", query, [r.child.id for r in results])
    return Inbox(total - len(dropped), total - seen - dropped_unseen, tuple(results))


def _desc(issued: str | None) -> str:
    """A sort key putting later instants first (ISO text, compared character by character)."""
    return "".join(chr(0x10FFFF - ord(c)) for c in (issued or ""))


def _result_refs(report: dict[str, Any]) -> list[str]:
    return [ref["reference"] for ref in report.get("result", ())
            if isinstance(ref, dict) and isinstance(ref.get("reference"), str)
            and ref["reference"].startswith("Observation/")]


async def _members(conn: AsyncConnection, gate: Gate, reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Observations the reports list as their results, by id (one query)."""
    ids = sorted({ref.removeprefix("Observation/") for r in reports for ref in _result_refs(r)})
    if not ids:
        return {}
    b = SqlBuilder()
    sql = MEMBERS_SQL.format(ids=b.bind(ids), visible=gate.visible(b, "Observation", "r"))
    cur = await conn.execute(sql, b.params)
    return {str(rid): jsonutil.loads(content) for rid, content in await cur.fetchall()}


def _result(rtype: str, resource: dict[str, Any], seen_at: datetime | None, patient: dict[str, Any],
            members: dict[str, dict[str, Any]]) -> Result:
    if rtype == "DiagnosticReport":
        observations = [members[ref.removeprefix("Observation/")] for ref in _result_refs(resource)
                        if ref.removeprefix("Observation/") in members]
    else:
        observations = [resource]
    issued = resource.get("issued") or resource.get("effectiveDateTime")
    return Result(rtype, str(resource["id"]), Child.of(patient), concept_text(resource.get("code")),
                  issued if isinstance(issued, str) else None,
                  str(resource.get("conclusion") or ""), tuple(value_of(o) for o in observations), seen_at)


def concept_text(concept: Any) -> str:
    """The text of a CodeableConcept, else its first coding's display or code."""
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding", ()):
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _number(value: Any) -> str:
    """A decimal as a Russian reader writes it (a comma)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return ""
    return str(value).replace(".", ",")


def _flag(observation: dict[str, Any]) -> str | None:
    for concept in observation.get("interpretation", ()):
        for coding in (concept or {}).get("coding", ()):
            if coding.get("system") == INTERPRETATION and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return None


def value_of(observation: dict[str, Any]) -> Value:
    """One Observation as a line of a result: name, value, unit, range and flag."""
    quantity = observation.get("valueQuantity")
    unit = ""
    if isinstance(quantity, dict):
        text, unit = _number(quantity.get("value")), str(quantity.get("unit") or "")
    elif isinstance(observation.get("valueString"), str):
        text = observation["valueString"]
    else:
        text = concept_text(observation.get("valueCodeableConcept"))
    ranges = [r for r in observation.get("referenceRange", ()) if isinstance(r, dict)]
    span = ""
    if ranges:
        low, high = (_number((ranges[0].get(k) or {}).get("value")) for k in ("low", "high"))
        span = f"{low}–{high}" if low and high else f"≥ {low}" if low else f"≤ {high}" if high else \
            str(ranges[0].get("text") or "")
    return Value(concept_text(observation.get("code")), text, unit, span, _flag(observation))


MARK_SQL = """
INSERT INTO result_seen (practitioner_id, resource_type, resource_id, patient_id, account_id)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (practitioner_id, resource_type, resource_id) DO NOTHING
RETURNING seen_at
"""


async def mark_seen(conn: AsyncConnection, gate: Gate, practice: Practice, rtype: str, rid: str) -> bool:
    """Record that the practitioner saw a result (audited as a read of it); False when it was marked before.

    The result must be one the requester may read; any other answers exactly as a missing one.
    Marking twice (a double click, two tabs) keeps the first mark.
    """
    if rtype not in RESULT_TYPES:
        raise BadRequest(f"only results ({', '.join(RESULT_TYPES)}) are marked seen, not {rtype!r}")
    if not practice.practitioner_id or not gate.requester.account_id:
        raise BadRequest("only a practitioner's own account marks results seen")
    stored = await store.read_current(conn, rtype, rid)
    if stored is None or stored.deleted or stored.patient_id is None:
        raise NotFound(SEEN_MISSING)
    await gate.check(stored.patient_id, rtype, "read", entity=f"{rtype}/{rid}", subtype="operation",
                     query="workspace: mark result seen", content=stored.content, missing=SEEN_MISSING)
    cur = await conn.execute(MARK_SQL, (practice.practitioner_id, rtype, rid, stored.patient_id,
                                        gate.requester.account_id))
    return await cur.fetchone() is not None
