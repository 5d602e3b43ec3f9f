"""Notifications to families: an inbox per account, an outbox of e-mails, preferences, scan marks.

``notification`` is the inbox: one row per account and event (a new result, document or access
grant; a vaccination due or overdue), unique by ``(account_id, kind, key)`` so that a scan run
twice, or by two workers, adds nothing. ``notification_delivery`` is the outbox of messages to
send, with their attempts and the time of the next one. ``notification_preference`` holds an
account's choice of e-mail. ``notification_mark`` is where the scans got to.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-07
"""

from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE notification (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES account (id),
    patient_id text COLLATE "C" NOT NULL,
    kind text NOT NULL,
    key text COLLATE "C" NOT NULL,
    due_on date,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    CONSTRAINT notification_once UNIQUE (account_id, kind, key)
);
COMMENT ON TABLE notification IS 'A family account''s inbox: that something new is in a child''s record, '
    'never what (no diagnosis, no value)';
COMMENT ON COLUMN notification.key IS
    'What the event is about: Type/id of a new resource, or disease:date of a due dose';
CREATE INDEX notification_inbox_idx ON notification (account_id, created_at DESC);
CREATE INDEX notification_unread_idx ON notification (account_id, patient_id) WHERE read_at IS NULL;

CREATE TABLE notification_delivery (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notification (id) ON DELETE CASCADE,
    channel text NOT NULL CHECK (channel IN ('email')),
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    sent_at timestamptz
);
COMMENT ON TABLE notification_delivery IS 'The outbox: messages to send, retried with back-off';
COMMENT ON COLUMN notification_delivery.last_error IS
    'The kind of the last failure (an exception class), never its text';
CREATE INDEX notification_delivery_due_idx ON notification_delivery (next_attempt_at) WHERE status = 'queued';

CREATE TABLE notification_preference (
    account_id uuid PRIMARY KEY REFERENCES account (id),
    email boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_mark (
    name text PRIMARY KEY,
    at timestamptz,
    day date
);
COMMENT ON TABLE notification_mark IS
    'How far the notification scans got: new resources up to "at", due dates on "day"';
"""

DOWNGRADE = """
DROP TABLE notification_mark;
DROP TABLE notification_preference;
DROP TABLE notification_delivery;
DROP TABLE notification;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
