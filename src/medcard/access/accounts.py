"""Accounts: staff and families, passwords (Argon2), TOTP second factors, lock-out, links to children,
families' self-registration with e-mail confirmation, and family accounts of an OpenID Connect provider.

Every query on ``account``, ``staff_role``, ``representation`` and ``email_verification`` lives here.
Functions run in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import AsyncConnection

from medcard.access.requester import STAFF_ROLES, Requester, StaffRole
from medcard.config import Settings
from medcard.core.errors import BadRequest, Conflict, Forbidden, NotAuthenticated, NotFound
from medcard.core.time import utcnow

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
RELATIONSHIPS = ("parent", "guardian", "adoptive-parent")
MIN_PASSWORD = 10
EMAIL_CODE_HOURS = 24  # an e-mail confirmation code works this long, once
EMAIL_CODE_DIGITS = 8


@dataclass(frozen=True)
class Account:
    id: str
    kind: str
    username: str
    display_name: str
    level: str
    status: str
    practitioner_id: str | None
    patient_id: str | None
    totp_enabled: bool
    roles: tuple[StaffRole, ...]

    def requester(self, **extra: Any) -> Requester:
        return Requester(kind=self.kind, name=self.display_name, account_id=self.id, roles=self.roles,
                         practitioner_id=self.practitioner_id, patient_id=self.patient_id, level=self.level, **extra)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def _normalize(username: str) -> str:
    return username.strip().lower()


async def create(conn: AsyncConnection, *, kind: str, username: str, display_name: str, password: str | None = None,
                 roles: list[tuple[str, str]] = (), practitioner_id: str | None = None,  # type: ignore[assignment]
                 patient_id: str | None = None, level: str = "standard") -> str:
    """A new account; its id."""
    if kind not in ("staff", "family"):
        raise BadRequest("an account is staff or family")
    for role, _ in roles:
        if role not in STAFF_ROLES:
            raise BadRequest(f"unknown role {role!r}; roles: {', '.join(STAFF_ROLES)}")
    if roles and kind != "staff":
        raise BadRequest("only staff accounts have roles")
    account_id = str(uuid.uuid4())
    cur = await conn.execute(
        "INSERT INTO account (id, kind, username, display_name, password_hash, level, practitioner_id, patient_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (username) DO NOTHING RETURNING id",
        (account_id, kind, _normalize(username), display_name, hash_password(password) if password else None,
         level, practitioner_id, patient_id))
    if await cur.fetchone() is None:
        raise Conflict(f"the username {username} is taken")
    for role, organization in roles:
        await add_role(conn, account_id, role, organization)
    return account_id


async def add_role(conn: AsyncConnection, account_id: str, role: str, organization_id: str = "") -> None:
    if role not in STAFF_ROLES:
        raise BadRequest(f"unknown role {role!r}")
    if role != "city-admin" and not organization_id:
        raise BadRequest(f"the role {role} belongs to a clinic: give its Organization id")
    await conn.execute("INSERT INTO staff_role (account_id, role, organization_id) VALUES (%s, %s, %s) "
                       "ON CONFLICT DO NOTHING", (account_id, role, organization_id))


_SELECT = ("SELECT a.id, a.kind, a.username, a.display_name, a.level, a.status, a.practitioner_id, a.patient_id, "
           "a.totp_enabled, coalesce(array_agg(r.role || '|' || r.organization_id) FILTER (WHERE r.role IS NOT NULL), "
           "'{}') FROM account a LEFT JOIN staff_role r ON r.account_id = a.id")


def _account(row: tuple[Any, ...]) -> Account:
    roles = tuple(StaffRole(*item.split("|", 1)) for item in row[9])
    return Account(str(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], roles)


async def get(conn: AsyncConnection, account_id: str) -> Account | None:
    cur = await conn.execute(f"{_SELECT} WHERE a.id = %s GROUP BY a.id", (account_id,))
    row = await cur.fetchone()
    return _account(row) if row else None


async def by_username(conn: AsyncConnection, username: str) -> Account | None:
    cur = await conn.execute(f"{_SELECT} WHERE a.username = %s GROUP BY a.id", (_normalize(username),))
    row = await cur.fetchone()
    return _account(row) if row else None


async def list_accounts(conn: AsyncConnection) -> list[Account]:
    cur = await conn.execute(f"{_SELECT} GROUP BY a.id ORDER BY a.username")
    return [_account(r) for r in await cur.fetchall()]


async def set_status(conn: AsyncConnection, account_id: str, status: str) -> None:
    await conn.execute("UPDATE account SET status = %s WHERE id = %s", (status, account_id))


async def set_password(conn: AsyncConnection, account_id: str, password: str) -> None:
    await conn.execute("UPDATE account SET password_hash = %s, failed_logins = 0, locked_until = NULL "
                       "WHERE id = %s", (hash_password(password), account_id))


async def set_practitioner(conn: AsyncConnection, account_id: str, practitioner_id: str | None) -> None:
    """Name the Practitioner a staff account is (whose orders and districts are theirs)."""
    await conn.execute("UPDATE account SET practitioner_id = %s WHERE id = %s AND kind = 'staff'",
                       (practitioner_id, account_id))


async def verify_identity(conn: AsyncConnection, account_id: str, verified_by: str, document: str) -> None:
    """A registrar checked the person's documents: the family account becomes a full account."""
    await conn.execute("UPDATE account SET level = 'full', verified_by = %s, verified_at = now(), "
                       "verification_document = %s WHERE id = %s AND kind = 'family'",
                       (verified_by, document, account_id))


# signing in -------------------------------------------------------------------------------


async def check_password(conn: AsyncConnection, settings: Settings, username: str, password: str) -> Account:
    """The account, when the password is right and the account usable; NotAuthenticated otherwise.

    Every failure says the same thing (no hint whether the username exists); repeated failures lock
    the account for a while. A self-registered family account whose e-mail address is not confirmed
    yet is refused the same way.
    """
    now = utcnow()
    cur = await conn.execute(
        "SELECT id, password_hash, status, locked_until, kind = 'family' AND level = 'standard' AND email IS NOT NULL "
        "AND NOT email_verified FROM account WHERE username = %s FOR UPDATE",
        (_normalize(username),))
    row = await cur.fetchone()
    refused = NotAuthenticated("the username or the password is wrong, or the account is locked")
    if row is None:
        _hasher.hash(password)  # spend the same time as for a real account
        raise refused
    account_id, stored, status, locked_until, unconfirmed = row
    if unconfirmed:  # self-registered, its e-mail address not confirmed yet: unusable
        _hasher.hash(password)
        raise refused
    if status != "active" or (locked_until is not None and locked_until > now):
        raise refused
    try:
        ok = stored is not None and _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        await conn.execute(
            "UPDATE account SET failed_logins = failed_logins + 1, locked_until = CASE WHEN failed_logins + 1 >= %s "
            "THEN %s ELSE locked_until END WHERE id = %s",
            (settings.login_attempts, now + timedelta(minutes=settings.lockout_minutes), account_id))
        raise refused
    await conn.execute("UPDATE account SET failed_logins = 0, locked_until = NULL WHERE id = %s", (account_id,))
    if _hasher.check_needs_rehash(stored):
        await conn.execute("UPDATE account SET password_hash = %s WHERE id = %s", (_hasher.hash(password), account_id))
    account = await get(conn, str(account_id))
    assert account is not None
    return account


def needs_second_factor(settings: Settings, account: Account) -> bool:
    return account.kind == "staff" and bool({r.role for r in account.roles} & settings.roles_needing_second_factor())


# families registering themselves: e-mail confirmation codes -----------------------------------


@dataclass(frozen=True)
class Registration:
    """What a registration did: ``created`` (a new account, or one whose code had lapsed, taken over),
    ``resent`` (the same person asked again: a new code), or ``exists`` (the address is taken: no code;
    the owner of the address is told instead). ``code`` is to be sent, never shown or logged."""

    outcome: str
    account_id: str | None = None
    code: str | None = None


def _code_hash(settings: Settings, account_id: str, code: str) -> bytes:
    message = f"email-code:{account_id}:{code}".encode()
    return hmac.new(settings.secret(), message, hashlib.sha256).digest()


def _clean_code(code: str) -> str:
    return "".join(c for c in code if c.isdigit())


async def _new_email_code(conn: AsyncConnection, settings: Settings, account_id: str) -> str:
    """A fresh single-use code for the account (any earlier one stops working)."""
    code = f"{secrets.randbelow(10**EMAIL_CODE_DIGITS):0{EMAIL_CODE_DIGITS}d}"
    await conn.execute(
        "INSERT INTO email_verification (account_id, code_hash, expires_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (account_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, "
        "failed_attempts = 0, created_at = now()",
        (account_id, _code_hash(settings, account_id, code), utcnow() + timedelta(hours=EMAIL_CODE_HOURS)))
    return code


async def register_family(conn: AsyncConnection, settings: Settings, email: str, display_name: str,
                          password: str) -> Registration:
    """A self-registered *standard* family account, named by its e-mail address, unusable until the code
    sent there is entered (:func:`confirm_email`).

    An address already taken gets no new account and no code (whoever asks cannot take over an account
    or learn that it exists: the caller answers the same way and tells the owner of the address). A
    registration never confirmed may be made again once its code lapsed; the same person (the same
    password) asking again before that gets a new code.
    """
    username = _normalize(email)
    password_hash = hash_password(password)
    cur = await conn.execute(
        "SELECT a.id, a.kind = 'family' AND a.level = 'standard' AND a.email IS NOT NULL AND NOT a.email_verified, "
        "a.password_hash, v.expires_at > now() FROM account a LEFT JOIN email_verification v ON v.account_id = a.id "
        "WHERE a.username = %s FOR UPDATE OF a", (username,))
    row = await cur.fetchone()
    if row is None:
        account_id = str(uuid.uuid4())
        cur = await conn.execute(
            "INSERT INTO account (id, kind, username, display_name, password_hash, level, email, email_verified) "
            "VALUES (%s, 'family', %s, %s, %s, 'standard', %s, false) ON CONFLICT DO NOTHING RETURNING id",
            (account_id, username, display_name, password_hash, username))
        if await cur.fetchone() is None:
            return Registration("exists")  # registered a moment ago by another request
        return Registration("created", account_id, await _new_email_code(conn, settings, account_id))
    account_id, unconfirmed, stored, code_live = str(row[0]), row[1], row[2], row[3]
    if not unconfirmed:
        return Registration("exists")
    if not code_live:  # never confirmed, and its code lapsed: the address is free again
        await conn.execute("UPDATE account SET display_name = %s, password_hash = %s, failed_logins = 0, "
                           "locked_until = NULL WHERE id = %s", (display_name, password_hash, account_id))
        return Registration("created", account_id, await _new_email_code(conn, settings, account_id))
    try:
        same_person = stored is not None and _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        same_person = False
    if not same_person:
        return Registration("exists")
    await conn.execute("UPDATE account SET display_name = %s WHERE id = %s", (display_name, account_id))
    return Registration("resent", account_id, await _new_email_code(conn, settings, account_id))


async def confirm_email(conn: AsyncConnection, settings: Settings, email: str, code: str) -> bool:
    """Whether the code confirms the address of the self-registered account named by it (and it did).

    A code works once and for :data:`EMAIL_CODE_HOURS`; after ``login_attempts`` wrong codes it stops
    working (register again for a new one).
    """
    cur = await conn.execute(
        "SELECT a.id, v.code_hash, v.expires_at > now(), v.failed_attempts FROM account a "
        "JOIN email_verification v ON v.account_id = a.id WHERE a.username = %s FOR UPDATE",
        (_normalize(email),))
    row = await cur.fetchone()
    if row is None:
        return False
    account_id, stored, live, failed = str(row[0]), bytes(row[1]), row[2], row[3]
    if not live:
        await conn.execute("DELETE FROM email_verification WHERE account_id = %s", (account_id,))
        return False
    if not hmac.compare_digest(stored, _code_hash(settings, account_id, _clean_code(code))):
        if failed + 1 >= settings.login_attempts:
            await conn.execute("DELETE FROM email_verification WHERE account_id = %s", (account_id,))
        else:
            await conn.execute("UPDATE email_verification SET failed_attempts = failed_attempts + 1 "
                               "WHERE account_id = %s", (account_id,))
        return False
    await conn.execute("DELETE FROM email_verification WHERE account_id = %s", (account_id,))
    await conn.execute("UPDATE account SET email_verified = true WHERE id = %s", (account_id,))
    return True


# family accounts of an OpenID Connect provider -------------------------------------------------


async def by_oidc_subject(conn: AsyncConnection, subject: str) -> Account | None:
    """The account of a provider's user (``{issuer}|{sub}``)."""
    cur = await conn.execute(f"{_SELECT} WHERE a.oidc_subject = %s GROUP BY a.id", (subject,))
    row = await cur.fetchone()
    return _account(row) if row else None


async def create_oidc_family(conn: AsyncConnection, *, issuer: str, subject: str, email: str | None,
                             display_name: str) -> Account:
    """A *full* family account for a provider's user whose identity the provider verified.

    Its username is the provider's verified e-mail address when there is one and no account has it as a
    username yet (an existing account is never taken over by its e-mail address), else a generated name.
    It has no password: the person signs in through the provider.
    """
    for username in ([_normalize(email)] if email else []) + [f"oidc-{secrets.token_hex(8)}"]:
        account_id = str(uuid.uuid4())
        cur = await conn.execute(
            "INSERT INTO account (id, kind, username, display_name, level, verified_at, verification_document, "
            "email, email_verified, oidc_subject) VALUES (%s, 'family', %s, %s, 'full', now(), %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (account_id, username, display_name, f"OIDC: {issuer}", email, email is not None, subject))
        if await cur.fetchone() is not None:
            account = await get(conn, account_id)
            assert account is not None
            return account
        existing = await by_oidc_subject(conn, subject)  # created a moment ago by another request
        if existing is not None:
            return existing
    raise Conflict("could not choose a username for the new account")


# TOTP ----------------------------------------------------------------------------------------


def _seal(settings: Settings, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(settings.secret()).encrypt(nonce, secret.encode(), b"totp")


def _unseal(settings: Settings, sealed: bytes) -> str:
    return AESGCM(settings.secret()).decrypt(sealed[:12], sealed[12:], b"totp").decode()


async def start_totp(conn: AsyncConnection, settings: Settings, account_id: str) -> str:
    """A new TOTP secret (stored encrypted, not yet enabled); the otpauth:// URI for the authenticator app."""
    account = await get(conn, account_id)
    if account is None:
        raise NotFound("no such account")
    secret = pyotp.random_base32()
    await conn.execute("UPDATE account SET totp_secret = %s, totp_enabled = false, totp_last_step = NULL "
                       "WHERE id = %s", (_seal(settings, secret), account_id))
    return pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name="medcard")


async def check_totp(conn: AsyncConnection, settings: Settings, account_id: str, code: str, *,
                     enable: bool = False) -> bool:
    """Whether the code is right now (one step of clock drift allowed) and not used before; ``enable``
    confirms a new secret.

    A code is accepted once (RFC 6238 §5.2): the time step it belongs to is recorded, and a code of
    that step or an earlier one is refused from then on, so a code seen over a shoulder, or entered
    in a second browser, signs no one in. The record and the check are one conditional UPDATE, so two
    requests racing with the same code cannot both pass.
    """
    cur = await conn.execute("SELECT totp_secret, totp_enabled, totp_last_step FROM account WHERE id = %s",
                             (account_id,))
    row = await cur.fetchone()
    if row is None or row[0] is None or (not row[1] and not enable):
        return False
    step = _step_of(pyotp.TOTP(_unseal(settings, bytes(row[0]))), code.strip(), row[2])
    if step is None:
        return False
    cur = await conn.execute(
        "UPDATE account SET totp_last_step = %s, totp_enabled = totp_enabled OR %s WHERE id = %s "
        "AND (totp_last_step IS NULL OR totp_last_step < %s) RETURNING id", (step, enable, account_id, step))
    return await cur.fetchone() is not None


def _step_of(totp: pyotp.TOTP, code: str, last_step: int | None) -> int | None:
    """The latest time step (now, or one step either side) whose code this is and that is later than
    ``last_step``; None when there is none."""
    now, given = totp.timecode(utcnow()), code.encode()
    for step in (now + 1, now, now - 1):
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.generate_otp(step).encode(), given):
            return step
    return None


def current_code(settings: Settings, sealed: bytes, at: datetime | None = None) -> str:
    """The code an authenticator shows now (for tests and the operator's own checks)."""
    totp = pyotp.TOTP(_unseal(settings, sealed))
    return totp.at(at) if at else totp.now()


async def reset_totp(conn: AsyncConnection, account_id: str) -> None:
    await conn.execute("UPDATE account SET totp_secret = NULL, totp_enabled = false, totp_last_step = NULL "
                       "WHERE id = %s", (account_id,))


# links between family accounts and children ------------------------------------------------


@dataclass(frozen=True)
class Link:
    id: str
    account_id: str
    username: str
    patient_id: str
    relationship: str
    status: str
    document: str | None
    verified_by: str | None


async def link(conn: AsyncConnection, registrar: Requester, account_id: str, patient_id: str, relationship: str,
               document: str) -> str:
    """A registrar, having checked the documents, links a family account to a child."""
    _require_registrar(registrar)
    if relationship not in RELATIONSHIPS:
        raise BadRequest(f"the relationship is one of {', '.join(RELATIONSHIPS)}")
    if not document.strip():
        raise BadRequest("say which document was checked (kind, series and number)")
    link_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO representation (id, account_id, patient_id, relationship, status, document, verified_by, "
        "verified_at) VALUES (%s, %s, %s, %s, 'active', %s, %s, now())",
        (link_id, account_id, patient_id, relationship, document, registrar.account_id))
    return link_id


async def request_link(conn: AsyncConnection, account_id: str, patient_id: str, relationship: str, note: str) -> str:
    """A family asks to be linked; a registrar approves or rejects it later."""
    if relationship not in RELATIONSHIPS:
        raise BadRequest(f"the relationship is one of {', '.join(RELATIONSHIPS)}")
    link_id = str(uuid.uuid4())
    await conn.execute("INSERT INTO representation (id, account_id, patient_id, relationship, status, note) "
                       "VALUES (%s, %s, %s, %s, 'requested', %s)",
                       (link_id, account_id, patient_id, relationship, note))
    return link_id


async def approve_link(conn: AsyncConnection, registrar: Requester, link_id: str, document: str) -> None:
    _require_registrar(registrar)
    cur = await conn.execute(
        "UPDATE representation SET status = 'active', document = %s, verified_by = %s, verified_at = now() "
        "WHERE id = %s AND status = 'requested' RETURNING id", (document, registrar.account_id, link_id))
    if await cur.fetchone() is None:
        raise NotFound("no such pending request")


async def revoke_link(conn: AsyncConnection, by: Requester, link_id: str) -> None:
    cur = await conn.execute(
        "UPDATE representation SET status = 'revoked', revoked_by = %s, revoked_at = now() "
        "WHERE id = %s AND status IN ('active', 'requested') RETURNING id", (by.account_id, link_id))
    if await cur.fetchone() is None:
        raise NotFound("no such link")


async def links(conn: AsyncConnection, *, patient_id: str | None = None, account_id: str | None = None) -> list[Link]:
    cur = await conn.execute(
        "SELECT l.id, l.account_id, a.username, l.patient_id, l.relationship, l.status, l.document, l.verified_by "
        "FROM representation l JOIN account a ON a.id = l.account_id WHERE (%s::text IS NULL OR l.patient_id = %s) "
        "AND (%s::uuid IS NULL OR l.account_id = %s) ORDER BY l.requested_at",
        (patient_id, patient_id, account_id, account_id))
    return [Link(str(r[0]), str(r[1]), r[2], r[3], r[4], r[5], r[6], str(r[7]) if r[7] else None)
            for r in await cur.fetchall()]


def _require_registrar(r: Requester) -> None:
    if r.kind != "system" and not r.has_role("registrar", "clinic-admin", "city-admin"):
        raise Forbidden("only a registrar (or an administrator) links families to children")
