"""What the portal's pages work out of a child's record, kept in the server process while the record does
not change.

A parent opens the start page, the record, the documents and the start page again: each reads the same
record and works out the same vaccination forecast and examination schedule. The worked-out views are
kept per server process (each worker has its own), bounded (the least recently used go first), under a
key of everything they depend on:

- the child and the page's part (``summary``, ``record``, ``documents``);
- the view: what the policy lets this kind of reader see (:meth:`Gate.content_view`: the types and kinds
  the reader may read, and whether a teenager's own view before 16 leaves drug-addiction matters out);
- the day in Moscow (forecasts and what counts as new depend on it);
- the record's version: how many resources it holds (deleted ones too) and the sum of their version
  numbers, so any create, update or delete in the record makes a new key, whatever order concurrent
  writes commit in (a last-change time alone can stay the same when an earlier-started write commits
  after a later one).

Nothing is looked up before the policy has decided and the audit log has recorded the opening. Two
readers with the same view of a child (both parents) share what is kept: they may see the same.

Not in the key: the names of practitioners and clinics (reference data outside the record: a renamed
clinic shows under its old name on a kept page until the record changes or the server restarts), and
resources of another record shared into this one (``resource_compartment``), which no page reads today.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from datetime import date
from threading import Lock
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate

KEPT_VIEWS = 3000  # about 1,000 children's three parts: a few KB each


class Kept:
    """A bounded map from a key to a worked-out view, least recently used out first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> Any:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


views = Kept(KEPT_VIEWS)


VERSION_SQL = "SELECT count(*), coalesce(sum(version_id), 0) FROM resource WHERE patient_id = %s"


async def key(conn: AsyncConnection, gate: Gate, patient_id: str, part: str, on: date) -> Hashable:
    """The key of ``part`` of the record as this requester may see it on ``on`` (one statement: the version)."""
    types, kinds, hides = await gate.content_view(conn, patient_id)
    cur = await conn.execute(VERSION_SQL, (patient_id,))
    count, versions = await cur.fetchone() or (0, 0)
    return (patient_id, part, types, tuple(sorted(kinds.items())), hides, on, int(count), int(versions))
