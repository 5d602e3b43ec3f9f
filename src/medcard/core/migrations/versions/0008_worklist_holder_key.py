"""The vaccination worklist's index keyed by a 64-bit hash of the holder instead of its text.

Every child has about 56 rows in ``vaccination_due`` (28 periods, one row per holder), and
inserting them into the GiST index on ``(holder, overdue_during)`` cost PostgreSQL ~28 us a row,
most of a patient's import. The same index on ``(holder_key, overdue_during)``, where
``holder_key`` is ``hashtextextended(holder, 0)`` (the hash PostgreSQL's hash partitioning
relies on, stable across versions), costs ~13 us a row and answers the same scan; the worklist
query also compares ``holder`` itself, so two holders with the same hash cannot mix.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE vaccination_due
    ADD COLUMN holder_key bigint NOT NULL GENERATED ALWAYS AS (hashtextextended(holder, 0)) STORED;
COMMENT ON COLUMN vaccination_due.holder_key IS 'hashtextextended(holder, 0): the worklist index key';
DROP INDEX vaccination_due_worklist_idx;
CREATE INDEX vaccination_due_worklist_idx ON vaccination_due USING gist (holder_key, overdue_during);
"""

DOWNGRADE = """
DROP INDEX vaccination_due_worklist_idx;
ALTER TABLE vaccination_due DROP COLUMN holder_key;
CREATE INDEX vaccination_due_worklist_idx ON vaccination_due USING gist (holder, overdue_during);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
