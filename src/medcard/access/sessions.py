"""Signed-in browser sessions: the ``web_session`` table and the session cookie.

The cookie holds a random value; the table keeps only its SHA-256, so a copy of the database
gives no usable session. A session ends after ``session_idle_minutes`` without a request and
``session_max_hours`` after sign-in, whichever comes first. Every session carries its own CSRF
token, which every form of a signed-in page repeats and every POST checks.

A session is *complete* when the person passed every step their account needs: the password, and
the TOTP code for the roles that need a second factor. A session waiting for the code signs no one
in; passing the code replaces it with a new session (a new id at every step of signing in).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from medcard.access import accounts
from medcard.config import Settings
from medcard.core.db import Database
from medcard.core.time import utcnow
from medcard.state import settings as _settings

_COOKIE = "medcard_session"
# The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and for "/",
# so no sibling domain or plain-HTTP page can plant a session (session fixation).
_SECURE_COOKIE = "__Host-medcard_session"
LOGIN_COOKIE = "medcard_login"  # double-submit token of the sign-in form, before any session exists
_SECURE_LOGIN_COOKIE = "__Host-medcard_login"


SEEN_EVERY = 60  # seconds: how stale a session's last-seen mark may get before a request writes it again


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass(frozen=True)
class Session:
    value: str  # the cookie value (known only while handling the request that carries it)
    account_id: str
    second_factor: bool
    csrf_token: str
    created_at: datetime


def id_hash(session: Session) -> bytes:
    """The key of the session's row (``web_session.id_hash``), for what is kept with a session."""
    return _digest(session.value)


def cookie_name(settings: Settings) -> str:
    return _SECURE_COOKIE if settings.secure_cookies else _COOKIE


def login_cookie_name(settings: Settings) -> str:
    return _SECURE_LOGIN_COOKIE if settings.secure_cookies else LOGIN_COOKIE


async def start(conn: AsyncConnection, settings: Settings, account_id: str, *, second_factor: bool) -> Session:
    """A new session for the account (a new random id every time)."""
    value, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()
    await conn.execute(
        "INSERT INTO web_session (id_hash, account_id, created_at, last_seen_at, expires_at, second_factor, "
        "csrf_token) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (_digest(value), account_id, now, now, now + timedelta(hours=settings.session_max_hours), second_factor, csrf))
    return Session(value, account_id, second_factor, csrf, now)


async def find(conn: AsyncConnection, settings: Settings, value: str) -> Session | None:
    """The live session with this cookie value, marking it seen now; None when unknown or timed out.

    The mark is written at most once a minute (:data:`SEEN_EVERY`): a page that only reads then
    writes nothing, so it does not wait for a WAL flush (measured: 9.8 ms of a chart page's 66 ms
    under load). The idle timeout is therefore exact to within that minute.
    """
    cur = await conn.execute(
        "WITH s AS (SELECT id_hash, account_id, second_factor, csrf_token, created_at, last_seen_at "
        "FROM web_session WHERE id_hash = %s AND expires_at > now() "
        "AND last_seen_at > now() - make_interval(mins => %s)), "
        "seen AS (UPDATE web_session w SET last_seen_at = now() FROM s WHERE w.id_hash = s.id_hash "
        "AND s.last_seen_at < now() - make_interval(secs => %s) RETURNING 1) "
        "SELECT account_id, second_factor, csrf_token, created_at FROM s",
        (_digest(value), settings.session_idle_minutes, SEEN_EVERY))
    row = await cur.fetchone()
    return Session(value, str(row[0]), row[1], row[2], row[3]) if row else None


async def end(conn: AsyncConnection, value: str) -> None:
    await conn.execute("DELETE FROM web_session WHERE id_hash = %s", (_digest(value),))


async def end_all(conn: AsyncConnection, account_id: str) -> None:
    """Sign the account out everywhere (password reset, account disabled)."""
    await conn.execute("DELETE FROM web_session WHERE account_id = %s", (account_id,))


async def sweep(conn: AsyncConnection, settings: Settings) -> None:
    """Delete sessions that ended (absolute or idle timeout)."""
    await conn.execute("DELETE FROM web_session WHERE expires_at <= now() OR last_seen_at <= now() - "
                       "make_interval(mins => %s)", (settings.session_idle_minutes,))


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted CSRF token with the expected one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


# the cookie ------------------------------------------------------------------------------


def set_cookie(response: Response, settings: Settings, session: Session) -> None:
    response.set_cookie(cookie_name(settings), session.value, max_age=settings.session_max_hours * 3600, path="/",
                        secure=settings.secure_cookies, httponly=True, samesite="lax")


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(cookie_name(settings), path="/", secure=settings.secure_cookies, httponly=True,
                           samesite="lax")


async def current(request: Request, conn: AsyncConnection) -> Session | None:
    """The request's live session (complete or waiting for the second factor), or None."""
    value = request.cookies.get(cookie_name(_settings(request)))
    if not value or len(value) > 100:
        return None
    return await find(conn, _settings(request), value)


async def account_of(conn: AsyncConnection, settings: Settings, session: Session) -> accounts.Account | None:
    """The account a complete session signs in; None when the session still waits for a step or the
    account is no longer usable."""
    account = await accounts.get(conn, session.account_id)
    if account is None or account.status != "active":
        return None
    if accounts.needs_second_factor(settings, account) and not session.second_factor:
        return None
    return account


async def signed_in_account(request: Request) -> accounts.Account | None:
    """The person signed in by the request's session cookie, or None (for medcard's own pages)."""
    db: Database = request.app.state.db
    async with db.connection() as conn:
        session = await current(request, conn)
        return await account_of(conn, _settings(request), session) if session else None
