"""Overdue vaccinations by child, a table derived from each record, for the clinics' worklists.

Kept by medcard.pediatrics.vaccination_due in the transaction of every write of a Patient,
Immunization or Flag. A database upgraded with records already in it is filled by
`medcard db rebuild-derived` (the upgrade says so).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import logging

from alembic import op
from sqlalchemy import text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

UPGRADE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE vaccination_due (
    patient_id text NOT NULL,
    holder text NOT NULL,
    organization_id text,
    disease text NOT NULL,
    dose_number integer,
    earliest date NOT NULL,
    due date NOT NULL,
    overdue date NOT NULL,
    overdue_during daterange NOT NULL
);
COMMENT ON TABLE vaccination_due IS 'Derived from Patient, Immunization and Flag resources: never edit by hand';
COMMENT ON COLUMN vaccination_due.holder IS 'Who the child is attached to: Organization/id (managingOrganization), '
    'PractitionerRole/id or Practitioner/id (generalPractitioner); one row per holder';
COMMENT ON COLUMN vaccination_due.overdue_during IS
    'The days on which this dose is overdue if nothing more is recorded';
CREATE INDEX vaccination_due_worklist_idx ON vaccination_due USING gist (holder, overdue_during);
CREATE INDEX vaccination_due_patient_idx ON vaccination_due (patient_id);
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    _ask_for_rebuild()


def _ask_for_rebuild() -> None:
    """A database upgraded with records already in it has an empty table: say how to fill it.

    The migration does not compute the rows itself: that is the pediatrics domain's code, which changes
    with the rules, and a migration of the schema's history must not run today's version of it
    (``medcard db rebuild-derived`` does, with the schema as it is by then).
    """
    found = op.get_bind().execute(text(
        "SELECT 1 FROM resource WHERE resource_type = 'Patient' AND NOT deleted LIMIT 1")).first()
    if found is not None:
        log.warning("the vaccination worklist is empty: run `medcard db rebuild-derived` after the upgrade")


def downgrade() -> None:
    op.execute("DROP TABLE vaccination_due")
