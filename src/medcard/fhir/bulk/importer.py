"""Bulk import: FHIR NDJSON, Bundles and folders of them into the store, idempotently.

Resources keep their ids (or get ids derived from their content), so importing the same files
again changes nothing: an unchanged resource makes no new version. Resources are validated and
written in chunks, each chunk one transaction with a fixed number of round trips; a transaction
Bundle is its own transaction, written all or nothing. References between input files may point
either way: literal references are not checked while importing (the files come in any order),
and conditional references (``Practitioner?identifier=...``) that cannot be resolved yet are
written as they are and put right once everything is in. Problems name the file, the line (or
entry) and the reason; ``on_error="stop"`` stops at the first, ``"continue"`` skips and reports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from medcard.core.db import Database
from medcard.core.errors import MedcardError
from medcard.core.time import utcnow
from medcard.fhir import store
from medcard.fhir.bulk.sources import Item, Problem, input_files, read
from medcard.fhir.interactions import NOT_STORED
from medcard.fhir.store import WriteBatch
from medcard.fhir.validation import ReferenceSite, Validated, validate

log = logging.getLogger(__name__)

CHUNK = 500  # resources per transaction
MAX_PROBLEMS = 1000  # problems kept for the report (all are counted)


@dataclass
class ImportReport:
    """What an import did."""

    files: int = 0
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    resolved_later: int = 0
    problems: list[Problem] = field(default_factory=list)
    dangling: list[str] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return self.created + self.updated + self.unchanged

    def rate(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"{self.read} resources read from {self.files} files: {self.created} created, "
                f"{self.updated} updated, {self.unchanged} unchanged, {self.failed} failed"
                f" in {self.seconds:.1f} s ({self.rate():.0f} resources/s)")

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "read": self.read, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "failed": self.failed, "resolvedLater": self.resolved_later,
                "stopped": self.stopped, "seconds": round(self.seconds, 3),
                "problems": [str(p) for p in self.problems], "dangling": self.dangling}


Progress = Callable[[ImportReport], Awaitable[None]]


class _Stop(Exception):
    """on_error="stop" met a problem."""


@dataclass
class _Pending:
    item: Item
    resource: dict[str, Any]
    checked: Validated


class Importer:
    """One import run: sources in, chunks written, conditional references resolved, a report out."""

    def __init__(self, db: Database, *, on_error: str = "stop", progress: Progress | None = None,
                 chunk: int = CHUNK) -> None:
        if on_error not in ("stop", "continue"):
            raise ValueError("on_error is 'stop' or 'continue'")
        self.db = db
        self.on_error = on_error
        self.progress = progress
        self.chunk_size = chunk
        self.report = ImportReport()
        self._refs: dict[str, str | None] = {}  # conditional reference -> Type/id (None: no single match yet)
        self._deferred: list[tuple[str, str]] = []  # resources written with unresolved conditional references
        self._chunk: list[_Pending] = []
        self._started = 0.0
        self._since = utcnow()

    async def run(self, paths: list[Path]) -> ImportReport:
        self._started = time.perf_counter()
        self._since = utcnow()
        files = input_files(paths)
        self.report.files = len(files)
        try:
            for path in files:
                for item in read(path):
                    await self._item(item)
            await self._flush()
            await self._resolve_deferred()
            await self._find_dangling()
        except _Stop:
            self.report.stopped = True
        self.report.seconds = time.perf_counter() - self._started
        if self.progress is not None:
            await self.progress(self.report)
        return self.report

    # items -------------------------------------------------------------------------

    async def _item(self, item: Item) -> None:
        if item.problem is not None:
            await self._problem(item.problem)
        elif item.transaction:
            await self._flush()
            await self._transaction(item)
        elif item.resource is not None:
            self.report.read += 1
            pending = await self._check(item, item.resource)
            if pending is None:
                return
            key = (pending.resource["resourceType"], pending.resource["id"])
            if any((p.resource["resourceType"], p.resource["id"]) == key for p in self._chunk):
                await self._flush()  # the same resource twice: the later one wins, in the next chunk
            self._chunk.append(pending)
            if len(self._chunk) >= self.chunk_size:
                await self._flush()

    async def _check(self, item: Item, resource: dict[str, Any], *, report: bool = True) -> _Pending | None:
        """Validate and put in the ids of known conditional references; None (and a problem) when invalid."""
        problem = _invalid(resource)
        checked = None
        if problem is None:
            try:
                checked = validate(resource)
            except MedcardError as e:
                problem = _describe(e)
        if problem is None and checked is not None:
            problem = _bad_conditional(checked)
        if problem is not None or checked is None:
            if report:
                await self._problem(Problem(item.source, item.where, problem or "invalid"))
            return None
        return _Pending(item, self._resolve(resource, checked), checked)

    def _resolve(self, resource: dict[str, Any], checked: Validated) -> dict[str, Any]:
        mapping = {s.reference: ref for s in checked.references if (ref := self._refs.get(s.reference)) is not None}
        if not mapping:
            return resource
        checked.references = [ReferenceSite(s.path, mapping.get(s.reference, s.reference), s.targets)
                              for s in checked.references]
        return _rewrite(resource, mapping)  # type: ignore[no-any-return]

    async def _transaction(self, item: Item) -> None:
        """A transaction Bundle: all of it, or (on any problem) nothing of it."""
        pendings = []
        for entry in item.transaction:
            self.report.read += 1 if entry.resource is not None else 0
            if entry.problem is not None:
                await self._problem(entry.problem, count=len(item.transaction))
                return
            assert entry.resource is not None
            pending = await self._check(entry, entry.resource, report=False)
            if pending is None:
                reason = _invalid(entry.resource) or _validation_reason(entry.resource)
                await self._problem(Problem(entry.source, entry.where, f"{reason}; nothing of this transaction "
                                            "was imported"), count=len(item.transaction))
                return
            pendings.append(pending)
        await self._write(pendings, atomic=True)

    # writing -----------------------------------------------------------------------

    async def _flush(self) -> None:
        pendings, self._chunk = self._chunk, []
        if pendings:
            await self._write(pendings)

    async def _write(self, pendings: list[_Pending], *, atomic: bool = False) -> None:
        await self._learn_conditionals(pendings)
        try:
            async with self.db.transaction() as conn:
                counts = await _write_chunk(conn, pendings, self._deferred)
        except MedcardError as e:
            first = pendings[0].item
            what = "this transaction" if atomic else f"the chunk of {len(pendings)} resources starting here"
            await self._problem(Problem(first.source, first.where, f"{_describe(e)}; nothing of {what} was imported"),
                                count=len(pendings))
            return
        self.report.created += counts["created"]
        self.report.updated += counts["updated"]
        self.report.unchanged += counts["unchanged"]
        if self.progress is not None:
            self.report.seconds = time.perf_counter() - self._started
            await self.progress(self.report)

    async def _learn_conditionals(self, pendings: list[_Pending]) -> None:
        """Look up the conditional references of a chunk not seen before; rewrite what resolved."""
        unknown = {s.reference for p in pendings for s in p.checked.references
                   if _is_conditional(s.reference) and s.reference not in self._refs}
        if not unknown:
            return
        async with self.db.connection() as conn:
            for ref in sorted(unknown):
                self._refs[ref] = await _lookup(conn, ref)
        for p in pendings:
            p.resource = self._resolve(p.resource, p.checked)

    # the end -----------------------------------------------------------------------

    async def _resolve_deferred(self) -> None:
        """Resources written before the targets of their conditional references: put the ids in now."""
        deferred, self._deferred = self._deferred, []
        self._refs = {ref: target for ref, target in self._refs.items() if target is not None}
        for start in range(0, len(deferred), self.chunk_size):
            async with self.db.transaction() as conn:
                batch = WriteBatch(conn, check_references=False)
                for rtype, rid in deferred[start:start + self.chunk_size]:
                    await self._resolve_one(conn, batch, rtype, rid)
                await batch.flush()

    async def _resolve_one(self, conn: AsyncConnection, batch: WriteBatch, rtype: str, rid: str) -> None:
        stored = await store.read_current(conn, rtype, rid)
        if stored is None or stored.deleted:
            return
        resource = stored.resource()
        checked = validate(resource)
        for ref in {s.reference for s in checked.references if _is_conditional(s.reference)}:
            if ref not in self._refs:
                self._refs[ref] = await _lookup(conn, ref)
            if self._refs[ref] is None:
                await self._problem(Problem(f"{rtype}/{rid}", "", f"the conditional reference {ref} matches no "
                                            "single resource; it was left as it is"))
                return
        await batch.rewrite(self._resolve(resource, checked), stored.version_id, checked)
        self.report.resolved_later += 1

    async def _find_dangling(self) -> None:
        """Targets of literal references, written by this import, that do not exist (reported, not refused)."""
        async with self.db.connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT i.target_type || '/' || i.target_id FROM resource r "
                "JOIN sp_reference i ON i.resource_type = r.resource_type AND i.resource_id = r.id "
                "LEFT JOIN resource t ON t.resource_type = i.target_type AND t.id = i.target_id "
                "WHERE r.last_updated >= %s AND i.target_type IS NOT NULL AND (t.id IS NULL OR t.deleted) "
                "LIMIT 20", (self._since,))
            self.report.dangling = sorted(r[0] for r in await cur.fetchall())

    # problems ----------------------------------------------------------------------

    async def _problem(self, problem: Problem, count: int = 1) -> None:
        self.report.failed += count
        if len(self.report.problems) < MAX_PROBLEMS:
            self.report.problems.append(problem)
        if self.on_error == "stop":
            await self._flush()  # what came before the problem is imported
            raise _Stop


def _invalid(resource: dict[str, Any]) -> str | None:
    rtype = resource.get("resourceType")
    if isinstance(rtype, str) and rtype in NOT_STORED:
        return f"{rtype} resources are not stored"
    return None


def _validation_reason(resource: dict[str, Any]) -> str:
    try:
        checked = validate(resource)
    except MedcardError as e:
        return _describe(e)
    return _bad_conditional(checked) or "invalid"


def _bad_conditional(checked: Validated) -> str | None:
    """A conditional reference must name a type the element may refer to."""
    for site in checked.references:
        if _is_conditional(site.reference):
            rtype = site.reference.split("?", 1)[0]
            if site.targets and rtype not in site.targets:
                return f"a reference to {rtype} is not allowed at {site.path} (allowed: {', '.join(site.targets)})"
    return None


def _is_conditional(reference: str) -> bool:
    return "?" in reference and not reference.startswith(("http:", "https:", "urn:"))


async def _lookup(conn: AsyncConnection, reference: str) -> str | None:
    rtype, _, query = reference.partition("?")
    try:
        ids = await store.find_ids(conn, rtype, query)
    except MedcardError:
        return None
    return f"{rtype}/{ids[0]}" if len(ids) == 1 else None


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _rewrite(v, mapping) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, mapping) for v in node]
    if isinstance(node, str) and node in mapping:
        return mapping[node]
    return node


def _describe(error: MedcardError) -> str:
    first = error.issues[0] if error.issues else None
    where = f" at {first.expression[0]}" if first is not None and first.expression else ""
    more = f" (and {len(error.issues) - 1} more problems)" if len(error.issues) > 1 else ""
    reason = first.diagnostics if first is not None else error.message
    return f"{reason}{where}{more}"


async def _write_chunk(conn: AsyncConnection, pendings: list[_Pending], deferred: list[tuple[str, str]]
                       ) -> dict[str, int]:
    """Upsert a chunk in one transaction; record resources whose conditional references wait."""
    batch = WriteBatch(conn, check_references=False)
    keys = [(p.resource["resourceType"], p.resource["id"]) for p in pendings]
    current = await batch.lock_many(keys)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for p, key in zip(pendings, keys, strict=True):
        batch.where = f"{p.item.source} {p.item.where}".strip()
        outcome = await batch.upsert(p.resource, key[1], p.checked, current.get(key))
        counts[outcome] += 1
        if any(_is_conditional(s.reference) for s in p.checked.references):
            deferred.append(key)
    await batch.flush()
    return counts
