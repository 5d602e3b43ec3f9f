"""The audit log: every read, search, write and export of patient data, and every refusal.

Entries are rows of ``audit_event`` (partitioned by month, append-only: a trigger refuses UPDATE
and DELETE) written in the same transaction as the work they record; a read is not served when
its entry cannot be written. They are shown as FHIR AuditEvent resources (``AuditEvent?patient=``),
through the policy, so a family can see who opened their child's record.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import AsyncConnection

from medcard.access.requester import Requester
from medcard.core.time import fhir_instant

OUTCOME_SUCCESS, OUTCOME_REFUSED, OUTCOME_FAILED = "0", "4", "8"
ACTIONS = {"read": "R", "vread": "R", "search": "E", "history": "R", "create": "C", "update": "U", "patch": "U",
           "delete": "D", "export": "E", "operation": "E", "login": "E"}
RESTFUL = "http://hl7.org/fhir/restful-interaction"
# The id and the time of an entry are PostgreSQL's (gen_random_uuid(), now(): the start of the
# transaction the entry is written in, the request's own for a write): no Python work per entry.
_COLUMNS = ("id", "recorded", "patient_id", "action", "subtype", "outcome", "account_id", "agent_name",
            "agent_role", "client_id", "on_behalf_of", "entity", "query", "purpose", "source", "break_glass", "detail")
_GIVEN = _COLUMNS[2:]  # the columns an entry gives
_TYPES = ("text", "text", "text", "text", "uuid", "text", "text", "text", "text", "text", "text", "text", "text",
          "text", "text")
_INSERT_ONE = (f"INSERT INTO audit_event ({', '.join(_COLUMNS)}) VALUES (gen_random_uuid(), now(), "
               + ", ".join(f"%s::{t}" for t in _TYPES) + ")")
# Entries of one requester (a request's): what describes the requester is given once, as scalars, and
# only what varies by entry goes as arrays, in binary (%b: psycopg dumps them several times faster
# than as array text, measured); a transaction of 100 writes dumps 7 arrays, not 15.
_BY_ENTRY = (0, 1, 2, 3, 9, 10, 14)  # patient_id, action, subtype, outcome, entity, query, detail
_SELECTED = ", ".join(f"u.c{i}" if i in _BY_ENTRY else f"%s::{t}" for i, t in enumerate(_TYPES))
_INSERT_MANY = (
    f"INSERT INTO audit_event ({', '.join(_COLUMNS)}) SELECT gen_random_uuid(), now(), {_SELECTED} FROM unnest("
    + ", ".join(f"%b::{_TYPES[i]}[]" for i in _BY_ENTRY) + f") AS u({', '.join(f'c{i}' for i in _BY_ENTRY)})")


@dataclass(slots=True)
class AuditEntry:
    """One event: who (requester) did what (subtype, entity) to whose record (patient), with what outcome."""

    requester: Requester
    subtype: str  # read, vread, search, create, update, patch, delete, history, export, operation
    outcome: str = OUTCOME_SUCCESS
    patient_id: str | None = None
    entity: str | None = None  # Type/id, or Type for a search
    query: str | None = None
    detail: str | None = None

    def row(self) -> tuple[Any, ...]:
        """The values of the columns after id and recorded."""
        r = self.requester
        purpose = "ETREAT" if r.break_glass else r.purpose
        return (self.patient_id, ACTIONS.get(self.subtype, "E"), self.subtype, self.outcome,
                r.account_id, r.name, r.audit_role, r.client_id, None, self.entity, self.query, purpose, r.source,
                r.break_glass, self.detail)


async def record(conn: AsyncConnection, entries: list[AuditEntry]) -> None:
    """Append entries in one statement (per requester: a request has one), in the caller's transaction.

    The entries of a write commit with it, durably. The entries of a read go on the read's
    autocommit connection, durably too unless MEDCARD_DURABLE_READ_AUDIT is off (see ``core/db.py``):
    the read is answered only after PostgreSQL accepted them.
    """
    if not entries:
        return
    if len(entries) == 1:  # a read's one entry: scalar parameters cost psycopg less than arrays (measured)
        await conn.execute(_INSERT_ONE, entries[0].row())
        return
    # A statement of fixed text whatever the number of entries: psycopg parses it once, where a
    # VALUES list of hundreds of rows would be parsed again every time.
    by_requester: dict[int, list[tuple[Any, ...]]] = {}
    for e in entries:
        by_requester.setdefault(id(e.requester), []).append(e.row())
    for rows in by_requester.values():
        scalars = [rows[0][i] for i in range(len(_GIVEN)) if i not in _BY_ENTRY]
        await conn.execute(_INSERT_MANY, [*scalars, *([r[i] for r in rows] for i in _BY_ENTRY)])


async def ensure_partitions(conn: AsyncConnection, today: date, months_ahead: int = 3) -> None:
    """Create the monthly partitions from this month on (rows outside them land in the default one).

    Run at every start of the server and the worker, in a transaction of its own; the advisory
    lock lets several processes start at once.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('medcard:audit-partitions', 0))")
    year, month = today.year, today.month
    for _ in range(months_ahead + 1):
        nxt = (year + month // 12, month % 12 + 1)
        name = f"audit_event_{year}_{month:02d}"
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF audit_event "
            f"FOR VALUES FROM ('{year}-{month:02d}-01') TO ('{nxt[0]}-{nxt[1]:02d}-01')")
        year, month = nxt


def to_fhir(row: dict[str, Any]) -> dict[str, Any]:
    """An audit row as an R4 AuditEvent."""
    who: dict[str, Any] = {"display": row["agent_name"] or "unknown"}
    if row["account_id"]:
        who["identifier"] = {"system": "urn:medcard:account", "value": str(row["account_id"])}
    elif row["client_id"]:
        who["identifier"] = {"system": "urn:medcard:client", "value": row["client_id"]}
    agent: dict[str, Any] = {"who": who, "requestor": True, "role": [{"text": row["agent_role"] or "unknown"}]}
    if row["source"]:
        agent["network"] = {"address": row["source"], "type": "2"}
    if row["purpose"]:
        agent["purposeOfUse"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                              "code": row["purpose"]}]}]
    entities = []
    if row["patient_id"]:
        entities.append({"what": {"reference": f"Patient/{row['patient_id']}"},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
                         "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"}})
    if row["entity"] or row["query"]:
        entity: dict[str, Any] = {}
        if row["entity"] and row["entity"].count("/") == 1:
            entity["what"] = {"reference": row["entity"]}
        elif row["entity"]:
            entity["name"] = row["entity"]
        if row["query"]:
            entity["query"] = base64.b64encode(row["query"].encode()).decode()
        entities.append(entity)
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row["id"]),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "RESTful Operation"},
        "subtype": [{"system": RESTFUL, "code": _restful(row["subtype"])}],
        "action": row["action"],
        "recorded": fhir_instant(row["recorded"]),
        "outcome": row["outcome"],
        "agent": [agent],
        "source": {"observer": {"display": "medcard"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"}]},
    }
    description = "; ".join(x for x in (row["detail"], f"emergency access: {row['break_glass']}"
                                        if row["break_glass"] else None) if x)
    if description:
        event["outcomeDesc"] = description
    if entities:
        event["entity"] = entities
    return event


def _restful(subtype: str) -> str:
    return {"search": "search-type", "history": "history-instance", "export": "operation"}.get(subtype, subtype)


def columns() -> tuple[str, ...]:
    return _COLUMNS
