"""Share links: a read-only copy of part of a child's record for a doctor elsewhere, behind a code.

Only hashes of the link's secret and of its code are kept. A link lasts a chosen number of days,
can be revoked, and stops after :data:`medcard.sharing.links.MAX_FAILURES` wrong codes.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE share_link (
    id uuid PRIMARY KEY,
    secret_hash bytea NOT NULL UNIQUE,
    code_hash bytea NOT NULL,
    patient_id text COLLATE "C" NOT NULL,
    part text NOT NULL CHECK (part IN ('extract', 'record-book')),
    label text NOT NULL,
    created_by uuid NOT NULL REFERENCES account (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    failures integer NOT NULL DEFAULT 0,
    opened integer NOT NULL DEFAULT 0,
    last_opened_at timestamptz
);
COMMENT ON TABLE share_link IS 'Links a family made to show part of a child''s record to a doctor elsewhere';
CREATE INDEX share_link_patient_idx ON share_link (patient_id, created_at DESC);
"""

DOWNGRADE = "DROP TABLE share_link;"


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
