"""Share links, after the idea of SMART Health Links: an unguessable link, a code passed on apart
from it, an end date, revocation, and an audit entry for every opening.

A family member who may read a child's record makes a link to one part of it (the extract, or the
whole record book) for a number of days. The link carries a random secret (only its hash is
stored); the code (six digits, only its keyed hash stored) is given to the doctor separately, the
way a SMART Health Link's passcode is (flag ``P``). After :data:`MAX_FAILURES` wrong codes the link
stops working, as a SHL server must make passcode guessing fail.

An opening reads the record on behalf of the person who made the link, through the same policy
as their own reads: a link stops showing anything once its maker may no longer read the record
(a parent whose child turned 18, say). Each opening is an audit entry of that person with the
purpose of use ``PATRQT`` (disclosure at the patient's request) naming the link.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from psycopg import AsyncConnection

from medcard.access import accounts
from medcard.access.policy import Policy
from medcard.access.requester import Requester
from medcard.core.errors import Forbidden, NotFound
from medcard.core.time import today_moscow

PARTS = ("extract", "record-book")
MAX_DAYS = 30
MAX_FAILURES = 5
MAX_LABEL = 200
PURPOSE = "PATRQT"  # v3 ActReason: disclosure requested by the patient (or their representative)


@dataclass(frozen=True)
class ShareLink:
    id: str
    patient_id: str
    part: str
    label: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    failures: int
    opened: int
    last_opened_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now and self.failures < MAX_FAILURES


@dataclass(frozen=True)
class Made:
    link: ShareLink
    secret: str  # goes into the URL: /share/{secret}
    code: str  # given to the doctor apart from the link


class WrongCode(Exception):
    """The code did not match; ``left`` more tries before the link stops."""

    def __init__(self, left: int) -> None:
        super().__init__(f"wrong code, {left} tries left")
        self.left = left


_COLUMNS = ("id::text, patient_id, part, label, created_by::text, created_at, expires_at, revoked_at, failures, "
            "opened, last_opened_at")


def _secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _code_hash(key: bytes, link_id: str, code: str) -> bytes:
    return hmac.new(key, f"{link_id}:{code}".encode(), hashlib.sha256).digest()


async def make(conn: AsyncConnection, key: bytes, requester: Requester, patient_id: str, part: str, days: int,
               label: str) -> Made:
    """A new link to ``part`` of the child's record for ``days`` days; the maker must be a family
    member who may read the record now (decided by the access policy)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"a link lasts from 1 to {MAX_DAYS} days")
    label = label.strip()
    if not label or len(label) > MAX_LABEL:
        raise ValueError(f"say who the link is for (up to {MAX_LABEL} characters)")
    if requester.kind != "family" or requester.account_id is None:
        raise Forbidden("share links are made by families for their children's records")
    if not await Policy(conn, requester, today_moscow()).decide(patient_id, "Patient", "read"):
        raise NotFound(f"Patient/{patient_id} is not known")
    link_id, secret, code = str(uuid.uuid4()), secrets.token_urlsafe(32), f"{secrets.randbelow(10**6):06d}"
    cur = await conn.execute(
        f"INSERT INTO share_link (id, secret_hash, code_hash, patient_id, part, label, created_by, expires_at) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s, now() + make_interval(days => %s)) RETURNING {_COLUMNS}",
        (link_id, _secret_hash(secret), _code_hash(key, link_id, code), patient_id, part, label,
         requester.account_id, days))
    row = await cur.fetchone()
    assert row is not None
    return Made(ShareLink(*row), secret, code)


async def of_patient(conn: AsyncConnection, patient_id: str) -> list[ShareLink]:
    """The child's links, newest first (the portal's access page lists them to those who may read it)."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM share_link WHERE patient_id = %s ORDER BY created_at DESC",
                             (patient_id,))
    return [ShareLink(*row) for row in await cur.fetchall()]


async def revoke(conn: AsyncConnection, requester: Requester, link_id: str) -> None:
    """End a link now: its maker, or anyone else who may read the child's record as family."""
    try:
        uuid.UUID(link_id)
    except ValueError:
        raise NotFound("no such link") from None
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM share_link WHERE id = %s", (link_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound("no such link")
    link = ShareLink(*row)
    if requester.kind != "family" or not await Policy(conn, requester, today_moscow()).decide(
            link.patient_id, "Patient", "read"):
        raise NotFound("no such link")
    await conn.execute("UPDATE share_link SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s", (link_id,))


async def find(conn: AsyncConnection, secret: str) -> ShareLink | None:
    """The link a URL's secret names, live or not (the page says which)."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM share_link WHERE secret_hash = %s", (_secret_hash(secret),))
    row = await cur.fetchone()
    return ShareLink(*row) if row else None


async def open_with(conn: AsyncConnection, key: bytes, secret: str, code: str, now: datetime,
                    ) -> tuple[ShareLink, Requester]:
    """Check the code of a live link and count the opening; returns the link and the requester its
    reads are made as (its maker, purpose PATRQT). Raises NotFound for an unknown, ended or revoked
    link and :class:`WrongCode` for a wrong code (counted)."""
    cur = await conn.execute(f"SELECT {_COLUMNS}, code_hash FROM share_link WHERE secret_hash = %s FOR UPDATE",
                             (_secret_hash(secret),))
    row = await cur.fetchone()
    link = ShareLink(*row[:-1]) if row else None
    if row is None or link is None or not link.live(now):
        raise NotFound("this link is not valid (ended, revoked or unknown)")
    given = "".join(ch for ch in code if ch.isdigit())
    if not hmac.compare_digest(_code_hash(key, link.id, given), bytes(row[-1])):
        await conn.execute("UPDATE share_link SET failures = failures + 1 WHERE id = %s", (link.id,))
        raise WrongCode(MAX_FAILURES - link.failures - 1)
    await conn.execute("UPDATE share_link SET opened = opened + 1, last_opened_at = now(), failures = 0 "
                       "WHERE id = %s", (link.id,))
    maker = await accounts.get(conn, link.created_by)
    if maker is None or maker.status != "active":
        raise NotFound("this link is not valid (ended, revoked or unknown)")
    # the audit log names the maker and the link: the access page shows the opening as made through it
    requester = replace(maker.requester(purpose=PURPOSE), name=f"{maker.display_name}, по ссылке «{link.label}»")
    return link, requester
