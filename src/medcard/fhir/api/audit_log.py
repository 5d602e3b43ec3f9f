"""``AuditEvent`` read and search, served from the audit log (``audit_event``), through the policy.

The audit log is not a resource table: it is written by medcard alone (the gate), never through
the API, and shown as R4 AuditEvent resources. Who may list what:

- a backend service: everything;
- anyone else names the patient (``AuditEvent?patient=...``) and must be allowed to read that
  child's record — so a family sees who opened their child's record, and the district
  pediatrician sees who opened their patient's; a clinic administrator sees the log of the
  children attached to their clinic.

Parameters: ``patient``, ``date`` (with ``ge``/``gt``/``le``/``lt``/``eq`` prefixes), ``outcome``,
``_count``; newest first, paged by a cursor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from medcard.access import audit
from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.core.errors import BadRequest, NotFound
from medcard.fhir import bundles, paging
from medcard.fhir.search.values import date_range

PARAMS = ("patient", "date", "outcome", "_count", "_cursor", "_format", "_pretty")
_SELECT = f"SELECT {', '.join(audit.columns())} FROM audit_event"


async def search(conn: AsyncConnection, gate: Gate, base: str, pairs: list[tuple[str, str]],
                 page_size: int, max_page_size: int) -> str:
    unknown = sorted({k for k, _ in pairs} - set(PARAMS))
    if unknown:
        raise BadRequest(f"AuditEvent search takes {', '.join(PARAMS[:4])}; not {', '.join(unknown)}")
    params = dict(pairs)
    conds: list[str] = ["TRUE"]
    args: list[Any] = []
    patient = params.get("patient", "").removeprefix("Patient/").removeprefix(base + "/Patient/") or None
    await _may_list(gate, patient)
    if patient:
        conds.append("patient_id = %s")
        args.append(patient)
    for _, value in (p for p in pairs if p[0] == "date"):
        conds.append(_date_condition(value, args))
    if "outcome" in params:
        conds.append("outcome = %s")
        args.append(params["outcome"])
    count_raw = params.get("_count", str(page_size))
    if not count_raw.isdigit():
        raise BadRequest("_count must be a non-negative integer")
    count = min(int(count_raw), max_page_size)
    if "_cursor" in params:
        raw = paging.decode(params["_cursor"], 2)
        conds.append("(recorded, id) < (%s, %s)")
        args += [datetime.fromisoformat(str(raw[0])), str(raw[1])]
    sql = f"{_SELECT} WHERE {' AND '.join(conds)} ORDER BY recorded DESC, id DESC LIMIT {count + 1}"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, args)
        rows = await cur.fetchall()
    more = len(rows) > count
    rows = rows[:count]
    gate.saw("search", "AuditEvent", urlencode(pairs) or None, [r["patient_id"] for r in rows] or [patient])
    entries = [bundles.entry(full_url=f"{base}/AuditEvent/{r['id']}",
                             content=jsonutil.dumps_str(audit.to_fhir(r)), search_mode="match") for r in rows]
    keep = [(k, v) for k, v in pairs if k != "_cursor"]
    links = [("self", f"{base}/AuditEvent" + (f"?{urlencode(pairs)}" if pairs else ""))]
    if more and rows:
        token = paging.encode([rows[-1]["recorded"].isoformat(), str(rows[-1]["id"])])
        links.append(("next", f"{base}/AuditEvent?" + urlencode([*keep, ("_cursor", token)])))
    return bundles.bundle("searchset", entries, links=links)


async def read(conn: AsyncConnection, gate: Gate, event_id: str) -> str:
    async with conn.cursor(row_factory=dict_row) as cur:
        try:
            await cur.execute(f"{_SELECT} WHERE id = %s::uuid", (event_id,))
        except Exception:  # not a uuid: no such event
            raise NotFound(f"AuditEvent/{event_id} is not known") from None
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"AuditEvent/{event_id} is not known")
    if gate.requester.kind != "system":
        if row["patient_id"] is None:
            raise NotFound(f"AuditEvent/{event_id} is not known")
        await gate.check(row["patient_id"], "AuditEvent", "read", entity=f"AuditEvent/{event_id}")
    else:
        gate.saw("read", f"AuditEvent/{event_id}", None, [row["patient_id"]])
    return jsonutil.dumps_str(audit.to_fhir(row))


async def _may_list(gate: Gate, patient: str | None) -> None:
    r = gate.requester
    if r.kind == "system":
        return
    if patient is None:
        gate.refuse("search", "AuditEvent", "no patient named")
        raise BadRequest("name the patient whose log you want: AuditEvent?patient=Patient/...", code="required")
    if r.has_role("clinic-admin", "city-admin"):
        facts = await gate.policy.facts(patient)
        if facts is not None and (r.has_role("city-admin") or set(facts.organizations) & set(r.organizations)):
            return
    await gate.check(patient, "AuditEvent", "read", entity="AuditEvent", subtype="search")


def _date_condition(value: str, args: list[Any]) -> str:
    prefix, raw = (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", value)
    rng = date_range(raw)
    if rng is None:
        raise BadRequest(f"date must be a date or an instant, not {value!r}")
    low, high = rng  # [low, high)
    if prefix in ("ge", "gt"):
        args.append(low if prefix == "ge" else high)
        return "recorded >= %s"
    if prefix in ("le", "lt"):
        args.append(high if prefix == "le" else low)
        return "recorded < %s"
    args += [low, high]
    return "recorded >= %s AND recorded < %s"
