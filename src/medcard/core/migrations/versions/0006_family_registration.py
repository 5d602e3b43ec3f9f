"""Families register themselves: single-use e-mail confirmation codes.

A self-registered family account (``account.email`` set, ``email_verified`` false) cannot sign in
until the code sent to its address is entered. Only a keyed hash of the code is stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE email_verification (
    account_id uuid PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    failed_attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE email_verification IS 'The pending e-mail confirmation code of a self-registered family account '
    '(HMAC-SHA256 of the code under the server key; deleted when used or voided)';
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE email_verification")
