"""Accounts, links between families and children, sessions, OAuth clients and tokens, the audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
-- People who sign in: staff of the clinics, and families (parents, guardians, teenagers).
CREATE TABLE account (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('staff', 'family')),
    username text NOT NULL UNIQUE,
    display_name text NOT NULL,
    password_hash text,
    totp_secret bytea,
    totp_enabled boolean NOT NULL DEFAULT false,
    level text NOT NULL DEFAULT 'standard' CHECK (level IN ('standard', 'full')),
    verified_by uuid REFERENCES account (id),
    verified_at timestamptz,
    verification_document text,
    email text,
    email_verified boolean NOT NULL DEFAULT false,
    phone text,
    phone_verified boolean NOT NULL DEFAULT false,
    practitioner_id text,
    patient_id text,
    oidc_subject text UNIQUE,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN account.level IS 'Family accounts: standard (self-registered) or full (identity verified)';
COMMENT ON COLUMN account.patient_id IS 'The Patient a family account is (a teenager''s own access)';
CREATE INDEX account_patient_idx ON account (patient_id) WHERE patient_id IS NOT NULL;

-- What a staff member does, and where (mirrors FHIR PractitionerRole).
CREATE TABLE staff_role (
    account_id uuid NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('pediatrician', 'nurse', 'specialist', 'registrar', 'archivist',
                                       'clinic-admin', 'city-admin')),
    organization_id text NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, role, organization_id)
);

-- A legal representative's link to a child, created or approved by a registrar on documents.
CREATE TABLE representation (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES account (id),
    patient_id text NOT NULL,
    relationship text NOT NULL CHECK (relationship IN ('parent', 'guardian', 'adoptive-parent')),
    status text NOT NULL CHECK (status IN ('requested', 'active', 'revoked', 'rejected')),
    document text,
    requested_at timestamptz NOT NULL DEFAULT now(),
    verified_by uuid REFERENCES account (id),
    verified_at timestamptz,
    revoked_by uuid REFERENCES account (id),
    revoked_at timestamptz,
    note text
);
CREATE INDEX representation_account_idx ON representation (account_id, patient_id) WHERE status = 'active';
CREATE INDEX representation_patient_idx ON representation (patient_id);

-- Signed-in browser sessions (only a hash of the cookie value is stored).
CREATE TABLE web_session (
    id_hash bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    second_factor boolean NOT NULL DEFAULT false,
    csrf_token text NOT NULL
);
CREATE INDEX web_session_account_idx ON web_session (account_id);

-- Programs using the API: apps acting for a signed-in person, and backend services.
CREATE TABLE oauth_client (
    client_id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    kind text NOT NULL CHECK (kind IN ('confidential', 'public', 'backend')),
    secret_hash text,
    jwks jsonb,
    redirect_uris text[] NOT NULL DEFAULT '{}',
    scope text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE oauth_code (
    code_hash bytea PRIMARY KEY,
    client_id text NOT NULL REFERENCES oauth_client (client_id),
    account_id uuid NOT NULL REFERENCES account (id),
    redirect_uri text NOT NULL,
    scope text NOT NULL,
    code_challenge text,
    code_challenge_method text,
    patient_id text,
    nonce text,
    expires_at timestamptz NOT NULL
);

CREATE TABLE oauth_token (
    token_hash bytea PRIMARY KEY,
    refresh_hash bytea UNIQUE,
    client_id text NOT NULL REFERENCES oauth_client (client_id),
    account_id uuid REFERENCES account (id),
    scope text NOT NULL,
    patient_id text,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    refresh_expires_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX oauth_token_account_idx ON oauth_token (account_id);

-- Fixed-window counters for login throttling and API rate limits.
CREATE TABLE rate_limit (
    key text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    count integer NOT NULL
);

-- The audit log: who did what to whose record, when, from where, why, with what outcome.
-- Append-only (a trigger refuses UPDATE and DELETE), partitioned by month.
CREATE TABLE audit_event (
    id uuid NOT NULL,
    recorded timestamptz NOT NULL,
    patient_id text,
    action text NOT NULL,
    subtype text NOT NULL,
    outcome text NOT NULL,
    account_id uuid,
    agent_name text,
    agent_role text,
    client_id text,
    on_behalf_of text,
    entity text,
    query text,
    purpose text,
    source text,
    break_glass text,
    detail text,
    CONSTRAINT audit_event_pkey PRIMARY KEY (recorded, id)
) PARTITION BY RANGE (recorded);
CREATE TABLE audit_event_default PARTITION OF audit_event DEFAULT;
CREATE INDEX audit_event_patient_idx ON audit_event (patient_id, recorded);
CREATE INDEX audit_event_account_idx ON audit_event (account_id, recorded);
CREATE INDEX audit_event_break_glass_idx ON audit_event (recorded) WHERE break_glass IS NOT NULL;

CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();

-- Monthly partitions are created ahead of time by medcard (audit.ensure_partitions).
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE audit_event; DROP FUNCTION audit_event_append_only(); DROP TABLE rate_limit; "
               "DROP TABLE oauth_token; DROP TABLE oauth_code; DROP TABLE oauth_client; DROP TABLE web_session; "
               "DROP TABLE representation; DROP TABLE staff_role; DROP TABLE account")
