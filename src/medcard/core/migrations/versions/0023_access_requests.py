"""Requests for access to a child's record, as a family member files them on the portal.

A request keeps what the person typed (the child's name, birth date and policy number, the
relationship, the document the registrar will check) and, when those match a child, the child;
the registrar approves or rejects it. Whether they matched is not shown to the person who asked:
the portal says the same for every request, so it cannot be used to find out who is a patient.

Revision ID: 0023
Revises: 0017
Create Date: 2026-12-07
"""

from alembic import op

revision = "0023"
down_revision = "0017"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE access_request (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES account (id),
    family_name text NOT NULL,
    given_name text NOT NULL,
    birth_date date NOT NULL,
    policy_number text COLLATE "C" NOT NULL,
    relationship text NOT NULL CHECK (relationship IN ('parent', 'guardian', 'adoptive-parent')),
    document text NOT NULL,
    patient_id text COLLATE "C",
    representation_id uuid REFERENCES representation (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE access_request IS 'Requests for access to a child''s record filed on the portal; '
    'patient_id is set when the details matched a child (never shown to the requester)';
CREATE INDEX access_request_account_idx ON access_request (account_id, created_at DESC);
"""

DOWNGRADE = "DROP TABLE access_request;"


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
