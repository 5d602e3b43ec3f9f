"""``Patient/{id}/$everything``: a child's whole record in one searchset Bundle.

Returns every resource of the patient's compartment and the resources they refer to outside
any record (practitioners, organizations, locations, medications). Parameters: ``_type``
(comma-separated types), ``_since`` (changed at or after an instant), ``_count`` (page size;
without it the whole record is streamed in one Bundle, in memory bounded by the database
cursor, not by the record's size).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from urllib.parse import urlencode

from psycopg import AsyncConnection

from medcard.core.errors import BadRequest
from medcard.fhir import bundles, paging, store
from medcard.fhir.operations.base import Operation, OperationCall, Result
from medcard.fhir.search.values import date_range
from medcard.fhir.spec import r4


def _since(call: OperationCall) -> datetime | None:
    raw = [v for k, v in call.params if k == "_since"]
    if not raw:
        return None
    rng = date_range(raw[-1])
    if rng is None:
        raise BadRequest(f"_since must be an instant such as 2024-01-01T00:00:00Z, not {raw[-1]!r}")
    return rng[0]


def _types(call: OperationCall) -> list[str] | None:
    raw = [t.strip() for k, v in call.params if k == "_type" for t in v.split(",") if t.strip()]
    unknown = [t for t in raw if t not in r4().resource_type_names]
    if unknown:
        raise BadRequest(f"_type names unknown resource types: {', '.join(unknown)}")
    return raw or None


def _cursor(call: OperationCall) -> tuple[str, str] | None:
    raw = [v for k, v in call.params if k == "_cursor"]
    if not raw:
        return None
    key = paging.decode(raw[-1], 2)
    return str(key[0]), str(key[1])


async def everything(call: OperationCall) -> Result:
    assert call.resource_id is not None
    pid = call.resource_id
    since, types, after = _since(call), _types(call), _cursor(call)
    count_raw = [v for k, v in call.params if k == "_count"]
    async with call.db.connection() as conn:
        await store.read(conn, "Patient", pid)  # 404 / 410 before anything is streamed
    if count_raw:
        if not count_raw[-1].isdigit() or int(count_raw[-1]) < 1:
            raise BadRequest("_count must be a positive integer")
        return await _page(call, pid, since, types, after, min(int(count_raw[-1]), call.max_page_size))
    return Result(stream=_stream(call, pid, since, types))


async def _shown(call: OperationCall, conn: AsyncConnection, pid: str) -> Callable[[str], bool]:
    """What of the record the requester may see (all of it, but for a teenager's own access before 16)."""
    if call.gate is None:
        return lambda content: True
    return await call.gate.content_filter(conn, pid)


async def _page(call: OperationCall, pid: str, since: datetime | None, types: list[str] | None,
                after: tuple[str, str] | None, count: int) -> Result:
    async with call.db.transaction() as conn:
        shown = await _shown(call, conn, pid)
        rows = [s async for s in store.everything(conn, pid, types=types, since=since, after=after,
                                                  count=count + 1)]
    # Paging follows the record as stored; what may not be shown is left out of the page.
    entries = [bundles.entry(full_url=bundles.full_url(call.base, s), content=s.content, search_mode="match")
               for s in rows[:count] if s.content is not None and shown(s.content)]
    keep = [(k, v) for k, v in call.params if k != "_cursor"]
    self_url = f"{call.base}/Patient/{pid}/$everything"
    links = [("self", self_url + ("?" + urlencode(call.params) if call.params else ""))]
    if len(rows) > count:
        last = rows[count - 1]
        token = paging.encode([last.resource_type, last.id])
        links.append(("next", self_url + "?" + urlencode([*keep, ("_cursor", token)])))
    return Result(body=bundles.bundle("searchset", entries, links=links))


async def _stream(call: OperationCall, pid: str, since: datetime | None,
                  types: list[str] | None) -> AsyncIterator[bytes]:
    head = bundles.bundle("searchset", [], links=[("self", f"{call.base}/Patient/{pid}/$everything")])
    # The Patient is always in its own record, so the entry array is never empty.
    opening, closing = head[:-1] + ',"entry":[', "]}"
    yield opening.encode()
    first = True
    # One statement, so one consistent snapshot of the record however long the stream takes.
    async with call.db.transaction() as conn:
        shown = await _shown(call, conn, pid)
        async for s in store.everything(conn, pid, types=types, since=since):
            if s.content is None or not shown(s.content):
                continue
            text = bundles.entry(full_url=bundles.full_url(call.base, s), content=s.content, search_mode="match")
            yield (text if first else "," + text).encode()
            first = False
    yield closing.encode()


OPERATION = Operation(
    name="everything",
    definition="http://hl7.org/fhir/OperationDefinition/Patient-everything",
    resource_types=("Patient",),
    instance=True,
    type_level=False,
    system=False,
    access="export",
    methods=("GET", "POST"),
    handler=everything,
    documentation="The patient's whole record and the resources it refers to; _type, _since, _count.",
)
