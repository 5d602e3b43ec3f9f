"""Running a search: criteria to a page of stored resources, as a searchset Bundle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from psycopg import AsyncConnection

from medcard.core import jsonutil
from medcard.core.errors import BadRequest, Issue
from medcard.fhir import bundles, paging
from medcard.fhir.search.query import SqlBuilder, parse, where_clause

CONTROL = ("_count", "_cursor", "_format", "_pretty", "_total")


@dataclass(frozen=True)
class SearchRequest:
    resource_type: str
    pairs: list[tuple[str, str]]
    base: str  # .../fhir/R4
    default_count: int = 50
    max_count: int = 1000
    strict: bool = False
    compartment: tuple[str, str] | None = None  # ("Patient", id)


def _count(req: SearchRequest, control: dict[str, list[str]]) -> int:
    raw = control.get("_count", [str(req.default_count)])[-1]
    if not raw.isdigit():
        raise BadRequest(f"_count must be a non-negative integer, not {raw!r}")
    return min(int(raw), req.max_count)


async def search(conn: AsyncConnection, req: SearchRequest) -> str:
    """A page of matches as searchset Bundle JSON text."""
    parsed = parse(req.resource_type, req.pairs, control_names=CONTROL)
    warnings: list[Issue] = []
    if parsed.unknown:
        if req.strict:
            raise BadRequest(f"unknown search parameter(s): {', '.join(parsed.unknown)}",
                             [Issue(f"unknown search parameter '{n}' for {req.resource_type}",
                                    code="not-supported") for n in parsed.unknown])
        warnings = [Issue(f"search parameter '{n}' is not supported for {req.resource_type} and was ignored",
                          code="not-supported", severity="warning") for n in parsed.unknown]
    count = _count(req, parsed.control)
    b = SqlBuilder()
    conds = [f"r.resource_type = {b.bind(req.resource_type)}", "NOT r.deleted",
             where_clause(parsed.criteria, b)]
    if req.compartment is not None:
        pid = b.bind(req.compartment[1])
        conds.append(f"(r.patient_id = {pid} OR r.id IN (SELECT c.resource_id FROM resource_compartment c "
                     f"WHERE c.patient_id = {pid} AND c.resource_type = r.resource_type))")
    cursor = parsed.control.get("_cursor")
    page_conds = list(conds)
    if cursor:
        page_conds.append(f"r.id > {b.bind(str(paging.decode(cursor[-1], 1)[0]))}")
    sql = (f"SELECT r.id, r.content FROM resource r WHERE {' AND '.join(page_conds)} "
           f"ORDER BY r.id LIMIT {count + 1}")
    cur = await conn.execute(sql, b.params)
    rows = await cur.fetchall()
    more = len(rows) > count
    rows = rows[:count]
    total = await _total(conn, conds, b.params, parsed.control, len(rows), more, bool(cursor))
    entries = [bundles.entry(full_url=f"{req.base}/{req.resource_type}/{rid}", content=content,
                             search_mode="match") for rid, content in rows]
    if warnings:
        outcome: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": [w.to_fhir() for w in warnings]}
        entries.append(bundles.entry(content=jsonutil.dumps_str(outcome), search_mode="outcome"))
    links = [("self", _page_url(req, parsed.control, cursor[-1] if cursor else None))]
    if more and rows:
        links.append(("next", _page_url(req, parsed.control, paging.encode([rows[-1][0]]))))
    return bundles.bundle("searchset", entries, total=total, links=links)


async def _total(conn: AsyncConnection, conds: list[str], params: dict[str, Any], control: dict[str, list[str]],
                 shown: int, more: bool, paged: bool) -> int | None:
    mode = control.get("_total", ["auto"])[-1]
    if mode == "none":
        return None
    if not more and not paged:
        return shown
    if mode != "accurate":
        return None
    cur = await conn.execute(f"SELECT count(*) FROM resource r WHERE {' AND '.join(conds)}", params)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def _page_url(req: SearchRequest, control: dict[str, list[str]], cursor: str | None) -> str:
    pairs = [(k, v) for k, v in req.pairs if k not in ("_cursor", "_format", "_pretty")]
    if cursor:
        pairs.append(("_cursor", cursor))
    path = f"{req.compartment[0]}/{req.compartment[1]}/{req.resource_type}" if req.compartment \
        else req.resource_type
    query = urlencode(pairs)
    return f"{req.base}/{path}" + (f"?{query}" if query else "")
