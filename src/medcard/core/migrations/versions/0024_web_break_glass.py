"""Emergency access stated on a page: the reason, kept with the session for one patient, for a while.

A clinician who breaks the glass on ``/app/patients/{id}/break-glass`` states a reason once; the
pages then carry it on every request of that session for that patient (audited as ``ETREAT`` with the
reason) until ``expires_at`` or the end of the session, whichever comes first (the row goes with
its session).

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-07
"""

from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE web_break_glass (
    session_hash bytea NOT NULL REFERENCES web_session (id_hash) ON DELETE CASCADE,
    patient_id text NOT NULL,
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (session_hash, patient_id)
)
""")


def downgrade() -> None:
    op.execute("DROP TABLE web_break_glass")
