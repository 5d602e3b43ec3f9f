"""The gate: every request for patient data passes here, is decided by the policy, and is audited.

One :class:`Gate` per request. The FHIR layer calls it before it shows or changes anything:

- :meth:`check` for one resource (read, vread, history, operations on a patient): a refusal
  raises — ``NotFound`` for reads, so a refused record looks exactly like a missing one, and
  ``Forbidden`` for writes and for what is not about a patient;
- :meth:`guard_write` is the store's write guard (``WriteBatch.guard``): every create, update and
  delete, for the patients the resource belonged to before and belongs to after;
- :meth:`visible` is the SQL condition the search engine adds to every query it makes over
  resources (matches, ``_include``, chains, ``_has``, counts);
- :meth:`saw` records what a search showed: one audit entry per patient whose data it showed.

The entries are written by :meth:`flush` in the request's own transaction (a write and its audit
entry commit together; a read is answered only after its entry is written). Refusals are written
by :meth:`flush_refusals` after the request's transaction was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from psycopg import AsyncConnection

from medcard.access import audit
from medcard.access.audit import OUTCOME_REFUSED, OUTCOME_SUCCESS, AuditEntry
from medcard.access.policy import Decision, Policy, is_substance_use
from medcard.access.requester import Requester
from medcard.core import jsonutil
from medcard.core.errors import Forbidden, NotFound
from medcard.core.time import today_moscow
from medcard.fhir.search.conditions import SqlBuilder

READS = frozenset({"read", "vread", "search", "history", "export", "operation"})
WRITES = {"create": "create", "update": "update", "patch": "update", "delete": "delete"}  # -> the scope's letter


class Gate:
    def __init__(self, conn: AsyncConnection, requester: Requester, *, today: date | None = None) -> None:
        self.requester = requester
        self.policy = Policy(conn, requester, today or today_moscow())
        self.entries: list[AuditEntry] = []

    def rebind(self, conn: AsyncConnection) -> None:
        """Use another connection (a request that reads first and writes later)."""
        self.policy.conn = conn

    # one resource ----------------------------------------------------------------------------

    async def check(self, patient_id: str | None, rtype: str, action: str, *, entity: str, subtype: str | None = None,
                    content: str | None = None, query: str | None = None) -> Decision:
        """Decide ``action`` on a resource of ``patient_id``'s record and audit it; raise when refused.

        ``content`` (the stored JSON) is looked into only when the answer may depend on it: a
        teenager's own record before the age of own access to drug-addiction matters.
        """
        r = self.requester
        substance = (content is not None and patient_id is not None and r.kind == "family"
                     and r.patient_id == patient_id and is_substance_use(jsonutil.loads(content)))
        decision = await self.policy.decide(patient_id, rtype, _policy_action(action), substance_use=substance,
                                            interaction=WRITES.get(action))
        self._audit(decision, subtype or action, patient_id, entity, query)
        if not decision:
            if action in READS and patient_id is not None:
                raise NotFound(f"{entity} is not known")
            raise Forbidden(f"{action} of {rtype} is not allowed: {decision.reason}")
        return decision

    async def guard_write(self, action: str, rtype: str, rid: str, patients: list[str]) -> None:
        """The store's write guard: every patient whose record the write touches must allow it."""
        entity = f"{rtype}/{rid}"
        if rtype == "AuditEvent":
            self.refuse(action, entity, "the audit log is written by medcard alone")
            raise Forbidden("the audit log is written by medcard alone; AuditEvents cannot be created or changed")
        touched: list[str | None] = list(dict.fromkeys(patients)) or [None]
        for patient in touched:
            decision = await self.policy.decide(patient, rtype, "write", interaction=action)
            self._audit(decision, action, patient, entity, None)
            if not decision:
                raise Forbidden(f"{action} of {entity} is not allowed: {decision.reason}")

    async def content_filter(self, conn: AsyncConnection, patient_id: str) -> Callable[[str], bool]:
        """For operations that show a whole record ($everything, $summary): which stored resources
        (JSON text) may be shown. Everything, except drug-addiction matters for a teenager's own
        access before 16."""
        self.rebind(conn)
        if not await self.policy.hides_substance_use(patient_id):
            return _show_all
        return lambda content: not is_substance_use(jsonutil.loads(content))

    # searches --------------------------------------------------------------------------------

    async def prepare_search(self) -> None:
        await self.policy.prepare()

    async def consider_search(self, patient_id: str, rtype: str, query: str | None) -> None:
        """A search of one child's record: when the policy refuses it, the refusal is audited (the
        search itself still runs, and shows nothing of that record)."""
        decision = await self.policy.decide(patient_id, rtype, "search")
        if not decision:
            self._audit(decision, "search", patient_id, rtype, query)

    def visible(self, b: SqlBuilder, rtype: str, alias: str) -> str:
        return self.policy.visible_sql(b, rtype, alias)

    def saw(self, subtype: str, entity: str, query: str | None, patients: list[str | None]) -> None:
        """What a search (or history, or export) showed: one entry per patient whose data it showed."""
        distinct: list[str | None] = [p for p in dict.fromkeys(patients) if p is not None]
        r = self.requester
        glass = bool(r.break_glass)
        for patient in distinct or [None]:
            self.entries.append(AuditEntry(r, subtype, OUTCOME_SUCCESS, patient, entity, query,
                                           "emergency access" if glass and patient else None))

    def refuse(self, subtype: str, entity: str, reason: str, query: str | None = None) -> None:
        """Record a refusal decided before any patient was known (scopes, kinds of requester)."""
        self.entries.append(AuditEntry(self.requester, subtype, OUTCOME_REFUSED, None, entity, query, reason))

    # the audit log -----------------------------------------------------------------------------

    def _audit(self, decision: Decision, subtype: str, patient: str | None, entity: str, query: str | None) -> None:
        outcome = OUTCOME_SUCCESS if decision else OUTCOME_REFUSED
        detail = None if decision and not decision.break_glass else decision.reason
        self.entries.append(AuditEntry(self.requester, subtype, outcome, patient, entity, query, detail))

    async def flush(self, conn: AsyncConnection) -> None:
        """Write the entries gathered so far, in the caller's transaction (see ``audit.record``)."""
        entries, self.entries = self.entries, []
        await audit.record(conn, entries)

    async def flush_refusals(self, conn: AsyncConnection) -> None:
        """After a failed request: write its refusals (its other entries died with its transaction)."""
        refusals = [e for e in self.entries if e.outcome != OUTCOME_SUCCESS]
        self.entries = []
        await audit.record(conn, refusals)


def _show_all(content: str) -> bool:
    return True


def _policy_action(action: str) -> str:
    return {"vread": "read", "history": "read", "operation": "read", "create": "write", "update": "write",
            "patch": "write", "delete": "write"}.get(action, action)
