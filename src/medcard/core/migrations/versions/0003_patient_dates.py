"""Dates by patient: "the last visits of this child" read backwards from an index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX sp_date_patient_idx ON sp_date (patient_id, resource_type, param, low) "
               "INCLUDE (high, resource_id) WHERE patient_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX sp_date_patient_idx")
