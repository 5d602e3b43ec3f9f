"""OAuth clients and access tokens: registration, issuing, looking up, revoking.

Tokens are opaque random strings; only their SHA-256 is stored, so a stolen database does not
yield usable tokens, and any token can be revoked at once (every request looks its token up, or
trusts a lookup for ``token_cache_seconds``).

Every token belongs to a *family*: the tokens issued from one authorization code, and the pairs
every refresh after it issues. A code or a refresh token presented again after it was spent means
that someone else holds a copy (the legitimate app or an attacker: the server cannot tell which),
so the whole family is revoked (OAuth 2.0 Security BCP, RFC 9700 §4.14.2; RFC 6749 §4.1.2).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from medcard.access.scopes import Scopes
from medcard.core.errors import BadRequest, Conflict, NotFound
from medcard.core.time import utcnow

_hasher = PasswordHasher()
CLIENT_KINDS = ("confidential", "public", "backend")


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    kind: str
    scope: str
    redirect_uris: tuple[str, ...]
    jwks: dict[str, Any] | None
    secret_hash: str | None
    rate_per_minute: int | None = None  # None: the default of its kind; 0: unlimited

    def check_secret(self, secret: str) -> bool:
        if not self.secret_hash:
            return False
        try:
            return _hasher.verify(self.secret_hash, secret)
        except (VerificationError, InvalidHashError):
            return False


MAX_RATE = 2**31 - 1  # the column is a PostgreSQL integer


def _check_rate(rate_per_minute: int | None) -> None:
    if rate_per_minute is not None and not 0 <= rate_per_minute <= MAX_RATE:
        raise BadRequest(f"a rate limit is a number of requests a minute up to {MAX_RATE}, 0 for none")


async def register_client(conn: AsyncConnection, name: str, kind: str, scope: str, *,
                          redirect_uris: list[str] | None = None, jwks: dict[str, Any] | None = None,
                          rate_per_minute: int | None = None) -> tuple[str, str | None]:
    """Register a client; (client_id, secret) — the secret is shown once and only its hash kept.

    ``rate_per_minute``: its API requests a minute (an app acting for people: each person's); None takes
    the default of its kind from the settings, 0 is unlimited.
    """
    if kind not in CLIENT_KINDS:
        raise BadRequest(f"a client is one of {', '.join(CLIENT_KINDS)}")
    _check_rate(rate_per_minute)
    try:
        Scopes.parse(scope)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    if kind != "backend" and not redirect_uris:
        raise BadRequest("an app acting for people needs its redirect URIs")
    client_id = str(uuid.uuid4())
    secret = secrets.token_urlsafe(32) if kind in ("confidential", "backend") and jwks is None else None
    cur = await conn.execute(
        "INSERT INTO oauth_client (client_id, name, kind, secret_hash, jwks, redirect_uris, scope, rate_per_minute) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING client_id",
        (client_id, name, kind, _hasher.hash(secret) if secret else None, Jsonb(jwks) if jwks else None,
         redirect_uris or [], scope, rate_per_minute))
    if await cur.fetchone() is None:
        raise Conflict(f"a client named {name} exists")
    return client_id, secret


_CLIENT = "SELECT client_id, name, kind, scope, redirect_uris, jwks, secret_hash, rate_per_minute FROM oauth_client"


def _client(row: tuple[Any, ...]) -> Client:
    return Client(row[0], row[1], row[2], row[3], tuple(row[4] or ()), row[5], row[6], row[7])


async def client(conn: AsyncConnection, client_id: str) -> Client | None:
    cur = await conn.execute(f"{_CLIENT} WHERE client_id = %s AND revoked_at IS NULL", (client_id,))
    row = await cur.fetchone()
    return _client(row) if row else None


async def client_named(conn: AsyncConnection, name: str) -> Client:
    cur = await conn.execute(f"{_CLIENT} WHERE name = %s AND revoked_at IS NULL", (name,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no client named {name}")
    return _client(row)


async def set_client_rate(conn: AsyncConnection, client_id: str, rate_per_minute: int | None) -> None:
    """Change a client's API rate limit (None: back to the default of its kind; 0: unlimited)."""
    _check_rate(rate_per_minute)
    await conn.execute("UPDATE oauth_client SET rate_per_minute = %s WHERE client_id = %s",
                       (rate_per_minute, client_id))


async def revoke_client(conn: AsyncConnection, client_id: str) -> None:
    await conn.execute("UPDATE oauth_client SET revoked_at = now() WHERE client_id = %s", (client_id,))
    await conn.execute("UPDATE oauth_token SET revoked_at = now() WHERE client_id = %s AND revoked_at IS NULL",
                       (client_id,))


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None


async def issue(conn: AsyncConnection, client_id: str, scope: str, minutes: int, *, account_id: str | None = None,
                patient_id: str | None = None, refresh_days: int | None = None, family_id: str | None = None
                ) -> Issued:
    """A new access token (and a refresh token with ``refresh_days``), in ``family_id`` (else a new family)."""
    token = secrets.token_urlsafe(32)
    refresh = secrets.token_urlsafe(32) if refresh_days else None
    now = utcnow()
    await conn.execute(
        "INSERT INTO oauth_token (token_hash, refresh_hash, client_id, account_id, scope, patient_id, issued_at, "
        "expires_at, refresh_expires_at, family_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (digest(token), digest(refresh) if refresh else None, client_id, account_id, scope, patient_id, now,
         now + timedelta(minutes=minutes), now + timedelta(days=refresh_days) if refresh_days else None,
         family_id or str(uuid.uuid4())))
    return Issued(token, minutes * 60, scope, refresh)


@dataclass(frozen=True)
class TokenInfo:
    client_id: str
    client_kind: str
    client_name: str
    account_id: str | None
    scope: str
    patient_id: str | None
    expires_at: datetime
    issued_at: datetime


async def lookup(conn: AsyncConnection, token: str) -> TokenInfo | None:
    """A live token's facts; None when unknown, expired or revoked (or its client revoked)."""
    cur = await conn.execute(
        "SELECT t.client_id, c.kind, c.name, t.account_id, t.scope, t.patient_id, t.expires_at, t.issued_at "
        "FROM oauth_token t JOIN oauth_client c ON c.client_id = t.client_id WHERE t.token_hash = %s "
        "AND t.revoked_at IS NULL AND t.expires_at > now() AND c.revoked_at IS NULL", (digest(token),))
    row = await cur.fetchone()
    if row is None:
        return None
    return TokenInfo(row[0], row[1], row[2], str(row[3]) if row[3] else None, row[4], row[5], row[6], row[7])


@dataclass(frozen=True)
class RateHolder:
    """Whose API budget a live token's requests count against."""

    client_id: str
    client_kind: str
    account_id: str | None
    rate_per_minute: int | None  # the client's own limit; None: the default of its kind


async def rate_holder(conn: AsyncConnection, token_hash: bytes) -> RateHolder | None:
    """The client (and person) behind a live token, by the token's SHA-256; None when not live."""
    cur = await conn.execute(
        "SELECT t.client_id, c.kind, t.account_id, c.rate_per_minute FROM oauth_token t JOIN oauth_client c "
        "ON c.client_id = t.client_id WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now() "
        "AND c.revoked_at IS NULL", (token_hash,))
    row = await cur.fetchone()
    return RateHolder(row[0], row[1], str(row[2]) if row[2] else None, row[3]) if row else None


async def revoke(conn: AsyncConnection, token: str, *, client_id: str | None = None) -> None:
    """Revoke an access or a refresh token, with the other token issued with it (RFC 7009: unknown tokens
    are not an error). A family has at most one live pair (a refresh revokes the pair it spends), so
    this ends what is left of the grant.

    With ``client_id``, only a token issued to that client is revoked (a client revokes its own).
    """
    h = digest(token)
    await conn.execute("UPDATE oauth_token SET revoked_at = now() WHERE (token_hash = %s OR refresh_hash = %s) "
                       "AND revoked_at IS NULL AND (%s::text IS NULL OR client_id = %s)", (h, h, client_id, client_id))


# authorization codes and refresh tokens ------------------------------------------------------


@dataclass(frozen=True)
class Code:
    client_id: str
    account_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    patient_id: str | None
    nonce: str | None
    expires_at: datetime
    family_id: str  # of the tokens its exchange issues


async def issue_code(conn: AsyncConnection, *, client_id: str, account_id: str, redirect_uri: str, scope: str,
                     code_challenge: str, code_challenge_method: str, patient_id: str | None, nonce: str | None,
                     seconds: int) -> str:
    """A new authorization code (only its hash kept); it lives ``seconds`` and is used once.

    Codes are kept, marked used, until a day after they expired (a second use is recognised in that
    time); older ones are deleted here.
    """
    code = secrets.token_urlsafe(32)
    await conn.execute("DELETE FROM oauth_code WHERE expires_at < now() - interval '1 day'")
    await conn.execute(
        "INSERT INTO oauth_code (code_hash, client_id, account_id, redirect_uri, scope, code_challenge, "
        "code_challenge_method, patient_id, nonce, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (digest(code), client_id, account_id, redirect_uri, scope, code_challenge, code_challenge_method,
         patient_id, nonce, utcnow() + timedelta(seconds=seconds)))
    return code


async def take_code(conn: AsyncConnection, code: str) -> Code | None:
    """The code's grant, marking it used so it cannot be used twice; None when unknown, used or expired.

    A code used before revokes the tokens its first exchange issued (and their refreshes): someone
    else has it.
    """
    h = digest(code)
    cur = await conn.execute(
        "UPDATE oauth_code SET used_at = now() WHERE code_hash = %s AND used_at IS NULL RETURNING client_id, "
        "account_id, redirect_uri, scope, code_challenge, code_challenge_method, patient_id, nonce, expires_at, "
        "family_id", (h,))
    row = await cur.fetchone()
    if row is None:
        await conn.execute(
            "UPDATE oauth_token SET revoked_at = now() WHERE revoked_at IS NULL AND family_id = "
            "(SELECT family_id FROM oauth_code WHERE code_hash = %s AND used_at IS NOT NULL)", (h,))
        return None
    if row[8] <= utcnow():
        return None
    return Code(row[0], str(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], row[8], str(row[9]))


@dataclass(frozen=True)
class Refreshed:
    account_id: str | None
    scope: str
    patient_id: str | None
    family_id: str  # the new pair joins it


async def take_refresh(conn: AsyncConnection, refresh: str, client_id: str) -> Refreshed | None:
    """Spend a refresh token of this client (rotation: it and its access token are revoked); None if not live.

    A refresh token of this client that was spent or revoked before revokes its whole family: the
    pair its legitimate rotation issued stops working too.
    """
    h = digest(refresh)
    cur = await conn.execute(
        "UPDATE oauth_token SET revoked_at = now() WHERE refresh_hash = %s AND client_id = %s AND revoked_at IS NULL "
        "AND refresh_expires_at > now() RETURNING account_id, scope, patient_id, family_id", (h, client_id))
    row = await cur.fetchone()
    if row is not None:
        return Refreshed(str(row[0]) if row[0] else None, row[1], row[2], str(row[3]))
    await conn.execute(
        "UPDATE oauth_token SET revoked_at = now() WHERE revoked_at IS NULL AND family_id = (SELECT family_id "
        "FROM oauth_token WHERE refresh_hash = %s AND client_id = %s AND revoked_at IS NOT NULL)", (h, client_id))
    return None
