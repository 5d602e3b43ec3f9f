"""Bulk export (FHIR Bulk Data Access, ``$export``): resources to NDJSON files, fast.

Each line is the stored JSON text of a resource, written without parsing it. Resources are read
type by type through a server-side cursor, so memory stays flat whatever the size. Resources
changed after the export's transaction time are left out (a later export with
``_since=transactionTime`` picks them up), as the Bulk Data specification asks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from psycopg import AsyncConnection

from medcard.core.db import Database
from medcard.core.errors import BadRequest
from medcard.core.time import fhir_instant
from medcard.fhir.interactions import check_type, stored_types
from medcard.fhir.search.conditions import SqlBuilder
from medcard.fhir.search.index import NOT_IN_RECORDS
from medcard.fhir.search.query import parse, where_clause
from medcard.fhir.search.values import date_range
from medcard.fhir.spec import r4

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
FETCH = 5000  # rows per round trip of the server-side cursor
LINES_PER_FILE = 1_000_000

Report = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class ExportRequest:
    """What to export: the level (system, patient, group), which types, since when, which filters."""

    level: str
    group_id: str | None = None
    types: list[str] = field(default_factory=list)
    since: str | None = None
    type_filters: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportRequest:
        return cls(**data)


def parse_request(level: str, group_id: str | None, params: list[tuple[str, str]]) -> ExportRequest:
    """Check the kick-off parameters (400 on anything unsupported)."""
    req = ExportRequest(level, group_id)
    for name, value in params:
        if name == "_outputFormat":
            if value not in OUTPUT_FORMATS:
                raise BadRequest(f"_outputFormat {value} is not supported; use application/fhir+ndjson")
        elif name == "_type":
            for t in (t.strip() for t in value.split(",")):
                if t:
                    check_type(t)
                    req.types.append(t)
        elif name == "_since":
            if date_range(value) is None:
                raise BadRequest(f"_since must be a FHIR instant, not {value!r}")
            req.since = value
        elif name == "_typeFilter":
            for f in value.split(","):
                rtype, _, query = f.partition("?")
                check_type(rtype)
                parse(rtype, [tuple(p.split("=", 1)) for p in query.split("&") if "=" in p])  # type: ignore[misc]
                req.type_filters.append(f)
        elif name not in ("_format", "_pretty"):
            raise BadRequest(f"$export does not support the parameter {name}", code="not-supported")
    return req


def export_types(req: ExportRequest) -> list[str]:
    """The types an export covers: those asked for, or all (of the patient compartment, below system level)."""
    if req.types:
        return sorted(set(req.types))
    if req.level == "system":
        return list(stored_types())
    compartment = (set(r4().patient_compartment) | {"Patient"}) - NOT_IN_RECORDS
    return [t for t in stored_types() if t in compartment]


def _where(req: ExportRequest, rtype: str, b: SqlBuilder, transaction_time: datetime) -> str:
    conds = [f"r.resource_type = {b.bind(rtype)}", "NOT r.deleted", f"r.last_updated <= {b.bind(transaction_time)}"]
    if req.since:
        rng = date_range(req.since)
        assert rng is not None
        conds.append(f"r.last_updated > {b.bind(rng[0])}")
    if req.level == "patient":
        conds.append("r.patient_id IS NOT NULL")
    elif req.level == "group":
        conds.append(
            f"r.patient_id IN (SELECT g.target_id FROM sp_reference g WHERE g.resource_type = 'Group' "
            f"AND g.resource_id = {b.bind(req.group_id)} AND g.param = 'member' AND g.target_type = 'Patient')")
    filters = [f.partition("?")[2] for f in req.type_filters if f.partition("?")[0] == rtype]
    if filters:
        ors = []
        for query in filters:
            pairs = [tuple(p.split("=", 1)) for p in query.split("&") if "=" in p]
            ors.append(where_clause(parse(rtype, pairs).criteria, b))  # type: ignore[arg-type]
        conds.append("(" + " OR ".join(ors) + ")")
    return " AND ".join(conds)


@dataclass
class OutputFile:
    type: str
    name: str
    count: int


class _Files:
    """NDJSON output for one type, starting a new file every LINES_PER_FILE lines."""

    def __init__(self, out: Path, rtype: str) -> None:
        self.out, self.rtype = out, rtype
        self.files: list[OutputFile] = []
        self._handle: IO[str] | None = None

    def write(self, lines: list[str]) -> None:
        """Append lines, a file at a time (one write call per file, not per line)."""
        while lines:
            if self._handle is None or self.files[-1].count == LINES_PER_FILE:
                self._open_next()
            assert self._handle is not None
            room = LINES_PER_FILE - self.files[-1].count
            part, lines = lines[:room], lines[room:]
            self._handle.write("\n".join(part))
            self._handle.write("\n")
            self.files[-1].count += len(part)

    def _open_next(self) -> None:
        self.close()
        n = len(self.files) + 1
        name = f"{self.rtype}.ndjson" if n == 1 else f"{self.rtype}.{n}.ndjson"
        self.files.append(OutputFile(self.rtype, name, 0))
        self._handle = (self.out / name).open("w", encoding="utf-8")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


async def export_type(conn: AsyncConnection, req: ExportRequest, rtype: str, out: Path,
                      transaction_time: datetime) -> list[OutputFile]:
    """Write one type's resources to ``out/Type.ndjson`` (and ``Type.2.ndjson``... past a million)."""
    b = SqlBuilder()
    sql = f"SELECT r.content FROM resource r WHERE {_where(req, rtype, b, transaction_time)} ORDER BY r.id"
    files = _Files(out, rtype)
    try:
        async with conn.transaction(), conn.cursor(name=f"export_{rtype}") as cur:
            cur.itersize = FETCH
            await cur.execute(sql, b.params)
            while rows := await cur.fetchmany(FETCH):
                files.write([content for (content,) in rows])
    finally:
        files.close()
    return files.files


async def export(db: Database, req: ExportRequest, out: Path, transaction_time: datetime,
                 report: Report | None = None, done: dict[str, list[dict[str, Any]]] | None = None
                 ) -> list[OutputFile]:
    """Export every type of the request into ``out``; ``done`` holds types finished before a restart."""
    out.mkdir(parents=True, exist_ok=True)
    done = dict(done or {})
    files: list[OutputFile] = [OutputFile(**f) for fs in done.values() for f in fs]
    exported = sum(f.count for f in files)
    for rtype in export_types(req):
        if rtype in done:
            continue
        async with db.connection() as conn:
            written = await export_type(conn, req, rtype, out, transaction_time)
        files += written
        exported += sum(f.count for f in written)
        done[rtype] = [asdict(f) for f in written]
        if report is not None:
            await report({"done": done, "exported": exported, "transactionTime": fhir_instant(transaction_time)})
    return files


def manifest(files: list[OutputFile], transaction_time: str, request_url: str, file_url: Callable[[str], str]
             ) -> dict[str, Any]:
    """The completed export's manifest (Bulk Data Access, "Response - Complete Status")."""
    return {
        "transactionTime": transaction_time,
        "request": request_url,
        "requiresAccessToken": False,
        "output": [{"type": f.type, "url": file_url(f.name), "count": f.count} for f in files if f.count],
        "error": [],
    }
