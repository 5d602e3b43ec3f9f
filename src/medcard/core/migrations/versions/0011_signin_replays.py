"""Sign-in replays: the last accepted TOTP time step of each account, and token families.

- ``account.totp_last_step``: the time step (30-second counter, RFC 6238) of the last TOTP code the
  account used. A code of that step or an earlier one is refused, so a code works once.
- ``oauth_code.family_id``, ``oauth_token.family_id``: every token issued from one authorization
  (its code's exchange and every refresh after it) shares the code's family. A refresh token or a
  code presented again after it was spent revokes the whole family (OAuth 2.0 Security BCP,
  RFC 9700 §4.14.2; RFC 6749 §4.1.2). Tokens issued before this revision each make a family of
  their own (their row's family is a new id).
- ``oauth_code.used_at``: a code is kept, marked used, until a day after it expired, so that its
  second use is recognised; ``oauth_code_expires_idx`` serves the clean-up.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE account ADD COLUMN totp_last_step bigint;
COMMENT ON COLUMN account.totp_last_step IS 'RFC 6238 step of the last accepted TOTP code; no older code works';

ALTER TABLE oauth_code ADD COLUMN family_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE oauth_code ADD COLUMN used_at timestamptz;
CREATE INDEX oauth_code_expires_idx ON oauth_code (expires_at);

ALTER TABLE oauth_token ADD COLUMN family_id uuid NOT NULL DEFAULT gen_random_uuid();
COMMENT ON COLUMN oauth_token.family_id IS 'The authorization the token comes from: revoked together on a replay';
CREATE INDEX oauth_token_family_idx ON oauth_token (family_id);
"""

DOWNGRADE = """
DROP INDEX oauth_token_family_idx;
ALTER TABLE oauth_token DROP COLUMN family_id;
DROP INDEX oauth_code_expires_idx;
ALTER TABLE oauth_code DROP COLUMN used_at;
ALTER TABLE oauth_code DROP COLUMN family_id;
ALTER TABLE account DROP COLUMN totp_last_step;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
