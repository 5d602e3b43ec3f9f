"""Derived data: tables computed from a patient's resources, kept right in the writing transaction.

A feature that answers a population question with one indexed query (the vaccination worklist)
keeps a table derived from each patient's record. It declares a :class:`Derived`: the resource
types it reads and a ``refresh(conn, patient_ids)`` that recomputes those patients' rows from
their current resources. :meth:`medcard.fhir.store.WriteBatch.flush` calls :func:`before` and
:func:`after` around every flush, so every write path (REST interactions, transaction and batch
Bundles, bulk import) keeps derived data in step, in the same transaction, with no extra round
trip when the batch touches no watched type.

The store knows no domain: the domains' tables are handed to :func:`install` by each entry point
before it writes (``medcard.domains.install``: the server, the job worker, the commands), so that
imports run one way (domain -> store). A write before that is refused rather than leaving the
derived tables silently behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from psycopg import AsyncConnection

# refresh(conn, patient_ids, executor): an import passes its worker processes to compute rows in; None elsewhere.
Refresh = Callable[[AsyncConnection, list[str], Executor | None], Awaitable[None]]
# One write of a flush: (resource type, id, the patient it now belongs to or None, kind of write).
Write = tuple[str, str, str | None, str]


@dataclass(frozen=True)
class Derived:
    """A derived table: its name, the resource types whose writes change it, and how to recompute a patient."""

    name: str
    resource_types: frozenset[str]
    refresh: Refresh
    # every patient (repair, backfill), computing in the worker processes given if any; returns how many
    rebuild: Callable[[AsyncConnection, Executor | None], Awaitable[int]]


_installed: tuple[Derived, ...] | None = None


def install(tables: Iterable[Derived]) -> None:
    """Make these the derived tables every write keeps (at start; installing the same set again changes nothing)."""
    global _installed
    tables = tuple(tables)
    if len({d.name for d in tables}) != len(tables):
        raise ValueError("two derived tables with the same name")
    _installed = tables


def registry() -> tuple[Derived, ...]:
    """Every derived table medcard keeps (installed at start)."""
    if _installed is None:
        raise RuntimeError("no derived tables installed: an entry point that writes calls medcard.domains.install() "
                           "first, or the vaccination worklist would miss its writes")
    return _installed


@dataclass
class Pending:
    """The patients each derived table must recompute after a flush."""

    patients: dict[str, set[str]] = field(default_factory=dict)  # derived name -> patient ids

    def merge(self, other: Pending | None) -> None:
        """Add another flush's patients (a bulk import refreshes once, at its end)."""
        for name, ids in (other.patients if other else {}).items():
            self.patients.setdefault(name, set()).update(ids)

    def count(self) -> int:
        return len(set().union(*self.patients.values())) if self.patients else 0


async def before(conn: AsyncConnection, writes: Sequence[Write]) -> Pending | None:
    """Before a flush writes: the patients whose derived rows it changes, new owners and previous ones
    (an update or delete may take a resource away from a patient); None when it touches no watched type."""
    watched = {t for d in registry() for t in d.resource_types}
    mine = [w for w in writes if w[0] in watched]
    if not mine:
        return None
    changed = [(t, i) for t, i, _, kind in mine if kind != "create"]
    previous: dict[tuple[str, str], str] = {}
    if changed:
        cur = await conn.execute(
            "SELECT r.resource_type, r.id, r.patient_id FROM resource r "
            "JOIN unnest(%s::text[], %s::text[]) AS k(t, i) ON r.resource_type = k.t AND r.id = k.i "
            "WHERE r.patient_id IS NOT NULL", ([t for t, _ in changed], [i for _, i in changed]))
        previous = {(t, i): p for t, i, p in await cur.fetchall()}
    pending = Pending()
    for d in registry():
        ids = {p for t, i, now, _ in mine if t in d.resource_types
               for p in (now, previous.get((t, i))) if p is not None}
        if ids:
            pending.patients[d.name] = ids
    return pending


async def after(conn: AsyncConnection, pending: Pending | None) -> None:
    """After a flush wrote its rows: each derived table recomputes the patients it lost or gained."""
    if pending is None:
        return
    for d in registry():
        ids = pending.patients.get(d.name)
        if ids:
            await d.refresh(conn, sorted(ids), None)
