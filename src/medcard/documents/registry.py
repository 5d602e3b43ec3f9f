"""The registry of issued documents: verification codes, what each was, and revocation.

Every query on ``document_issued`` lives here. A code is 12 characters of Crockford's base32
(60 random bits) in three groups, easy to read aloud and to type from paper.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from medcard.core.errors import BadRequest, NotFound

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
MAX_REASON = 500


@dataclass(frozen=True)
class Issued:
    code: str
    kind: str
    organization_id: str
    issuer_name: str
    doctor_name: str | None
    patient_id: str | None
    document_reference_id: str | None
    issued_at: datetime
    sha256: bytes
    revoked_at: datetime | None
    revoked_reason: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


_COLUMNS = ("code, kind, organization_id, issuer_name, doctor_name, patient_id, document_reference_id, issued_at, "
            "sha256, revoked_at, revoked_reason")


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normal_code(text: str) -> str | None:
    """A code as typed (any case, O for 0, I/L for 1, with or without dashes) in its printed form, or None."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != 12 or any(c not in ALPHABET for c in cleaned):
        return None
    return f"{cleaned[:4]}-{cleaned[4:8]}-{cleaned[8:]}"


async def record(conn: AsyncConnection, code: str, *, kind: str, organization_id: str, issuer_name: str,
                 doctor_name: str | None, patient_id: str | None, document_reference_id: str | None,
                 data: bytes) -> None:
    """Register an issued PDF (its final, signed bytes)."""
    await conn.execute(
        f"INSERT INTO document_issued ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s, NULL, NULL)",
        (code, kind, organization_id, issuer_name, doctor_name, patient_id, document_reference_id,
         hashlib.sha256(data).digest()))


async def find(conn: AsyncConnection, code: str) -> Issued | None:
    normal = normal_code(code)
    if normal is None:
        return None
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM document_issued WHERE code = %s", (normal,))
    row = await cur.fetchone()
    return Issued(*row) if row else None


async def by_hash(conn: AsyncConnection, data: bytes) -> Issued | None:
    """The registry entry of exactly these bytes, if medcard issued them."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM document_issued WHERE sha256 = %s",
                             (hashlib.sha256(data).digest(),))
    row = await cur.fetchone()
    return Issued(*row) if row else None


async def revoke(conn: AsyncConnection, code: str, reason: str) -> Issued:
    """Mark a document revoked (once: the first revocation's time and reason stay)."""
    reason = reason.strip()
    if not reason:
        raise BadRequest("a revocation needs its reason")
    if len(reason) > MAX_REASON:
        raise BadRequest(f"the reason is longer than {MAX_REASON} characters")
    normal = normal_code(code)
    if normal is None:
        raise BadRequest(f"{code!r} is not a document code (12 letters and digits, such as 7K3M-Q9XA-2BFD)")
    await conn.execute("UPDATE document_issued SET revoked_at = now(), revoked_reason = %s "
                       "WHERE code = %s AND revoked_at IS NULL", (reason, normal))
    found = await find(conn, normal)
    if found is None:
        raise NotFound(f"no document was issued with the code {normal}")
    return found
