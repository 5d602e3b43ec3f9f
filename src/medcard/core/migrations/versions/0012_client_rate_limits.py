"""API rate limits per registered client, counted across server processes.

- ``oauth_client.rate_per_minute``: the client's requests a minute (for an app acting for people,
  each person's through that app); NULL takes the default of its kind from the settings, 0 is
  unlimited.
- ``api_rate``: the requests each client (or client and person) was granted in each minute, shared
  by every server process. Processes reserve allowances in chunks (``throttle.SharedCounter``), so
  a row is written once per chunk, not once per request. UNLOGGED: a counter of the current minute
  needs no WAL, no replica and no crash safety (after a crash the counts start again).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE oauth_client ADD COLUMN rate_per_minute integer CHECK (rate_per_minute >= 0);
COMMENT ON COLUMN oauth_client.rate_per_minute IS
    'Requests a minute (an app for people: per person); NULL: the default of its kind; 0: unlimited';

CREATE UNLOGGED TABLE api_rate (
    minute bigint NOT NULL,
    key text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (minute, key)
);
COMMENT ON TABLE api_rate IS 'Requests granted per client (or client and person) per minute (unix time / 60)';
"""

DOWNGRADE = """
DROP TABLE api_rate;
ALTER TABLE oauth_client DROP COLUMN rate_per_minute;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
