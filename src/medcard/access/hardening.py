"""Hardening of every response: security headers, and a per-requester rate limit.

A pure ASGI middleware (no buffering of bodies, so streamed exports stay streamed). Headers a
handler set itself win (the consent page widens ``form-action`` to the app's redirect address).
"""

from __future__ import annotations

import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medcard.access.throttle import WindowCounter
from medcard.config import Settings
from medcard.core import jsonutil

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


class Hardening:
    """Security headers on every HTTP response; 429 past ``api_rate_per_minute`` per requester.

    The requester is the bearer token (by its hash) when one is sent, else the session cookie (by
    its hash), else the client address.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.counter = WindowCounter(settings.api_rate_per_minute)

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
            retry_after = self.counter.hit(_requester_key(scope))
            if retry_after is not None:
                for message in _too_many(retry_after):
                    await send_with_headers(message)
                return
        await self.app(scope, receive, send_with_headers)


def _requester_key(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return "token:" + hashlib.sha256(value[7:].strip()).hexdigest()
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            for part in value.split(b";"):
                key, _, cookie = part.strip().partition(b"=")
                if key.endswith(b"medcard_session") and cookie:
                    return "session:" + hashlib.sha256(cookie).hexdigest()
    client = scope.get("client")
    return "address:" + (client[0] if client else "unknown")
