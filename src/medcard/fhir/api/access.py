"""Who is asking, and the gate every FHIR request passes through.

Every route of ``/fhir/R4`` except the CapabilityStatement opens its database work with
:func:`gated`: the bearer token is looked up, the :class:`~medcard.access.gate.Gate` of the request
is made, and the audit entries the gate gathered are written before the answer leaves — in the
same transaction for writes; for a failed request, they are written afterwards, refusals as they are
and the rest as failures.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from urllib.parse import unquote

from psycopg import AsyncConnection
from starlette.requests import Request

from medcard.access.authn import BREAK_GLASS_HEADER, requester_for_token
from medcard.access.gate import Gate
from medcard.access.policy import may_break_glass
from medcard.access.requester import Requester
from medcard.config import Settings
from medcard.core.db import Database
from medcard.core.errors import Forbidden, MedcardError, NotAuthenticated

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="medcard"'}
MAX_REASON = 500


async def authenticate(request: Request, conn: AsyncConnection) -> Requester:
    """The requester behind the request's bearer token; 401 without a live token."""
    cached: Requester | None = getattr(request.state, "requester", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("this request needs an access token (Authorization: Bearer ...)", headers=CHALLENGE)
    source = request.client.host if request.client else None
    settings: Settings = request.app.state.settings
    requester = await _token_cache.get(conn, token.strip(), settings.token_cache_seconds)
    if requester is not None and source is not None:
        requester = replace(requester, source=source)
    if requester is None:
        raise NotAuthenticated("the access token is unknown, expired or revoked",
                               headers={"WWW-Authenticate": 'Bearer realm="medcard", error="invalid_token"'})
    # The reason is percent-encoded UTF-8 (HTTP headers are Latin-1; reasons are written in Russian).
    reason = unquote(request.headers.get(BREAK_GLASS_HEADER, "")).strip()
    if reason:
        if not may_break_glass(requester):
            raise Forbidden("only clinicians (staff with a clinical role) may use emergency access")
        requester = requester.with_break_glass(reason[:MAX_REASON])
    request.state.requester = requester
    return requester


class TokenCache:
    """Requesters of recently seen tokens, per server process, for ``token_cache_seconds``.

    Keyed by the token's SHA-256; bounded (the oldest half is dropped when full), so invented
    tokens cannot grow it. A revoked token, client or account stops working within the TTL.
    """

    MAX = 10_000

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, Requester]] = {}

    async def get(self, conn: AsyncConnection, token: str, ttl: float) -> Requester | None:
        if ttl <= 0:
            return await requester_for_token(conn, token)
        key = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        requester = await requester_for_token(conn, token)
        if requester is not None:
            if len(self._entries) >= self.MAX:
                for old in list(self._entries)[: self.MAX // 2]:
                    del self._entries[old]
            self._entries[key] = (now + ttl, requester)
        else:
            self._entries.pop(key, None)
        return requester


_token_cache = TokenCache()


@asynccontextmanager
async def gated(request: Request, db: Database, *, write: bool = False) -> AsyncIterator[tuple[AsyncConnection, Gate]]:
    """A connection (a transaction for writes) and the request's gate; the audit entries written at the end."""
    gate: Gate | None = None
    try:
        async with (db.transaction() if write else db.connection()) as conn:
            gate = Gate(conn, await authenticate(request, conn))
            yield conn, gate
            await gate.flush(conn)
    except (Exception, asyncio.CancelledError) as error:  # cancelled: the client went away (fhir/api/disconnect)
        if gate is not None and gate.entries:
            await write_failed(db, gate, error)
        raise


async def write_failed(db: Database, gate: Gate, error: BaseException) -> None:
    """The audit entries of a failed request, in a transaction of their own (its own was rolled back).

    When they cannot be written either, a request refused or failed by medcard fails with that error
    instead: no refusal goes unrecorded. When the request failed because the database is gone, its own
    error is what the client gets, and the loss is logged without any patient data.
    """
    try:
        async with db.transaction() as conn:
            await gate.flush_failed(conn, error)
    except Exception as lost:
        if isinstance(error, MedcardError):
            raise
        log.warning("audit entries of a failed request could not be written: %s", type(lost).__name__)


def require_system(gate: Gate, what: str) -> None:
    """Bulk data and other whole-store work: backend services only."""
    if gate.requester.kind != "system":
        gate.refuse("operation", what, "backend services only")
        raise Forbidden(f"{what} is for backend services (system scopes) only")
