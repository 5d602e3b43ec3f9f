"""Full-text and fuzzy patient search, and the background job queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- The searchable text of a resource (_content: every text element; _text: the narrative),
-- stemmed with the Russian configuration. Searches run inside one patient's record, so the
-- GIN indexes lead with patient_id (btree_gin).
CREATE TABLE sp_text (
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    patient_id text COLLATE "C",
    content tsvector NOT NULL,
    narrative tsvector,
    CONSTRAINT sp_text_pkey PRIMARY KEY (resource_type, resource_id)
);
CREATE INDEX sp_text_content_idx ON sp_text USING gin (patient_id, content);
CREATE INDEX sp_text_narrative_idx ON sp_text USING gin (patient_id, narrative) WHERE narrative IS NOT NULL;

-- Registrars' fuzzy lookup: one row per family name of a Patient, as a phonetic skeleton
-- (see fhir/search/phonetic.py), compared by trigram similarity, optionally with the birth date.
CREATE TABLE patient_lookup (
    patient_id text COLLATE "C" NOT NULL,
    family text NOT NULL,
    given text,
    birth_date date
);
CREATE INDEX patient_lookup_patient_idx ON patient_lookup (patient_id);
CREATE INDEX patient_lookup_search_idx ON patient_lookup USING gin (birth_date, family gin_trgm_ops);

-- Background work (bulk import and export): a PostgreSQL queue, taken with SKIP LOCKED, so it
-- survives restarts and needs no other server.
CREATE TABLE job (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    request jsonb NOT NULL,
    progress jsonb NOT NULL DEFAULT '{}',
    result jsonb,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    heartbeat_at timestamptz,
    worker text
);
CREATE INDEX job_pending_idx ON job (created_at) WHERE status IN ('queued', 'running');
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE job; DROP TABLE patient_lookup; DROP TABLE sp_text")
