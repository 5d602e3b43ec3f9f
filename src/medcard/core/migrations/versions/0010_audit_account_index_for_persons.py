"""The audit log's index by account covers the entries of persons only.

``audit_event_account_idx`` answers "what did this person access". Entries written for machine
clients (an integration, an import; ``client_id`` set, no account) have no account to look up,
yet each cost an index entry on NULL. Those clients write most of the records' data (a lab's
results, an import), one entry per resource, so the index now leaves them out; a lookup by an
account (``account_id = ...``) uses the partial index as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX audit_event_account_idx")
    op.execute("CREATE INDEX audit_event_account_idx ON audit_event (account_id, recorded) "
               "WHERE account_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX audit_event_account_idx")
    op.execute("CREATE INDEX audit_event_account_idx ON audit_event (account_id, recorded)")
