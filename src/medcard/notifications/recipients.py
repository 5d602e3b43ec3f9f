"""Who hears about a child's record: the family accounts that may read the thing that happened.

Candidates are the accounts tied to the child (an active legal representative, the teenager's own
account, a relative granted access by a Consent); each is then asked of the access policy, the
same one every page and API request goes through, so that nobody is told of something they
could not open (a 16-year-old's drug-addiction matters are not announced to a parent).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from psycopg import AsyncConnection

from medcard.access import accounts
from medcard.access.policy import ACCOUNT_SYSTEM, Policy

_CANDIDATES = """
SELECT account_id::text, patient_id FROM representation
 WHERE status = 'active' AND patient_id = ANY(%(p)s)
UNION
SELECT id::text, patient_id FROM account
 WHERE kind = 'family' AND status = 'active' AND patient_id = ANY(%(p)s)
UNION
SELECT t.code, r.patient_id FROM sp_token t
  JOIN resource r ON r.resource_type = t.resource_type AND r.id = t.resource_id
 WHERE t.resource_type = 'Consent' AND t.param = 'actor-identifier' AND t.system = %(s)s
   AND NOT r.deleted AND r.patient_id = ANY(%(p)s)
"""


class Recipients:
    """Answers "who may read this" for many events of one scan, deciding each account once."""

    def __init__(self, conn: AsyncConnection, today: date) -> None:
        self.conn = conn
        self.today = today
        self._policies: dict[str, Policy | None] = {}
        self._candidates: dict[str, list[str]] = {}

    async def load(self, patient_ids: Iterable[str]) -> None:
        """Read the candidate accounts of these children (one query)."""
        wanted = sorted(set(patient_ids) - self._candidates.keys())
        if not wanted:
            return
        for p in wanted:
            self._candidates[p] = []
        cur = await self.conn.execute(_CANDIDATES, {"p": wanted, "s": ACCOUNT_SYSTEM})
        for account_id, patient_id in await cur.fetchall():
            if account_id not in self._candidates[patient_id]:
                self._candidates[patient_id].append(account_id)

    async def who_may_read(self, patient_id: str, rtype: str, *, substance_use: bool = False) -> list[str]:
        """The accounts that may read a ``rtype`` of this child's record today."""
        await self.load([patient_id])
        allowed = []
        for account_id in self._candidates[patient_id]:
            policy = await self._policy(account_id)
            if policy is None:
                continue
            decision = await policy.decide(patient_id, rtype, "read", substance_use=substance_use)
            if decision.allowed:
                allowed.append(account_id)
        return allowed

    async def _policy(self, account_id: str) -> Policy | None:
        if account_id not in self._policies:
            account = await accounts.get(self.conn, account_id)
            policy = None
            if account is not None and account.kind == "family" and account.status == "active":
                policy = Policy(self.conn, account.requester(), self.today)
            self._policies[account_id] = policy
        return self._policies[account_id]
