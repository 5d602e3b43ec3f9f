"""PAdES signatures of issued PDFs with each organization's key, and their checking.

medcard makes a key pair (ECDSA P-256) and a self-signed certificate for an organization the
first time it signs for it, and keeps the private key encrypted with the server's secret key
(AES-256-GCM, the organization's id as associated data) in ``document_signing_key``. A real
deployment replaces the certificate with one from a certification authority (docs/security.md:
what a qualified signature under Russian law needs instead). Every query on the table lives here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from psycopg import AsyncConnection
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from medcard.core.errors import ServiceUnavailable

CERTIFICATE_YEARS = 10
FIELD = "medcard-signature"
SIGNATURE_BYTES = 8192


@dataclass(frozen=True)
class OrganizationKey:
    organization_id: str
    certificate: bytes  # DER
    private_key: bytes  # PKCS#8 DER, decrypted


def _aead(secret: bytes) -> AESGCM:
    return AESGCM(secret)


def _fit(text: str, limit: int = 64) -> str:
    """``text`` cut to the X.520 upper bound of 64 (counted in UTF-8 bytes: Cyrillic letters take two)."""
    if len(text.encode()) <= limit:
        return text
    while len((text + "…").encode()) > limit:
        text = text.rsplit(" ", 1)[0] if " " in text.strip() else text[:-1]
    return text.rstrip(" ,«") + "…"


def _new_key(organization_id: str, name: str, secret: bytes) -> tuple[bytes, bytes, bytes]:
    """(certificate DER, private key DER, encrypted private key) for a new organization key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, _fit(name or organization_id)),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _fit(f"Organization/{organization_id}")),
                         x509.NameAttribute(NameOID.COMMON_NAME, _fit(name or organization_id))])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * CERTIFICATE_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    nonce = os.urandom(12)
    sealed = nonce + _aead(secret).encrypt(nonce, private, organization_id.encode())
    return cert.public_bytes(serialization.Encoding.DER), private, sealed


def _open(organization_id: str, sealed: bytes, secret: bytes) -> bytes:
    try:
        return _aead(secret).decrypt(sealed[:12], sealed[12:], organization_id.encode())
    except InvalidTag:
        raise ServiceUnavailable("the signing key of this organization cannot be decrypted: the server's secret "
                                 "key (MEDCARD_SECRET_KEY or secret.key) is not the one it was made with") from None


async def organization_key(conn: AsyncConnection, organization_id: str, name: str, secret: bytes) -> OrganizationKey:
    """The organization's signing key, made on first use (two processes at once keep the first one made)."""
    cur = await conn.execute("SELECT certificate, private_key FROM document_signing_key WHERE organization_id = %s",
                             (organization_id,))
    row = await cur.fetchone()
    if row is None:
        cert, _, sealed = _new_key(organization_id, name, secret)
        await conn.execute("INSERT INTO document_signing_key (organization_id, certificate, private_key) "
                           "VALUES (%s, %s, %s) ON CONFLICT (organization_id) DO NOTHING",
                           (organization_id, cert, sealed))
        cur = await conn.execute("SELECT certificate, private_key FROM document_signing_key "
                                 "WHERE organization_id = %s", (organization_id,))
        row = await cur.fetchone()
        assert row is not None
    return OrganizationKey(organization_id, bytes(row[0]), _open(organization_id, bytes(row[1]), secret))


async def certificate(conn: AsyncConnection, organization_id: str) -> bytes | None:
    """The organization's certificate (DER), or None before it first signed."""
    cur = await conn.execute("SELECT certificate FROM document_signing_key WHERE organization_id = %s",
                             (organization_id,))
    row = await cur.fetchone()
    return bytes(row[0]) if row else None


async def certificates(conn: AsyncConnection) -> dict[str, bytes]:
    """Every organization's certificate (DER) by organization id: the trust roots of a check."""
    cur = await conn.execute("SELECT organization_id, certificate FROM document_signing_key")
    return {row[0]: bytes(row[1]) for row in await cur.fetchall()}


async def sign(data: bytes, key: OrganizationKey, *, reason: str, location: str) -> bytes:
    """``data`` (a PDF) with a PAdES baseline signature of the organization appended (incremental update)."""
    cert = asn1_x509.Certificate.load(key.certificate)
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=asn1_keys.PrivateKeyInfo.load(key.private_key),
                                  cert_registry=SimpleCertificateStore.from_certs([cert]))  # type: ignore[no-untyped-call]
    meta = signers.PdfSignatureMetadata(field_name=FIELD, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        reason=reason, location=location)
    writer = IncrementalPdfFileWriter(BytesIO(data))
    # A fixed reservation for the CMS blob (an ECDSA signature and one certificate take about 1.5 KB) spares
    # pyHanko the dry-run signature it makes to estimate the size: it halves the signing time.
    out = await signers.async_sign_pdf(writer, meta, signer=signer, bytes_reserved=SIGNATURE_BYTES)
    return bytes(out.getbuffer())


@dataclass(frozen=True)
class SignatureCheck:
    """What a signature check found: whether the bytes are intact and signed by a known organization."""

    signed: bool
    intact: bool  # the signed bytes are unchanged and the signature is mathematically valid
    trusted: bool  # the certificate is one of medcard's organizations' certificates
    covers_whole_file: bool  # nothing was appended after the signature
    signer: str
    signed_at: datetime | None
    problem: str = ""
    reason: str = ""  # the signature's /Reason: the kind of document and its code

    @property
    def valid(self) -> bool:
        return self.signed and self.intact and self.trusted and self.covers_whole_file


async def check(data: bytes, trusted: list[bytes]) -> SignatureCheck:
    """Check the PDF's signature against ``trusted`` certificates (DER); never raises for a bad file."""
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except Exception as e:  # a damaged file is an answer, not an error: any parser failure says "not valid"
        return SignatureCheck(False, False, False, False, "", None, f"not a readable PDF ({type(e).__name__})")
    if not signatures:
        return SignatureCheck(False, False, False, False, "", None, "the PDF has no signature")
    sig = signatures[-1]
    roots = [asn1_x509.Certificate.load(c) for c in trusted]
    context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    try:
        status = await async_validate_pdf_signature(sig, context)
    except Exception as e:  # a mangled signature dictionary or CMS blob: not valid, and why
        return SignatureCheck(True, False, False, False, "", None, f"the signature cannot be read ({type(e).__name__})")
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    reason = str(sig.sig_object.get("/Reason", ""))
    subject = status.signing_cert.subject.human_friendly if status.signing_cert is not None else ""
    return SignatureCheck(True, bool(status.intact and status.valid), bool(status.trusted), whole, subject,
                          status.signer_reported_dt, reason=reason)
