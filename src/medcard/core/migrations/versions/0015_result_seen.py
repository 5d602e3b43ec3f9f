"""Results seen: which results the doctor who ordered them has looked at (the workspace's inbox).

``result_seen`` holds one row per (ordering practitioner, result): the DiagnosticReport or
Observation, who marked it seen (the account) and when. A result the practitioner has not marked
stays in their inbox and in "my day"'s count. Not a clinical fact (it says what a person saw, like
the audit log), so an ordinary table; every mark is audited as well.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE result_seen (
    practitioner_id text COLLATE "C" NOT NULL,
    resource_type text COLLATE "C" NOT NULL CHECK (resource_type IN ('DiagnosticReport', 'Observation')),
    resource_id text COLLATE "C" NOT NULL,
    patient_id text COLLATE "C" NOT NULL,
    account_id uuid NOT NULL REFERENCES account (id),
    seen_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT result_seen_pkey PRIMARY KEY (practitioner_id, resource_type, resource_id)
);
COMMENT ON TABLE result_seen IS 'Results (DiagnosticReport, Observation) the ordering practitioner marked seen';
COMMENT ON COLUMN result_seen.account_id IS 'The account that marked the result seen';
CREATE INDEX result_seen_patient_idx ON result_seen (patient_id);
"""

DOWNGRADE = """
DROP TABLE result_seen;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
