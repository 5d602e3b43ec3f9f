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
entry commit together; a read is answered only after its entry is written). When a request fails,
:meth:`flush_failed` writes its entries afterwards, in a transaction of their own: refusals as they
are, the rest as failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date

from psycopg import AsyncConnection

from medcard.access import audit
from medcard.access.audit import OUTCOME_FAILED, OUTCOME_REFUSED, OUTCOME_SUCCESS, AuditEntry
from medcard.access.policy import Decision, Policy, is_substance_use, kinds_of, narrows
from medcard.access.requester import Requester
from medcard.core import jsonutil
from medcard.core.errors import Forbidden, NotFound
from medcard.core.time import today_moscow
from medcard.fhir.search.conditions import SqlBuilder

CLIENT_CLOSED = 499  # the request was cancelled: its client went away before the answer
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
                    content: str | None = None, query: str | None = None, missing: str | None = None,
                    record: bool = True) -> Decision:
        """Decide ``action`` on a resource of ``patient_id``'s record and audit it; raise when refused.

        ``content`` (the stored JSON) is looked into only when the answer may depend on it: a
        teenager's own record before the age of own access to drug-addiction matters. A refused
        read of a record raises ``NotFound(missing)``: ``missing`` must be the very message the caller
        gives when there is no such resource, so that the two answers are the same to the byte.
        ``record=False``: an allowed decision is not audited (the caller's next step is). ``content`` also
        tells the kind of the resource to a role that reaches only some kinds of its type (the registrar's
        paper cards); without it such a role is refused.
        """
        r = self.requester
        substance = (content is not None and patient_id is not None and r.kind == "family"
                     and r.patient_id == patient_id and is_substance_use(jsonutil.loads(content)))
        kinds = kinds_of(rtype, jsonutil.loads(content)) if content is not None and narrows(r, rtype) else None
        decision = await self.policy.decide(patient_id, rtype, _policy_action(action), substance_use=substance,
                                            interaction=WRITES.get(action), kinds=kinds)
        if record or not decision:
            self._audit(decision, subtype or action, patient_id, entity, query)
        if not decision:
            if action in READS and patient_id is not None:
                raise NotFound(missing or f"{entity} is not known")
            raise Forbidden(await self._refusal(action, rtype, patient_id, decision))
        return decision

    async def guard_write(self, action: str, rtype: str, rid: str, patients: list[str]) -> None:
        """The store's write guard: every patient whose record the write touches must allow it."""
        entity = f"{rtype}/{rid}"
        if rtype == "AuditEvent":
            self.refuse(action, entity, "the audit log is written by medcard alone")
            raise Forbidden("the audit log is written by medcard alone; AuditEvents cannot be created or changed")
        touched: list[str | None] = list(dict.fromkeys(patients)) or [None]
        # A new resource's id is the server's (random): the refusal must not name it, or two refusals
        # of the same request would differ.
        what = rtype if action == "create" else entity
        for patient in touched:
            decision = await self.policy.decide(patient, rtype, "write", interaction=action)
            self._audit(decision, action, patient, entity, None)
            if not decision:
                raise Forbidden(await self._refusal(action, what, patient, decision))

    async def _refusal(self, action: str, what: str, patient_id: str | None, decision: Decision) -> str:
        """The text of a 403. The policy's reason speaks of the record (its age, who represents the
        child, whether it exists); it is told only to those who may read that record, so that a
        refusal says nothing about a record beyond what the requester may see anyway."""
        reason = decision.reason
        if patient_id is not None and not await self.policy.decide(patient_id, "Patient", "read"):
            reason = "you may not change this record"
        return f"{action} of {what} is not allowed: {reason}"

    async def content_view(self, conn: AsyncConnection, patient_id: str
                           ) -> tuple[frozenset[str] | None, dict[str, frozenset[str]], bool]:
        """What :meth:`content_filter` shows of this record, as data: the readable types (None: every type),
        the kinds readable of other types, and whether drug-addiction matters are left out. Two requesters
        with the same view of a record are shown the same resources of it (a document built from it may be
        kept and served to both)."""
        self.rebind(conn)
        types = self.policy.readable_types()
        partial = self.policy.readable_kinds() if types is not None else {}
        hide = await self.policy.hides_substance_use(patient_id)
        return types, partial, hide

    async def content_filter(self, conn: AsyncConnection, patient_id: str) -> Callable[[str, str], bool]:
        """For operations that show a whole record ($everything, $summary): which stored resources (type,
        JSON text) may be shown: those of the types the requester may read (their scopes and roles) and
        the kinds they may read of other types (the registrar's paper cards), but drug-addiction matters
        for a teenager's own access before 16."""
        types, partial, hide = await self.content_view(conn, patient_id)
        if types is None and not hide:
            return _show_all

        def reached(rtype: str, content: str) -> bool:
            return types is None or rtype in types or (
                rtype in partial and not partial[rtype].isdisjoint(kinds_of(rtype, jsonutil.loads(content))))

        return lambda rtype, content: (reached(rtype, content)
                                       and not (hide and is_substance_use(jsonutil.loads(content))))

    # searches --------------------------------------------------------------------------------

    async def prepare_search(self) -> None:
        await self.policy.prepare()

    async def reach(self) -> Callable[[SqlBuilder, str, str], str]:
        """The requester's reach by record as SQL (:meth:`Policy.visible_sql` without the token's narrowing
        to the types it may search), made ready: what a write may refer to. A reference to a resource
        outside it is refused exactly as one to a missing resource."""
        await self.policy.prepare()
        return lambda b, rtype, alias: self.policy.visible_sql(b, rtype, alias, scoped=False)

    def require_match(self, action: str, rtype: str, query: str) -> None:
        """A conditional write's criteria are a search: the token must be allowed to search the type
        (the refusal's text depends on nothing but the request)."""
        if not self.policy.may_match(rtype):
            self.refuse(action, rtype, f"conditional {action} needs search access to {rtype}", query)
            raise Forbidden(f"a conditional {action} of {rtype} needs a token that may search {rtype}")

    async def consider_search(self, patient_id: str, rtype: str, query: str | None) -> bool:
        """A search of one child's record: when the policy refuses it, the refusal is audited (the
        search itself still runs, and shows nothing of that record). Whether it was allowed."""
        decision = await self.policy.decide(patient_id, rtype, "search")
        if not decision:
            self._audit(decision, "search", patient_id, rtype, query)
        return decision.allowed

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

    def probed(self, subtype: str, rtype: str, query: str, target: str | None, matched: list[str | None]) -> None:
        """A conditional write's criteria matched no resource or several (one match is audited as the write
        itself): one entry per patient of the matches, or for the patient the criteria name (None: no
        patient). Several matches fail the write (412): those entries are marked so, and are kept when
        the request's transaction rolls back."""
        patients: list[str | None] = [p for p in dict.fromkeys(matched) if p is not None] or [target]
        outcome, detail = ((OUTCOME_REFUSED, "412: the criteria match more than one resource") if matched
                           else (OUTCOME_SUCCESS, "no resource matched the criteria"))
        for patient in patients:
            self.entries.append(AuditEntry(self.requester, subtype, outcome, patient, rtype, query, detail))

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

    async def flush_failed(self, conn: AsyncConnection, error: BaseException) -> None:
        """After a failed request, whose entries died with its transaction: write them again, in a new one.

        Refusals stay as they are; what the policy allowed but did not happen (a read of a deleted
        resource, a write that failed validation of its references, a transaction rolled back by a
        later entry) is written as a failure with the error's status and text, so that every request
        that touched a record leaves its trace whatever its outcome.
        """
        self.failed_since(0, error)
        entries, self.entries = self.entries, []
        await audit.record(conn, entries)

    def failed_since(self, start: int, error: BaseException) -> None:
        """Mark what was allowed from entry ``start`` on as failed with ``error`` (its work was undone:
        the request's transaction, or a batch entry's savepoint, rolled back)."""
        status = getattr(error, "status", CLIENT_CLOSED if isinstance(error, asyncio.CancelledError) else 500)
        # The status and the kind of failure, never the error's text: it quotes the request (another
        # child's id or SNILS in a transaction's failing entry), and these rows are shown to families.
        why = f"failed: {status} {getattr(error, 'code', 'exception')}"
        failed = OUTCOME_REFUSED if status < 500 else OUTCOME_FAILED
        for e in self.entries[start:]:
            if e.outcome == OUTCOME_SUCCESS:
                e.outcome, e.detail = failed, why


def _show_all(rtype: str, content: str) -> bool:
    return True


def _policy_action(action: str) -> str:
    return {"vread": "read", "history": "read", "operation": "read", "create": "write", "update": "write",
            "patch": "write", "delete": "write"}.get(action, action)
