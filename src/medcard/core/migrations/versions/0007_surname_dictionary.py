"""Registrars' fuzzy search: a dictionary of distinct surname skeletons, kept by a trigger.

A surname with a typo shares trigrams with thousands of the millions of ``patient_lookup`` rows.
The search now matches the key against ``patient_family``, every distinct skeleton (tens of
thousands in a city, not millions), by the same trigram similarity, and then reads the patients
of the few skeletons found by equality on a btree index that also serves "born on D". The trigram
GIN index over every row of ``patient_lookup`` is no longer used and goes.

The dictionary is kept by a statement-level trigger on ``patient_lookup`` (it fires for INSERT
and COPY alike: the REST writes and the bulk importer need no change), one INSERT of the
statement's distinct skeletons, in sorted order so that concurrent writers take the same locks in
the same order. Skeletons whose last patient is deleted or renamed stay: they cost a lookup.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE patient_family (
    family text PRIMARY KEY
);
COMMENT ON TABLE patient_family IS
    'Every family-name skeleton in patient_lookup (and some no longer there), kept by a trigger';
CREATE INDEX patient_family_trgm_idx ON patient_family USING gin (family gin_trgm_ops);

CREATE FUNCTION patient_family_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO patient_family (family)
    SELECT DISTINCT n.family FROM new_lookup n ORDER BY n.family
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER patient_lookup_family_insert AFTER INSERT ON patient_lookup
    REFERENCING NEW TABLE AS new_lookup FOR EACH STATEMENT EXECUTE FUNCTION patient_family_add();
CREATE TRIGGER patient_lookup_family_update AFTER UPDATE ON patient_lookup
    REFERENCING NEW TABLE AS new_lookup FOR EACH STATEMENT EXECUTE FUNCTION patient_family_add();

INSERT INTO patient_family (family) SELECT DISTINCT family FROM patient_lookup ORDER BY family;

CREATE INDEX patient_lookup_family_idx ON patient_lookup (family, birth_date, patient_id);
DROP INDEX patient_lookup_search_idx;
"""

DOWNGRADE = """
CREATE INDEX patient_lookup_search_idx ON patient_lookup USING gin (birth_date, family gin_trgm_ops);
DROP INDEX patient_lookup_family_idx;
DROP TRIGGER patient_lookup_family_update ON patient_lookup;
DROP TRIGGER patient_lookup_family_insert ON patient_lookup;
DROP FUNCTION patient_family_add();
DROP TABLE patient_family;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
