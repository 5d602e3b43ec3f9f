"""Checking a PDF medcard issued: its signature, the organization that signed it, and the registry."""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import AsyncConnection

from medcard.documents import registry, signing
from medcard.documents.registry import Issued
from medcard.documents.signing import SignatureCheck

_CODE = re.compile(r"\b([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\b")


@dataclass(frozen=True)
class Verification:
    signature: SignatureCheck
    issued: Issued | None  # the registry's entry of the document's code
    same_bytes: bool  # the file is byte for byte the one registered

    @property
    def status(self) -> str:
        """"valid", "revoked", "invalid" (bad signature or changed file) or "unknown" (not issued by medcard)."""
        if self.issued is None:
            return "unknown" if self.signature.signed and self.signature.intact else "invalid"
        if not (self.signature.valid and self.same_bytes):
            return "invalid"
        return "revoked" if self.issued.revoked else "valid"

    @property
    def exit_code(self) -> int:
        return {"valid": 0, "revoked": 2}.get(self.status, 1)

    def lines(self) -> list[str]:
        s = self.signature
        out = [f"status: {self.status}",
               f"signature: {'valid' if s.valid else 'NOT valid'}"
               + (f" ({s.problem})" if s.problem else "")
               + ("" if s.intact or not s.signed else " (the signed bytes were changed)")
               + ("" if s.trusted or not s.intact else " (not signed by a medcard organization's key)")
               + ("" if s.covers_whole_file or not s.intact else " (bytes were added after the signature)")]
        if s.signer:
            out.append(f"signer: {s.signer}")
        if self.issued is not None:
            i = self.issued
            out += [f"code: {i.code}", f"kind: {i.kind}", f"issuer: {i.issuer_name}",
                    f"issued at: {i.issued_at:%Y-%m-%d %H:%M:%S %Z}",
                    f"registered file: {'this file' if self.same_bytes else 'DIFFERENT from this file'}"]
            if i.revoked_at is not None:
                out.append(f"revoked at: {i.revoked_at:%Y-%m-%d %H:%M:%S %Z}: {i.revoked_reason}")
        return out


async def verify_file(conn: AsyncConnection, data: bytes) -> Verification:
    """Check ``data`` (a PDF): the signature against every organization's certificate, then the registry,
    found by the file's hash or else by the code the signature names."""
    check = await signing.check(data, list((await signing.certificates(conn)).values()))
    issued = await registry.by_hash(conn, data)
    same = issued is not None
    if issued is None:
        found = _CODE.search(check.reason)
        issued = await registry.find(conn, found.group(1)) if found else None
    return Verification(check, issued, same)
