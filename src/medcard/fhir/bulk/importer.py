"""Bulk import: FHIR NDJSON, Bundles and folders of them into the store, idempotently.

Resources keep their ids (or get ids derived from their content), so importing the same files
again changes nothing: an unchanged resource makes no new version.

The work is a pipeline. The main process reads the input and cuts it into chunks; each chunk
is *analysed* (parsed, validated, serialized, indexed: the Python-heavy part) by a pool of
worker processes when ``jobs`` > 1, and the main process writes the analysed chunks in order,
each in one transaction with a fixed number of round trips, while the workers analyse the next
ones. A transaction Bundle is its own transaction, written all or nothing. Literal references
are not checked while importing (the files come in any order); conditional references
(``Practitioner?identifier=...``) are resolved by the main process, and those whose targets
have not arrived yet are put right once everything is in. Problems name the file, the line (or
entry) and the reason; ``on_error="stop"`` stops at the first, ``"continue"`` skips and reports.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from medcard.core.db import Database
from medcard.core.errors import MedcardError
from medcard.core.time import utcnow
from medcard.fhir import derived, store
from medcard.fhir.bulk.sources import Item, Problem, input_files, parse_line, read
from medcard.fhir.interactions import NOT_STORED
from medcard.fhir.search.index import indexer
from medcard.fhir.spec import r4
from medcard.fhir.store import Analysis, Encoded, WriteBatch, analyze
from medcard.fhir.validation import ReferenceSite, Validated, validate

log = logging.getLogger(__name__)

CHUNK = 500  # resources per transaction
DERIVED_CHUNK = 200  # patients whose derived rows are recomputed per transaction at the end
MAX_PROBLEMS = 1000  # problems kept for the report (all are counted)
ANALYZE_AFTER = 10_000  # resources written; beyond this the import refreshes the planner's statistics
ANALYZE_SHARE = 0.1  # ... and also when it wrote this share of the store (or the store was never analysed)
STORE_TABLES = ("resource", "resource_compartment", "sp_token", "sp_string", "sp_date", "sp_number", "sp_quantity",
                "sp_reference", "sp_uri", "sp_text", "patient_lookup")


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
    skipped: list[str] = field(default_factory=list)  # files that hold no resources: "file: why"
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
                "problems": [str(p) for p in self.problems], "skipped": self.skipped, "dangling": self.dangling}


Progress = Callable[[ImportReport], Awaitable[None]]


# analysis (runs in worker processes) ------------------------------------------------


@dataclass
class Outcome:
    """One input resource after analysis: a problem, an analysis ready to write, or (when it has
    conditional references, which only the main process can resolve) the validated resource."""

    source: str
    where: str
    problem: Problem | None = None
    analysis: Encoded | None = None
    resource: dict[str, Any] | None = None
    checked: Validated | None = None


Payload = tuple[str, str, bytes | None, dict[str, Any] | None]


def analyze_chunk(payloads: list[Payload]) -> list[Outcome]:
    """Parse, validate and analyse a chunk of input (a worker process's whole job)."""
    return [_analyze_one(*p) for p in payloads]


def _analyze_one(source: str, where: str, raw: bytes | None, resource: dict[str, Any] | None) -> Outcome:
    try:
        if resource is None:
            assert raw is not None
            resource = parse_line(raw)
        rtype = resource.get("resourceType")
        if isinstance(rtype, str) and rtype in NOT_STORED:
            raise ValueError(f"{rtype} resources are not stored")
        checked = validate(resource)
        bad = _bad_conditional(checked)
        if bad:
            raise ValueError(bad)
        if any(_is_conditional(s.reference) for s in checked.references):
            return Outcome(source, where, resource=resource, checked=checked)
        analysis = analyze(resource, resource["resourceType"], resource["id"], checked)
        return Outcome(source, where, analysis=analysis.encoded())
    except MedcardError as e:
        return Outcome(source, where, problem=Problem(source, where, _describe(e)))
    except ValueError as e:
        return Outcome(source, where, problem=Problem(source, where, str(e)))


def _warm_up() -> None:
    """Load the definitions and build the search registry before the first chunk."""
    r4()
    indexer()


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


def _describe(error: MedcardError) -> str:
    first = error.issues[0] if error.issues else None
    where = f" at {first.expression[0]}" if first is not None and first.expression else ""
    more = f" (and {len(error.issues) - 1} more problems)" if len(error.issues) > 1 else ""
    reason = first.diagnostics if first is not None else error.message
    return f"{reason}{where}{more}"


# the run (main process) ---------------------------------------------------------------


class _Stop(Exception):
    """on_error="stop" met a problem."""


@dataclass
class _Chunk:
    payloads: list[Payload]
    atomic: bool = False  # a transaction Bundle


@dataclass
class _Ready:
    outcome: Outcome
    analysis: Analysis | Encoded
    waits: bool  # holds a conditional reference whose target has not arrived yet


class Importer:
    """One import run: sources in, chunks analysed and written, conditional references resolved."""

    def __init__(self, db: Database, *, on_error: str = "stop", progress: Progress | None = None,
                 chunk: int = CHUNK, jobs: int = 1) -> None:
        if on_error not in ("stop", "continue"):
            raise ValueError("on_error is 'stop' or 'continue'")
        self.db = db
        self.on_error = on_error
        self.progress = progress
        self.chunk_size = chunk
        self.jobs = max(1, jobs)
        self.report = ImportReport()
        self._refs: dict[str, str | None] = {}  # conditional reference -> Type/id (None: no single match yet)
        self._deferred: list[tuple[str, str]] = []  # written with conditional references still unresolved
        self._started = 0.0
        self._since = utcnow()
        self._derived = derived.Pending()  # patients whose derived tables are recomputed at the end

    async def run(self, paths: list[Path]) -> ImportReport:
        self._started = time.perf_counter()
        self._since = utcnow()
        files = input_files(paths)
        self.report.files = len(files)
        pool = self._pool()
        try:
            await self._pipeline(self._chunks(files), pool)
            await self._resolve_deferred()
            # Recomputing the derived tables is mostly Python, ANALYZE is all PostgreSQL: side by side,
            # and both finished before anything else happens (a failure of one is raised after).
            for failed in await asyncio.gather(self._refresh_derived(pool), self._analyze_tables(),
                                               return_exceptions=True):
                if isinstance(failed, BaseException):
                    raise failed
            await self._find_dangling()
        except _Stop:
            self.report.stopped = True
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        self.report.seconds = time.perf_counter() - self._started
        if self.progress is not None:
            await self.progress(self.report)
        return self.report

    def _pool(self) -> Executor | None:
        if self.jobs == 1:
            return None
        return ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_warm_up)

    def _chunks(self, files: list[Path]) -> Iterator[_Chunk | Problem]:
        """The input cut into chunks; a transaction Bundle is a chunk of its own; problems as they come."""
        payloads: list[Payload] = []
        for path in files:
            for item in read(path):
                if item.skipped is not None:
                    self.report.skipped.append(f"{item.source}: {item.skipped}")
                elif item.problem is not None:
                    if payloads:
                        yield _Chunk(payloads)
                        payloads = []
                    self.report.read += 1
                    yield item.problem
                elif item.transaction:
                    if payloads:
                        yield _Chunk(payloads)
                        payloads = []
                    yield _transaction_chunk(item)
                else:
                    payloads.append((item.source, item.where, item.raw, item.resource))
                    if len(payloads) >= self.chunk_size:
                        yield _Chunk(payloads)
                        payloads = []
        if payloads:
            yield _Chunk(payloads)

    async def _pipeline(self, chunks: Iterator[_Chunk | Problem], pool: Executor | None) -> None:
        """Analyse ahead (in the pool) while writing in order."""
        loop = asyncio.get_running_loop()
        in_flight: deque[tuple[_Chunk | Problem, asyncio.Future[list[Outcome]] | None]] = deque()
        for chunk in chunks:
            future = None
            if isinstance(chunk, _Chunk) and pool is not None:
                future = loop.run_in_executor(pool, analyze_chunk, chunk.payloads)
            in_flight.append((chunk, future))
            if len(in_flight) > 2 * self.jobs:
                await self._take(*in_flight.popleft())
        while in_flight:
            await self._take(*in_flight.popleft())

    async def _take(self, chunk: _Chunk | Problem, future: asyncio.Future[list[Outcome]] | None) -> None:
        if isinstance(chunk, Problem):
            await self._problem(chunk)
            return
        outcomes = await future if future is not None else analyze_chunk(chunk.payloads)
        self.report.read += len(outcomes)
        if chunk.atomic:
            await self._write_transaction(outcomes)
        else:
            await self._write_outcomes(outcomes)

    # writing -----------------------------------------------------------------------

    async def _write_outcomes(self, outcomes: list[Outcome]) -> None:
        """Write the good ones (in order, stopping at a problem when asked to), report the rest."""
        ready: list[_Ready] = []
        keys: set[tuple[str, str]] = set()
        for outcome in outcomes:
            if outcome.problem is not None:
                if self.on_error == "stop":
                    await self._write(ready)
                    ready = []
                await self._problem(outcome.problem)
                continue
            item = await self._ready(outcome)
            if item is None:
                continue
            key = (item.analysis.rtype, item.analysis.rid)
            if key in keys:  # the same resource twice: the later one wins, in a later write
                await self._write(ready)
                ready, keys = [], set()
            ready.append(item)
            keys.add(key)
        await self._write(ready)

    async def _write_transaction(self, outcomes: list[Outcome]) -> None:
        bad = next((o.problem for o in outcomes if o.problem is not None), None)
        if bad is not None:
            await self._problem(Problem(bad.source, bad.where, f"{bad.reason}; nothing of this transaction was "
                                        "imported"), count=len(outcomes))
            return
        ready = []
        for outcome in outcomes:
            item = await self._ready(outcome)
            if item is None:
                return
            ready.append(item)
        await self._write(ready, atomic=True)

    async def _ready(self, outcome: Outcome) -> _Ready | None:
        """The outcome ready to write; a resource with conditional references gets them resolved first."""
        if outcome.analysis is not None:
            return _Ready(outcome, outcome.analysis, waits=False)
        assert outcome.resource is not None
        assert outcome.checked is not None
        await self._learn(outcome.checked)
        resource = self._resolve(outcome.resource, outcome.checked)
        try:
            analysis = analyze(resource, resource["resourceType"], resource["id"], outcome.checked)
        except MedcardError as e:
            await self._problem(Problem(outcome.source, outcome.where, _describe(e)))
            return None
        waits = any(_is_conditional(s.reference) for s in outcome.checked.references)
        return _Ready(outcome, analysis, waits)

    async def _learn(self, checked: Validated) -> None:
        """Look up the conditional references not seen before."""
        unknown = sorted({s.reference for s in checked.references
                          if _is_conditional(s.reference) and s.reference not in self._refs})
        if unknown:
            async with self.db.connection() as conn:
                for ref in unknown:
                    self._refs[ref] = await _lookup(conn, ref)

    def _resolve(self, resource: dict[str, Any], checked: Validated) -> dict[str, Any]:
        mapping = {s.reference: ref for s in checked.references if (ref := self._refs.get(s.reference)) is not None}
        if not mapping:
            return resource
        checked.references = [ReferenceSite(s.path, mapping.get(s.reference, s.reference), s.targets)
                              for s in checked.references]
        return _rewrite(resource, mapping)  # type: ignore[no-any-return]

    async def _write(self, ready: list[_Ready], *, atomic: bool = False) -> None:
        if not ready:
            return
        try:
            async with self.db.transaction() as conn:
                counts = await _write_chunk(conn, [r.analysis for r in ready], self._derived)
        except MedcardError as e:
            first = ready[0].outcome
            what = "this transaction" if atomic else f"the chunk of {len(ready)} resources starting here"
            await self._problem(Problem(first.source, first.where, f"{_describe(e)}; nothing of {what} was imported"),
                                count=len(ready))
            return
        self._deferred += [(r.analysis.rtype, r.analysis.rid) for r in ready if r.waits]
        self.report.created += counts["created"]
        self.report.updated += counts["updated"]
        self.report.unchanged += counts["unchanged"]
        if self.progress is not None:
            self.report.seconds = time.perf_counter() - self._started
            await self.progress(self.report)

    # the end -----------------------------------------------------------------------

    async def _resolve_deferred(self) -> None:
        """Resources written before the targets of their conditional references: put the ids in now."""
        deferred, self._deferred = self._deferred, []
        self._refs = {ref: target for ref, target in self._refs.items() if target is not None}
        for start in range(0, len(deferred), self.chunk_size):
            async with self.db.transaction() as conn:
                batch = WriteBatch(conn, check_references=False, defer_derived=self._derived)
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

    async def _refresh_derived(self, pool: Executor | None) -> None:
        """Recompute the derived tables (the vaccination worklist) once for each patient the import touched.

        Done at the end rather than at every chunk: a child's record arrives spread over many chunks
        (one file per type), and recomputing costs milliseconds per child. With worker processes,
        ``jobs`` chunks of patients are in flight at once, each in its own transaction, their rows
        computed in the pool. An import interrupted before this point leaves those rows stale until
        ``medcard db rebuild-derived``.
        """
        pending, self._derived = self._derived, derived.Pending()
        # one connection each, and ANALYZE runs beside them on another
        slots = asyncio.Semaphore(max(1, min(self.jobs, self.db.pool.max_size - 1)))

        async def one(d: derived.Derived, ids: list[str]) -> None:
            async with slots, self.db.transaction() as conn:
                await d.refresh(conn, ids, pool)

        for d in derived.registry():
            ids = sorted(pending.patients.get(d.name, ()))
            chunks = [ids[start:start + DERIVED_CHUNK] for start in range(0, len(ids), DERIVED_CHUNK)]
            results = await asyncio.gather(*(one(d, chunk) for chunk in chunks), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                # the kinds only: a database error's text may quote a record's values
                log.error("%s: %d of %d chunks of patients failed (%s); run medcard db rebuild-derived", d.name,
                          len(failures), len(chunks), ", ".join(sorted({type(f).__name__ for f in failures})))
                raise failures[0]

    async def _analyze_tables(self) -> None:
        """After a load that changes the store's shape, refresh the planner's statistics now rather than
        whenever autovacuum does: with stale ones (or none, in a new store), the first searches and chart
        summaries after an import can pick plans that read whole tables (a summary took 6.9 ms instead of
        3.3 in a new store of 3,657 resources)."""
        written = self.report.created + self.report.updated
        if written == 0:
            return
        async with self.db.connection() as conn:
            # reltuples: the size at the last ANALYZE or VACUUM, -1 if the table never had one
            cur = await conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'resource'::regclass")
            row = await cur.fetchone()
            before = row[0] if row else -1
            if written < ANALYZE_AFTER and before >= 0 and written < ANALYZE_SHARE * before:
                return
            for table in STORE_TABLES:
                await conn.execute(f"ANALYZE {table}")

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
            raise _Stop


def _transaction_chunk(item: Item) -> _Chunk | Problem:
    """A transaction Bundle as one atomic chunk, or the problem that makes all of it fail."""
    bad = next((e.problem for e in item.transaction if e.problem is not None), None)
    if bad is not None:
        return Problem(bad.source, bad.where, f"{bad.reason}; nothing of this transaction was imported")
    payloads: list[Payload] = [(e.source, e.where, e.raw, e.resource) for e in item.transaction]
    return _Chunk(payloads, atomic=True)


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


async def _write_chunk(conn: AsyncConnection, analyses: list[Analysis | Encoded],
                       pending: derived.Pending | None = None) -> dict[str, int]:
    """Upsert analysed resources in one transaction (derived tables left to the end when ``pending`` is given)."""
    batch = WriteBatch(conn, check_references=False, defer_derived=pending)
    current = await batch.lock_many([(a.rtype, a.rid) for a in analyses])
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for a in analyses:
        counts[batch.upsert_analyzed(a, current.get((a.rtype, a.rid)))] += 1
    await batch.flush()
    return counts
