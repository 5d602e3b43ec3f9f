"""The resource store: versioned FHIR resources and their index rows in PostgreSQL.

Every query on ``resource``, ``resource_history``, ``resource_compartment`` and the ``sp_*``
index tables lives here. Functions run inside the caller's transaction and never commit.

Writes go through :class:`WriteBatch`: each create, update or delete is prepared in Python
(validated, versioned, serialized, indexed) and the batch then writes every row with a fixed
number of statements (``executemany`` and ``COPY``), however many resources it holds. A REST
call writes a batch of one; a transaction Bundle or an import writes many at once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from medcard.core import copytext, jsonutil
from medcard.core.errors import Conflict, Gone, Issue, NotFound, PreconditionFailed, Unprocessable
from medcard.core.identifiers import check_identifier
from medcard.core.time import fhir_instant, utcnow
from medcard.fhir import derived
from medcard.fhir.search.conditions import Visibility
from medcard.fhir.search.index import IndexRows, indexer
from medcard.fhir.search.phonetic import skeleton
from medcard.fhir.search.query import SqlBuilder, strict_criteria, where_clause
from medcard.fhir.validation import Validated, validate

# Index row kind -> (table, its value columns with their SQL types).
INDEX_TABLES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "token": ("sp_token", (("system", "text"), ("code", "text"), ("text", "text"))),
    "string": ("sp_string", (("value", "text"), ("exact", "text"))),
    "date": ("sp_date", (("low", "timestamptz"), ("high", "timestamptz"))),
    "number": ("sp_number", (("value", "numeric"),)),
    "quantity": ("sp_quantity", (("value", "numeric"), ("system", "text"), ("code", "text"))),
    "reference": ("sp_reference", (("target_type", "text"), ("target_id", "text"), ("url", "text"))),
    "uri": ("sp_uri", (("value", "text"),)),
}
_COLUMNS = "resource_type, id, version_id, last_updated, deleted, content, patient_id"


@dataclass(frozen=True, slots=True)
class Stored:
    """One version of a resource as stored; ``content`` is its JSON text (None when deleted)."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: str | None
    patient_id: str | None = None  # whose record it is part of (None: reference data, or not read)

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.version_id}"

    def resource(self) -> dict[str, Any]:
        """The parsed resource (for callers that must look inside it)."""
        if self.content is None:
            raise Gone(f"{self.resource_type}/{self.id} was deleted")
        parsed: dict[str, Any] = jsonutil.loads(self.content)
        return parsed


def _stored(row: tuple[Any, ...]) -> Stored:
    return Stored(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


# reads -----------------------------------------------------------------------


async def read_current(conn: AsyncConnection, rtype: str, rid: str) -> Stored | None:
    """The current version, deleted or not; None if the resource never existed."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM resource WHERE resource_type = %s AND id = %s", (rtype, rid))
    row = await cur.fetchone()
    return _stored(row) if row else None


async def read(conn: AsyncConnection, rtype: str, rid: str) -> Stored:
    """The current version; 404 if it never existed, 410 if deleted."""
    stored = await read_current(conn, rtype, rid)
    if stored is None:
        raise NotFound(f"{rtype}/{rid} is not known")
    if stored.deleted:
        raise Gone(f"{rtype}/{rid} was deleted", headers={"ETag": stored.etag})
    return stored


async def vread(conn: AsyncConnection, rtype: str, rid: str, version: int) -> Stored:
    """One version; 404 if there is no such version, 410 if that version is a deletion."""
    stored = await version_of(conn, rtype, rid, version)
    if stored is None:
        raise NotFound(f"{rtype}/{rid} has no version {version}")
    if stored.deleted:
        raise Gone(f"version {version} of {rtype}/{rid} is a deletion", headers={"ETag": stored.etag})
    return stored


async def version_of(conn: AsyncConnection, rtype: str, rid: str, version: int) -> Stored | None:
    """One version, deleted or not; None if there is no such version."""
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM resource WHERE resource_type = %s AND id = %s AND version_id = %s "
        f"UNION ALL SELECT {_COLUMNS} FROM resource_history "
        "WHERE resource_type = %s AND id = %s AND version_id = %s",
        (rtype, rid, version, rtype, rid, version))
    row = await cur.fetchone()
    return _stored(row) if row else None


async def find_ids(conn: AsyncConnection, rtype: str, query: str, limit: int = 2) -> list[str]:
    """Ids of current resources matching a conditional query (``identifier=sys|1``), over the whole store
    (for trusted callers: the bulk importer)."""
    return [rid for rid, _ in await find_matches(conn, rtype, query, limit=limit)]


async def find_matches(conn: AsyncConnection, rtype: str, query: str, *, visible: Visibility | None = None,
                       limit: int = 2) -> list[tuple[str, str | None]]:
    """(id, patient) of current resources matching a conditional query, among those ``visible`` keeps.

    ``visible`` is the requester's access condition (``Gate.visible``): a conditional write matches
    only what its requester may see, so its answer cannot tell of anything else.
    """
    criteria = strict_criteria(rtype, query)
    b = SqlBuilder(visible)
    where = where_clause(criteria, b)
    sql = (f"SELECT r.id, r.patient_id FROM resource r WHERE r.resource_type = {b.bind(rtype)} AND NOT r.deleted "
           f"AND {where}{b.restrict(rtype, 'r')} LIMIT {int(limit)}")
    cur = await conn.execute(sql, b.params)
    return [(row[0], row[1]) for row in await cur.fetchall()]


async def existing(conn: AsyncConnection, refs: Iterable[tuple[str, str]], visible: Visibility | None = None
                   ) -> dict[tuple[str, str], bool]:
    """For each (type, id), whether it exists and is not deleted; absent keys never existed (or are not
    among what ``visible``, the requester's access condition, keeps)."""
    pairs = list(set(refs))
    if not pairs:
        return {}
    b = SqlBuilder(visible)
    types, ids = b.bind([p[0] for p in pairs]), b.bind([p[1] for p in pairs])
    cur = await conn.execute(
        f"SELECT r.resource_type, r.id, r.deleted FROM resource r JOIN unnest({types}::text[], {ids}::text[]) "
        f"AS k(t, i) ON r.resource_type = k.t AND r.id = k.i WHERE TRUE{b.restrict('*', 'r')}", b.params)
    return {(t, i): not d for t, i, d in await cur.fetchall()}


async def read_many(conn: AsyncConnection, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
    """The current, not deleted versions of the given (type, id) pairs, in one statement (absent: none)."""
    pairs = list(set(refs))
    if not pairs:
        return {}
    cur = await conn.execute(
        f"SELECT {', '.join('r.' + c for c in _COLUMNS.split(', '))} FROM resource r "
        "JOIN unnest(%s::text[], %s::text[]) AS k(t, i) ON r.resource_type = k.t AND r.id = k.i WHERE NOT r.deleted",
        ([p[0] for p in pairs], [p[1] for p in pairs]))
    return {(s.resource_type, s.id): s for s in map(_stored, await cur.fetchall())}


async def referring(conn: AsyncConnection, patient_id: str, target_type: str, target_id: str) -> list[Stored]:
    """The current resources of ``patient_id``'s record that refer to ``target_type/target_id`` (by any
    reference search parameter), through ``sp_reference_target_idx``: one visit's findings, orders and notes."""
    cur = await conn.execute(
        f"SELECT {', '.join('r.' + c for c in _COLUMNS.split(', '))} FROM resource r WHERE (r.resource_type, r.id) IN "
        "(SELECT i.resource_type, i.resource_id FROM sp_reference i WHERE i.target_type = %s AND i.target_id = %s) "
        "AND r.patient_id = %s AND NOT r.deleted", (target_type, target_id, patient_id))
    return [_stored(row) for row in await cur.fetchall()]


# history ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[Stored]
    more: bool


async def history(
    conn: AsyncConnection,
    *,
    rtype: str | None = None,
    rid: str | None = None,
    since: datetime | None = None,
    before: tuple[datetime, str, str, int] | None = None,
    count: int = 50,
) -> HistoryPage:
    """Versions newest first, for one resource, one type or the whole server.

    ``before`` is the keyset of the last entry of the previous page.
    """
    conds: list[str] = []
    params: list[Any] = []
    if rtype is not None:
        conds.append("resource_type = %s")
        params.append(rtype)
    if rid is not None:
        conds.append("id = %s")
        params.append(rid)
    if since is not None:
        conds.append("last_updated >= %s")
        params.append(since)
    if before is not None:
        conds.append("(last_updated, resource_type, id, version_id) < (%s, %s, %s, %s)")
        params.extend(before)
    where = " AND ".join(conds) or "TRUE"
    order = "ORDER BY last_updated DESC, resource_type DESC, id DESC, version_id DESC"
    sql = (f"(SELECT {_COLUMNS} FROM resource WHERE {where} {order} LIMIT {count + 1}) UNION ALL "
           f"(SELECT {_COLUMNS} FROM resource_history WHERE {where} {order} LIMIT {count + 1}) "
           f"{order} LIMIT {count + 1}")
    cur = await conn.execute(sql, params + params)
    rows = [_stored(r) for r in await cur.fetchall()]
    return HistoryPage(rows[:count], len(rows) > count)


# the patient compartment --------------------------------------------------------


async def everything(
    conn: AsyncConnection,
    patient_id: str,
    *,
    types: list[str] | None = None,
    since: datetime | None = None,
    after: tuple[str, str] | None = None,
    count: int | None = None,
) -> AsyncIterator[Stored]:
    """The patient's whole record, plus the resources it refers to outside any record.

    Ordered by (type, id); ``after`` is the key of the last resource of the previous page.
    The compartment part is one range scan of ``resource_patient_idx``.
    """
    conds = ["NOT r.deleted"]
    params: list[Any] = []
    if types:
        conds.append("r.resource_type = ANY(%s)")
        params.append(types)
    if since is not None:
        conds.append("r.last_updated >= %s")
        params.append(since)
    if after is not None:
        conds.append("(r.resource_type, r.id) > (%s, %s)")
        params.extend(after)
    filt = " AND ".join(conds)
    limit = f"LIMIT {int(count)}" if count else ""
    sql = f"""
        SELECT {_COLUMNS} FROM (
            SELECT r.* FROM resource r WHERE r.patient_id = %s
            UNION
            SELECT r.* FROM resource_compartment c
              JOIN resource r ON r.resource_type = c.resource_type AND r.id = c.resource_id
             WHERE c.patient_id = %s
            UNION
            SELECT r.* FROM (SELECT DISTINCT i.target_type, i.target_id FROM resource c
                               JOIN sp_reference i ON i.resource_type = c.resource_type AND i.resource_id = c.id
                              WHERE c.patient_id = %s AND i.target_type IS NOT NULL) ref
              JOIN resource r ON r.resource_type = ref.target_type AND r.id = ref.target_id
             WHERE r.patient_id IS NULL
        ) r WHERE {filt} ORDER BY r.resource_type, r.id {limit}"""
    # A server-side cursor: rows arrive in chunks, so memory does not grow with the record.
    async with conn.cursor(name="everything") as cur:
        cur.itersize = 200
        await cur.execute(sql, [patient_id, patient_id, patient_id, *params])
        async for row in cur:
            yield _stored(row)


# writes ----------------------------------------------------------------------


CurrentState = tuple[int, bool, bytes | None]  # version, deleted, content hash
WriteGuard = Callable[[str, str, str, list[str]], Awaitable[None]]  # (action, type, id, patients)


def _check_identifiers(rtype: str, checked: Validated) -> None:
    """Identifiers of known systems (SNILS, ENP, ...) must pass their check-digit rules (422)."""
    issues = []
    for path, system, value in checked.identifiers:
        reason = check_identifier(system, value)
        if reason is not None:
            issues.append(Issue(reason, code="value", expression=(path,)))
    if issues:
        raise Unprocessable(f"{rtype}: {issues[0].diagnostics}", issues)


@dataclass(slots=True)
class Analysis:
    """What a write of a resource needs that the database does not decide (picklable: the bulk
    importer computes it in worker processes)."""

    rtype: str
    rid: str
    parts: _Serialized
    index: IndexRows
    patients: list[str]  # the records it belongs to, first the main one
    references: set[tuple[str, str]]  # local literal references, for the referential check
    text: tuple[str, str | None] | None  # (all text, narrative) for full-text search
    lookup: list[tuple[str, str | None, date | None]]  # Patient name skeletons for fuzzy search

    def encoded(self) -> Encoded:
        """The same, with the rows of the index tables already in COPY's text format."""
        patient = copytext.value(self.patients[0] if self.patients else None)
        rtype, rid = copytext.text(self.rtype), copytext.text(self.rid)
        head = f"{rtype}\t{rid}\t{patient}\t"
        lines = {table: copytext.rows(head, rows) for kind, (table, _) in INDEX_TABLES.items()
                 if (rows := getattr(self.index, kind))}
        if len(self.patients) > 1:
            lines["resource_compartment"] = "".join(f"{copytext.text(p)}\t{rtype}\t{rid}\n"
                                                    for p in self.patients[1:])
        if self.lookup:
            lines["patient_lookup"] = copytext.rows(f"{rid}\t", self.lookup)
        return Encoded(self.rtype, self.rid, self.parts, self.patients, self.text, lines)


@dataclass  # no slots: a slotted dataclass unpickles through Python code, twice as slow (the writer's lane)
class Encoded:
    """An :class:`Analysis` as the bulk importer's worker processes hand it to the writer: the
    rows of the index tables, the record's other patients and a Patient's name keys as blocks of
    COPY text by table (cheap to pickle, and nothing left for the writer to convert row by row).
    It carries no references: the importer does not check them."""

    rtype: str
    rid: str
    parts: _Serialized
    patients: list[str]
    text: tuple[str, str | None] | None
    lines: dict[str, str]  # table -> COPY text


def analyze(resource: dict[str, Any], rtype: str, rid: str, checked: Validated) -> Analysis:
    """Serialize, index and classify a validated resource (no database involved)."""
    _check_identifiers(rtype, checked)
    parts = _serialize(resource, rtype, rid)
    references = {local for site in checked.references if (local := site.local()) is not None} - {(rtype, rid)}
    ix = indexer()
    rows = ix.rows(resource)  # server metadata and id are not searched through the index tables
    patients = [rid] if rtype == "Patient" else rows.patient_references(ix.compartment_params(rtype))
    text = (" ".join(checked.texts), " ".join(checked.narrative) or None) if checked.texts else None
    lookup = patient_lookup_rows(resource) if rtype == "Patient" else []
    return Analysis(rtype, rid, parts, rows, patients, references, text, lookup)


@dataclass(slots=True)
class _Write:
    stored: Stored
    patient_id: str | None
    other_patients: list[str]
    content_hash: bytes | None
    index: IndexRows | None
    kind: str  # "create" | "update" | "delete" | "rewrite" (same version, new content)
    references: set[tuple[str, str]] = field(default_factory=set)
    where: str | None = None  # where the resource came from, for error messages (Bundle.entry[3])
    text: tuple[str, str | None] | None = None  # (all text, narrative) for full-text search
    lookup: list[tuple[str, str | None, date | None]] = field(default_factory=list)  # Patient names
    lines: dict[str, str] | None = None  # index, compartment and name rows as COPY text (bulk import)


@dataclass
class WriteBatch:
    """Writes prepared in Python and flushed to PostgreSQL together.

    ``check_references``: refuse literal references to resources that do not exist (422).
    They are checked when the batch is flushed, so the resources of one transaction may refer
    to each other in any order.
    """

    conn: AsyncConnection
    check_references: bool = True
    now: datetime = field(default_factory=utcnow)
    where: str | None = None  # set by the caller before each write, for error messages
    # Asked before every create, update and delete, with the patients whose records the write
    # touches (before and after); raises to refuse. None: the caller is trusted (bulk import).
    guard: WriteGuard | None = None
    # The writer's access condition, made ready when first needed: a reference to a resource the writer
    # may not see is refused exactly as one to a missing resource (it must not tell that one exists).
    visibility: Callable[[], Awaitable[Visibility]] | None = None
    # Bulk import: collect the patients whose derived tables need recomputing instead of recomputing
    # them at every flush (the importer does it once per patient at its end).
    defer_derived: derived.Pending | None = None
    _pending: list[_Write] = field(default_factory=list)
    # (type, id) -> exists, for resources this batch creates or deletes before the flush
    _local: dict[tuple[str, str], bool] = field(default_factory=dict)
    _touched: set[tuple[str, str]] = field(default_factory=set)
    _owners: dict[tuple[str, str], str] = field(default_factory=dict)  # the patient of each locked resource

    # preparation ---------------------------------------------------------------

    async def create(self, resource: dict[str, Any], *, rid: str | None = None,
                     checked: Validated | None = None) -> Stored:
        """A new resource with a server id (or ``rid``, for create-on-update).

        ``checked``: the result of validating the resource, when the caller already did.
        """
        checked = checked or validate(resource)
        rtype = resource["resourceType"]
        rid = rid or str(uuid.uuid4())
        analysis = analyze(resource, rtype, rid, checked)
        if self.guard is not None:
            await self.guard("create", rtype, rid, analysis.patients)
        return self._add(analysis, 1, "create")

    async def update(
        self, rtype: str, rid: str, resource: dict[str, Any], *, if_match: int | None = None,
        checked: Validated | None = None,
    ) -> tuple[Stored, bool]:
        """A new version (or the first one); returns it and whether it was created."""
        checked = checked or validate(resource, expected_type=rtype)
        current = await self._lock(rtype, rid)
        stored, outcome = await self._apply(resource, rtype, rid, checked, current, if_match)
        assert stored is not None
        return stored, outcome == "created"

    async def lock_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], CurrentState]:
        """Lock the current rows of many resources at once (bulk import); absent keys are new."""
        for key in keys:
            if key in self._touched:
                raise Conflict(f"{key[0]}/{key[1]} is changed twice in one batch")
        self._touched.update(keys)
        if not keys:
            return {}
        cur = await self.conn.execute(
            "SELECT r.resource_type, r.id, r.version_id, r.deleted, r.content_hash FROM resource r "
            "JOIN unnest(%s::text[], %s::text[]) AS k(t, i) ON r.resource_type = k.t AND r.id = k.i "
            "ORDER BY r.resource_type, r.id FOR UPDATE OF r",
            ([k[0] for k in keys], [k[1] for k in keys]))
        return {(t, i): (v, d, h) for t, i, v, d, h in await cur.fetchall()}

    async def upsert(self, resource: dict[str, Any], rid: str, checked: Validated,
                     current: CurrentState | None) -> str:
        """Create or update with the state from :meth:`lock_many`: "created", "updated" or "unchanged"."""
        _, outcome = await self._apply(resource, resource["resourceType"], rid, checked, current, None,
                                       want_unchanged=False)
        return outcome

    async def _apply(self, resource: dict[str, Any], rtype: str, rid: str, checked: Validated,
                     current: CurrentState | None, if_match: int | None, *, want_unchanged: bool = True
                     ) -> tuple[Stored | None, str]:
        analysis = analyze(resource, rtype, rid, checked)
        if self.guard is not None:  # first: a refused writer learns nothing of the resource, its version neither
            before = self._owners.get((rtype, rid))
            await self.guard("create" if current is None else "update", rtype, rid,
                             [*([before] if before else []), *analysis.patients])
        if current is None and if_match is not None:
            raise PreconditionFailed(f"{rtype}/{rid} does not exist (If-Match {if_match})")
        if current is not None and if_match is not None and if_match != current[0]:
            raise PreconditionFailed(
                f"{rtype}/{rid} is at version {current[0]}, not {if_match}: it was changed by someone else")
        outcome = self.upsert_analyzed(analysis, current)
        if outcome == "unchanged":  # nothing changed: no new version
            return (await read_current(self.conn, rtype, rid) if want_unchanged else None), outcome
        return self._pending[-1].stored, outcome

    async def rewrite(self, resource: dict[str, Any], version: int, checked: Validated) -> Stored:
        """Replace the current version's content in place, without a new version.

        Only for the bulk importer, to put resolved ids in place of conditional references that
        could not be resolved when the resource was first written.
        """
        rtype, rid = resource["resourceType"], resource["id"]
        self._touched.add((rtype, rid))
        return await self._prepare(resource, rtype, rid, version, "rewrite", checked)

    async def delete(self, rtype: str, rid: str) -> Stored | None:
        """Mark deleted (a new version without content); None if it was already deleted."""
        current = await self._lock(rtype, rid)
        if current is None:
            raise NotFound(f"{rtype}/{rid} is not known")
        version, deleted, _ = current
        if deleted:
            return None
        if self.guard is not None:
            owner = self._owners.get((rtype, rid))
            await self.guard("delete", rtype, rid, [owner] if owner else [])
        stored = Stored(rtype, rid, version + 1, self.now, True, None)
        self._pending.append(_Write(stored, None, [], None, None, "delete"))
        self._local[(rtype, rid)] = False
        return stored

    async def _lock(self, rtype: str, rid: str) -> tuple[int, bool, bytes | None] | None:
        if (rtype, rid) in self._touched:
            raise Conflict(f"{rtype}/{rid} is changed twice in one request")
        self._touched.add((rtype, rid))
        cur = await self.conn.execute(
            "SELECT version_id, deleted, content_hash, patient_id FROM resource WHERE resource_type = %s AND id = %s "
            "FOR UPDATE", (rtype, rid))
        row = await cur.fetchone()
        if row is None:
            return None
        if row[3] is not None:
            self._owners[(rtype, rid)] = row[3]
        return (row[0], row[1], row[2])

    async def _prepare(self, resource: dict[str, Any], rtype: str, rid: str, version: int, kind: str,
                       checked: Validated) -> Stored:
        return self._add(analyze(resource, rtype, rid, checked), version, kind)

    def _add(self, a: Analysis | Encoded, version: int, kind: str) -> Stored:
        stored = Stored(a.rtype, a.rid, version, self.now, False, a.parts.content(version, self.now))
        patient = a.patients[0] if a.patients else None
        if isinstance(a, Encoded):
            if self.check_references:
                raise ValueError("an encoded analysis carries no references to check")
            self._pending.append(_Write(stored, patient, a.patients[1:], a.parts.hash, None, kind, where=self.where,
                                        text=a.text, lines=a.lines))
        else:
            references = a.references if self.check_references else set()
            self._pending.append(_Write(stored, patient, a.patients[1:], a.parts.hash, a.index, kind, references,
                                        self.where, a.text, a.lookup))
        self._local[(a.rtype, a.rid)] = True
        return stored

    def upsert_analyzed(self, a: Analysis | Encoded, current: CurrentState | None) -> str:
        """Create or update from an :class:`Analysis` and the state from :meth:`lock_many`."""
        if current is None:
            self._add(a, 1, "create")
            return "created"
        version, deleted, old_hash = current
        if not deleted and old_hash == a.parts.hash:
            return "unchanged"
        self._add(a, version + 1, "update")
        return "created" if deleted else "updated"

    async def _check_references(self, pending: list[_Write]) -> None:
        """Every literal reference must point at a resource that exists after this batch."""
        wanted = {r for w in pending for r in w.references}
        unknown = {r for r in wanted if r not in self._local}
        visible = await self.visibility() if unknown and self.visibility is not None else None
        found = await existing(self.conn, unknown, visible) if unknown else {}
        exists = {**found, **{r: self._local[r] for r in wanted if r in self._local}}
        for w in pending:
            missing = [f"{t}/{i}" for t, i in sorted(w.references) if not exists.get((t, i), False)]
            if missing:
                s = w.stored
                message = f"{s.resource_type} refers to resources that do not exist: {', '.join(missing)}"
                where = f"{w.where}.resource" if w.where else s.resource_type
                raise Unprocessable(message, [Issue(message, code="not-found", expression=(where,))])

    # flushing ------------------------------------------------------------------

    async def flush(self) -> None:
        """Write every prepared change with a fixed number of round trips, whatever the batch size.

        Small row sets go as multi-row INSERTs in one pipeline; large index row sets (a
        transaction, an import) then go by COPY, which costs PostgreSQL least per row.
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        await self._check_references(pending)
        statements, copies = _flush_plan(pending)
        # Derived tables (the vaccination worklist) are recomputed for the patients this flush touches.
        watched = await derived.before(self.conn, [(w.stored.resource_type, w.stored.id, w.patient_id, w.kind)
                                                   for w in pending])
        try:
            async with self.conn.cursor() as cur:
                async with self.conn.pipeline():
                    for sql, params in statements:
                        await cur.execute(sql, params)
                for table, columns, rows, lines in copies:
                    async with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            await copy.write_row(row)
                        if lines:
                            await copy.write(lines)
        except psycopg.errors.UniqueViolation:
            raise Conflict("a resource with this id was created at the same time by another request") from None
        if self.defer_derived is not None:
            self.defer_derived.merge(watched)
        else:
            await derived.after(self.conn, watched)


COPY_THRESHOLD = 100  # rows; from here on COPY is cheaper than a multi-row INSERT
Statement = tuple[str, list[Any]]
Copy = tuple[str, tuple[str, ...], list[tuple[Any, ...]], str]  # table, columns, rows, rows as COPY text
_INDEX_HEAD = (("resource_type", "text"), ("resource_id", "text"), ("patient_id", "text"), ("param", "text"))


def _values(rows: list[tuple[Any, ...]], types: tuple[str, ...]) -> tuple[str, list[Any]]:
    """A VALUES list with typed placeholders, and its flattened parameters."""
    first = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    rest = "(" + ", ".join(["%s"] * len(types)) + ")"
    sql = "VALUES " + ", ".join([first] + [rest] * (len(rows) - 1))
    return sql, [value for row in rows for value in row]


def _flush_plan(pending: list[_Write]) -> tuple[list[Statement], list[Copy]]:
    """The statements (pipelined) and COPYs that write a batch, in order."""
    statements: list[Statement] = []
    copies: list[Copy] = []
    changed = [w for w in pending if w.kind != "create"]
    if changed:
        deletes = ", ".join(
            f"d_{table} AS (DELETE FROM {table} t USING k WHERE t.resource_type = k.t AND t.resource_id = k.i)"
            for table in ("resource_compartment", "sp_text", *(t for t, _ in INDEX_TABLES.values())))
        deletes += (", d_lookup AS (DELETE FROM patient_lookup t USING k "
                    "WHERE k.t = 'Patient' AND t.patient_id = k.i)")
        history = ("INSERT INTO resource_history (resource_type, id, version_id, last_updated, deleted, patient_id, "
                   "content) SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.patient_id, "
                   "r.content FROM resource r JOIN k ON r.resource_type = k.t AND r.id = k.i AND k.v")
        keys, params = _values([(w.stored.resource_type, w.stored.id, w.kind != "rewrite") for w in changed],
                               ("text", "text", "bool"))
        statements.append((f"WITH k(t, i, v) AS ({keys}), {deletes} {history}", params))
        values, params = _values(
            [(w.stored.resource_type, w.stored.id, w.stored.version_id, w.stored.last_updated, w.stored.deleted,
              w.patient_id, w.content_hash, w.stored.content) for w in changed],
            ("text", "text", "int", "timestamptz", "bool", "text", "bytea", "text"))
        statements.append((
            "UPDATE resource r SET version_id = u.v, last_updated = u.lu, deleted = u.d, "
            "patient_id = CASE WHEN u.d THEN r.patient_id ELSE u.p END, content_hash = u.h, content = u.c "
            f"FROM ({values}) AS u(t, i, v, lu, d, p, h, c) WHERE r.resource_type = u.t AND r.id = u.i", params))
    created = [(w.stored.resource_type, w.stored.id, w.stored.version_id, w.stored.last_updated, False,
                w.patient_id, w.content_hash, w.stored.content) for w in pending if w.kind == "create"]
    _insert(statements, copies, "resource", (("resource_type", "text"), ("id", "text"), ("version_id", "int"),
            ("last_updated", "timestamptz"), ("deleted", "bool"), ("patient_id", "text"),
            ("content_hash", "bytea"), ("content", "text")), created)
    encoded = [w.lines for w in pending if w.lines is not None]
    compartments = [(p, w.stored.resource_type, w.stored.id) for w in pending if w.lines is None
                    for p in w.other_patients]
    _insert(statements, copies, "resource_compartment",
            (("patient_id", "text"), ("resource_type", "text"), ("resource_id", "text")), compartments, encoded)
    for kind, (table, columns) in INDEX_TABLES.items():
        rows = [(w.stored.resource_type, w.stored.id, w.patient_id, *row)
                for w in pending if w.index is not None for row in getattr(w.index, kind)]
        _insert(statements, copies, table, (*_INDEX_HEAD, *columns), rows, encoded)
    lookups = [(w.stored.id, *row) for w in pending for row in w.lookup]
    _insert(statements, copies, "patient_lookup", (("patient_id", "text"), ("family", "text"), ("given", "text"),
                                                   ("birth_date", "date")), lookups, encoded)
    texts = [(w.stored.resource_type, w.stored.id, w.patient_id, *w.text) for w in pending if w.text]
    if texts:  # arrays, not a VALUES list: psycopg would parse a long query text on every call
        statements.append((
            "INSERT INTO sp_text (resource_type, resource_id, patient_id, content, narrative) "
            "SELECT t, i, p, to_tsvector('russian', c), to_tsvector('russian', n) "
            "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) AS u(t, i, p, c, n)",
            [list(column) for column in zip(*texts, strict=True)]))
    return statements, copies


def patient_lookup_rows(patient: dict[str, Any]) -> list[tuple[str, str | None, date | None]]:
    """(family skeleton, given skeleton, birth date) for each family name of a Patient."""
    birth = patient.get("birthDate")
    birth_date = date.fromisoformat(birth) if isinstance(birth, str) and len(birth) == 10 else None
    out = []
    for name in patient.get("name", ()):
        family = name.get("family") if isinstance(name, dict) else None
        if not isinstance(family, str) or not (family_key := skeleton(family)):
            continue
        given = " ".join(g for g in name.get("given", ()) if isinstance(g, str))
        out.append((family_key, skeleton(given) or None, birth_date))
    return out


def _insert(statements: list[Statement], copies: list[Copy], table: str, columns: tuple[tuple[str, str], ...],
            rows: list[tuple[Any, ...]], encoded: Sequence[dict[str, str]] = ()) -> None:
    lines = "".join(block for e in encoded if (block := e.get(table)))
    if not rows and not lines:
        return
    names = tuple(name for name, _ in columns)
    if lines or len(rows) >= COPY_THRESHOLD:
        copies.append((table, names, rows, lines))
        return
    values, params = _values(rows, tuple(t for _, t in columns))
    statements.append((f"INSERT INTO {table} ({', '.join(names)}) {values}", params))


@dataclass(frozen=True)  # no slots, as Encoded, which carries it from the import's worker processes
class _Serialized:
    """A resource serialized once: the client's part, and the hash that spots no-op updates."""

    head: str  # '{"resourceType":"X","id":"y"'
    client_meta: dict[str, Any]
    body: str  # every element but resourceType, id and meta, as a JSON object
    hash: bytes

    def content(self, version: int, now: datetime) -> str:
        """The JSON text as stored: id and meta (with the server's versionId, lastUpdated) first."""
        meta = jsonutil.dumps_str({**self.client_meta, "versionId": str(version), "lastUpdated": fhir_instant(now)})
        rest = "}" if self.body == "{}" else "," + self.body[1:]
        return f'{self.head},"meta":{meta}{rest}'


def _serialize(resource: dict[str, Any], rtype: str, rid: str) -> _Serialized:
    meta = resource.get("meta")
    client_meta = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")} \
        if isinstance(meta, dict) else {}
    body = jsonutil.dumps({k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")})
    head = f'{{"resourceType":{jsonutil.dumps_str(rtype)},"id":{jsonutil.dumps_str(rid)}'
    # The hash of head, client meta and body as UTF-8, taken from orjson's bytes (the text is not encoded again).
    digest = hashlib.sha256(b"%b\x00%b\x00%b" % (head.encode(), jsonutil.dumps(client_meta), body)).digest()
    return _Serialized(head, client_meta, body.decode(), digest)
