"""Issued documents: the signing key of each organization and the registry of every PDF issued.

``document_signing_key``: one key pair and certificate per organization, made on first use; the
private key (PKCS#8 DER) is encrypted with AES-256-GCM under the server's secret key (12-byte
nonce, then ciphertext and tag), the organization's id bound as associated data.

``document_issued``: each issued PDF: its verification code (printed with a QR code), kind,
issuer, when, the DocumentReference (if any) and patient it shows, the SHA-256 of the signed
bytes, and its revocation. ``/verify/{code}`` and ``medcard documents verify`` read it.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0017"
down_revision = "0024"  # the head of i17-portal after merging main and i16-blobs; the coordinator sets it at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE document_signing_key (
    organization_id text COLLATE "C" PRIMARY KEY,
    certificate bytea NOT NULL,
    private_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE document_issued (
    code text COLLATE "C" PRIMARY KEY,
    kind text NOT NULL,
    organization_id text COLLATE "C" NOT NULL,
    issuer_name text NOT NULL,
    doctor_name text,
    patient_id text COLLATE "C",
    document_reference_id text COLLATE "C",
    issued_at timestamptz NOT NULL DEFAULT now(),
    sha256 bytea NOT NULL,
    revoked_at timestamptz,
    revoked_reason text,
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX document_issued_docref_idx ON document_issued (document_reference_id, issued_at)
    WHERE document_reference_id IS NOT NULL;
CREATE INDEX document_issued_sha256_idx ON document_issued (sha256);
""")


def downgrade() -> None:
    op.execute("DROP TABLE document_issued; DROP TABLE document_signing_key;")
