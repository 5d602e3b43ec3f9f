"""Hardening of every response: security headers, and the API rate limit.

A pure ASGI middleware (no buffering of bodies, so streamed exports stay streamed). Headers a
handler set itself win (the consent page widens ``form-action`` to the app's redirect address).

The rate limit is a property of each registered client (``oauth_client.rate_per_minute``, set by
``medcard client register --rate-per-minute``), with defaults by kind from the settings:

- a backend service: its requests together, ``api_rate_backend_per_minute`` (60,000) by default;
- an app acting for people (public or confidential): each person's requests through it,
  ``api_rate_per_minute`` (6,000) by default;
- 0 is unlimited.

Those budgets are shared by every server process (``throttle.SharedCounter``). Requests without a
live token (medcard's own pages, the token endpoint, invented tokens) count against
``api_rate_per_minute`` per session cookie, else per client address, in each process
(``throttle.WindowCounter``).
"""

from __future__ import annotations

import hashlib
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medcard.access import tokens
from medcard.access.throttle import SharedCounter, WindowCounter
from medcard.config import Settings
from medcard.core import jsonutil
from medcard.core.db import Database

HSTS = b"max-age=31536000; includeSubDomains"
UNLIMITED_PATHS = ("/healthz",)


def content_security_policy(form_action: str = "") -> str:
    """The pages' CSP: only this server's own resources, never framed, forms posting here (and to
    ``form_action``, where a consent form's redirect goes)."""
    return ("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "
            f"form-action 'self'{' ' + form_action if form_action else ''}")


_DEFAULTS = (
    (b"content-security-policy", content_security_policy().encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _too_many(retry_after: int) -> tuple[Message, Message]:
    body = jsonutil.dumps({"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "throttled",
        "diagnostics": f"too many requests; retry after {retry_after} seconds"}]})
    start: Message = {"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", b"application/fhir+json"), (b"retry-after", str(retry_after).encode()),
        (b"content-length", str(len(body)).encode())]}
    return start, {"type": "http.response.body", "body": body}


class RateHolders:
    """Whose budget each bearer token counts against, per process: looked up once and kept for
    ``SECONDS`` (a changed client limit applies within that time). Bounded: when full, the older
    half is dropped, so invented tokens cannot grow it."""

    SECONDS = 60.0
    MAX = 100_000

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, tokens.RateHolder | None]] = {}

    def known(self, token_hash: bytes) -> bool:
        """Whether the token was looked up within ``SECONDS`` (live or not)."""
        hit = self._entries.get(token_hash)
        return hit is not None and hit[0] > time.monotonic()

    async def get(self, db: Database, token_hash: bytes) -> tokens.RateHolder | None:
        now = time.monotonic()
        hit = self._entries.get(token_hash)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            async with db.connection() as conn:
                holder = await tokens.rate_holder(conn, token_hash)
        except Exception:  # the limiter never fails a request: count it as one without a live token
            return None
        if len(self._entries) >= self.MAX:
            for old in list(self._entries)[: self.MAX // 2]:
                del self._entries[old]
        self._entries[token_hash] = (now + self.SECONDS, holder)
        return holder


class Hardening:
    """Security headers on every HTTP response; 429 with ``Retry-After`` past the requester's rate limit."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.counter = WindowCounter(settings.api_rate_per_minute)
        self.shared = SharedCounter()
        self.holders = RateHolders()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hsts = scope.get("scheme") == "https" or self.settings.tls_terminated

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _DEFAULTS if n not in present]
                if hsts and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        if scope.get("path") not in UNLIMITED_PATHS:
            retry_after = await self._throttled(scope)
            if retry_after is not None:
                for message in _too_many(retry_after):
                    await send_with_headers(message)
                return
        await self.app(scope, receive, send_with_headers)

    async def _throttled(self, scope: Scope) -> int | None:
        """None when the request is within its requester's limit, else the seconds until it may retry."""
        token, db = _bearer(scope), _database(scope)
        if token is None or db is None:
            return self.counter.hit(_local_key(scope))
        token_hash = hashlib.sha256(token).digest()
        counted = not self.holders.known(token_hash)
        if counted:
            # A token not seen lately costs a query: it is first counted against its address's budget,
            # so a flood of invented tokens is refused from memory once that is spent.
            retry_after = self.counter.hit(_local_key(scope))
            if retry_after is not None:
                return retry_after
        holder = await self.holders.get(db, token_hash)
        if holder is not None:
            key, limit = self.budget(holder)
            return None if limit == 0 else await self.shared.hit(db, key, limit)
        return None if counted else self.counter.hit(_local_key(scope))

    def budget(self, holder: tokens.RateHolder) -> tuple[str, int]:
        """The counter key and the limit a minute (0: unlimited) of a token's requests."""
        if holder.client_kind == "backend":
            key, default = "client:" + holder.client_id, self.settings.api_rate_backend_per_minute
        else:  # an app acting for people: each person has the client's limit
            key, default = f"client:{holder.client_id}:person:{holder.account_id}", self.settings.api_rate_per_minute
        return key, default if holder.rate_per_minute is None else holder.rate_per_minute


def _database(scope: Scope) -> Database | None:
    """The application's database, once its lifespan opened it (absent in a bare test app)."""
    state = getattr(scope.get("app"), "state", None)
    db: Database | None = getattr(state, "db", None)
    return db


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers") or []:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return bytes(value[7:].strip())
    return None


def _local_key(scope: Scope) -> str:
    """The session cookie (by its hash), else the client address: the requester of a request without a
    live token."""
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            for part in value.split(b";"):
                key, _, cookie = part.strip().partition(b"=")
                if key.endswith(b"medcard_session") and cookie:
                    return "session:" + hashlib.sha256(cookie).hexdigest()
    client = scope.get("client")
    return "address:" + (client[0] if client else "unknown")
