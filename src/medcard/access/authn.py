"""Authentication of API requests: who is behind a bearer token (or a signed-in session).

The result is a :class:`Requester`, built once per request and carried to the policy, the store
and the audit log. Tokens are opaque; only their hash is stored (``tokens.py``).
"""

from __future__ import annotations

from psycopg import AsyncConnection

from medcard.access import accounts, tokens
from medcard.access.requester import Requester
from medcard.access.scopes import Scopes

BREAK_GLASS_HEADER = "x-break-glass"  # the stated reason for emergency access on this request


async def requester_for_token(conn: AsyncConnection, token: str, *, source: str | None = None) -> Requester | None:
    """The requester a live access token stands for; None when the token is unknown, expired or revoked."""
    info = await tokens.lookup(conn, token)
    if info is None:
        return None
    scopes = Scopes.parse(info.scope)
    if info.account_id is None:
        return Requester("system", info.client_name, client_id=info.client_id, scopes=scopes, source=source)
    account = await accounts.get(conn, info.account_id)
    if account is None or account.status != "active":
        return None
    return requester_for_account(account, scopes=scopes, client_id=info.client_id, launch_patient=info.patient_id,
                                 source=source)


def requester_for_account(account: accounts.Account, *, scopes: Scopes | None = None, client_id: str | None = None,
                          launch_patient: str | None = None, source: str | None = None) -> Requester:
    """The requester for a signed-in person (through an app's token, or medcard's own pages)."""
    return Requester(account.kind, account.display_name, account_id=account.id, roles=account.roles,
                     practitioner_id=account.practitioner_id, patient_id=account.patient_id, level=account.level,
                     client_id=client_id, scopes=scopes or Scopes.everything(), launch_patient=launch_patient,
                     source=source)
