"""The FHIR resource store: current versions, history, compartments and search indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Every index table has the same head: which resource the row belongs to and, for rows of a
# patient's record, that patient (the distribution key when the store is sharded by patient).
# Identifier-like text columns use the "C" collation: byte order, the cheapest to compare
# and to index, whatever the database's default collation is.
_HEAD = """
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    patient_id text COLLATE "C",
    param text COLLATE "C" NOT NULL,
"""

UPGRADE = f"""
CREATE TABLE resource (
    resource_type text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    version_id integer NOT NULL,
    last_updated timestamptz NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    patient_id text COLLATE "C",
    content_hash bytea,
    content text,
    CONSTRAINT resource_pkey PRIMARY KEY (resource_type, id),
    CONSTRAINT resource_content_present CHECK (deleted OR content IS NOT NULL)
);
COMMENT ON TABLE resource IS 'Current version of every FHIR resource; content is the stored JSON.';
COMMENT ON COLUMN resource.patient_id IS 'The Patient whose compartment (record) this resource belongs to.';
CREATE INDEX resource_patient_idx ON resource (patient_id, resource_type) WHERE patient_id IS NOT NULL;
CREATE INDEX resource_type_updated_idx ON resource (resource_type, last_updated);
CREATE INDEX resource_updated_idx ON resource (last_updated);

CREATE TABLE resource_history (
    resource_type text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    version_id integer NOT NULL,
    last_updated timestamptz NOT NULL,
    deleted boolean NOT NULL,
    patient_id text COLLATE "C",
    content text,
    CONSTRAINT resource_history_pkey PRIMARY KEY (resource_type, id, version_id)
);
COMMENT ON TABLE resource_history IS 'Superseded versions of resources (the current one is in resource).';
CREATE INDEX resource_history_type_updated_idx ON resource_history (resource_type, last_updated);
CREATE INDEX resource_history_updated_idx ON resource_history (last_updated);

CREATE TABLE resource_compartment (
    patient_id text COLLATE "C" NOT NULL,
    resource_type text COLLATE "C" NOT NULL,
    resource_id text COLLATE "C" NOT NULL,
    CONSTRAINT resource_compartment_pkey PRIMARY KEY (patient_id, resource_type, resource_id)
);
COMMENT ON TABLE resource_compartment IS
    'Further patient compartments of resources that belong to more than one record.';
CREATE INDEX resource_compartment_resource_idx ON resource_compartment (resource_type, resource_id);

-- Each index table has a search index (covering, so a criterion is an index-only scan) and
-- an index by resource (to replace a resource's rows when it changes).
CREATE TABLE sp_token ({_HEAD}
    system text COLLATE "C",
    code text COLLATE "C",
    text text
);
CREATE INDEX sp_token_code_idx ON sp_token (resource_type, param, code, patient_id) INCLUDE (system, resource_id);
CREATE INDEX sp_token_resource_idx ON sp_token (resource_type, resource_id);

CREATE TABLE sp_string ({_HEAD}
    value text COLLATE "C" NOT NULL,
    exact text NOT NULL
);
CREATE INDEX sp_string_value_idx ON sp_string (resource_type, param, value) INCLUDE (resource_id);
CREATE INDEX sp_string_resource_idx ON sp_string (resource_type, resource_id);

CREATE TABLE sp_date ({_HEAD}
    low timestamptz NOT NULL,
    high timestamptz NOT NULL
);
CREATE INDEX sp_date_low_idx ON sp_date (resource_type, param, low) INCLUDE (high, resource_id);
CREATE INDEX sp_date_resource_idx ON sp_date (resource_type, resource_id);

CREATE TABLE sp_number ({_HEAD}
    value numeric NOT NULL
);
CREATE INDEX sp_number_value_idx ON sp_number (resource_type, param, value) INCLUDE (resource_id);
CREATE INDEX sp_number_resource_idx ON sp_number (resource_type, resource_id);

CREATE TABLE sp_quantity ({_HEAD}
    value numeric NOT NULL,
    system text COLLATE "C",
    code text COLLATE "C"
);
CREATE INDEX sp_quantity_value_idx ON sp_quantity (resource_type, param, code, value) INCLUDE (system, resource_id);
CREATE INDEX sp_quantity_resource_idx ON sp_quantity (resource_type, resource_id);

CREATE TABLE sp_reference ({_HEAD}
    target_type text COLLATE "C",
    target_id text COLLATE "C",
    url text COLLATE "C"
);
CREATE INDEX sp_reference_target_idx ON sp_reference (target_type, target_id, resource_type, param)
    INCLUDE (resource_id);
CREATE INDEX sp_reference_url_idx ON sp_reference (url) WHERE url IS NOT NULL;
CREATE INDEX sp_reference_resource_idx ON sp_reference (resource_type, resource_id);

CREATE TABLE sp_uri ({_HEAD}
    value text COLLATE "C" NOT NULL
);
CREATE INDEX sp_uri_value_idx ON sp_uri (resource_type, param, value) INCLUDE (resource_id);
CREATE INDEX sp_uri_resource_idx ON sp_uri (resource_type, resource_id);
"""

TABLES = ("sp_uri", "sp_reference", "sp_quantity", "sp_number", "sp_date", "sp_string", "sp_token",
          "resource_compartment", "resource_history", "resource")


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE {table}")
