"""The index tables find a resource's rows through a hash index on ``resource_id``.

Each index table had a B-tree on ``(resource_type, resource_id)``, used only to find the rows of
one resource (to replace them when it changes, and in correlated lookups of a search or an
operation): always by equality. A hash index on ``resource_id`` answers the same lookups (the
type is checked on the rows found) for less: COPYing 9,000 token rows cost +5.5 µs a row with
the B-tree and +2.2 µs with the hash index (on top of 2.2 µs for the heap row); in transactions
of 100 Observations (about six index rows each), PostgreSQL's execution time fell from 161 to
153 µs a resource and its WAL from 5.7 to 5.2 KB (both schemas in one server, interleaved). The
entries are 4-byte hashes instead of two text keys.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("sp_token", "sp_string", "sp_date", "sp_number", "sp_quantity", "sp_reference", "sp_uri")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP INDEX {table}_resource_idx")
        op.execute(f"CREATE INDEX {table}_resource_idx ON {table} USING hash (resource_id)")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP INDEX {table}_resource_idx")
        op.execute(f"CREATE INDEX {table}_resource_idx ON {table} (resource_type, resource_id)")
