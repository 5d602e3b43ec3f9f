"""Overdue vaccinations by child, a table derived from each record, for the clinics' worklists.

Kept by medcard.pediatrics.vaccination_due in the transaction of every write of a Patient,
Immunization or Flag. A database upgraded with records already in it fills the table once here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from typing import Any

from alembic import op
from sqlalchemy import text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

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
    _backfill()


def _backfill(chunk: int = 1000) -> None:
    """Fill the table from the records already stored (nothing to do on a new database)."""
    from medcard.pediatrics.vaccination_due import WATCHED

    conn = op.get_bind()
    after = ""
    while True:
        ids = [r[0] for r in conn.execute(text(
            "SELECT id FROM resource WHERE resource_type = 'Patient' AND NOT deleted AND id > :a "
            "ORDER BY id LIMIT :n"), {"a": after, "n": chunk})]
        if not ids:
            return
        parts: dict[str, dict[str, list[Any]]] = {}
        for rtype, pid, content in conn.execute(text(
                "SELECT resource_type, patient_id, content FROM resource "
                "WHERE patient_id = ANY(:ids) AND resource_type = ANY(:types) AND NOT deleted"),
                {"ids": ids, "types": sorted(WATCHED)}):
            parts.setdefault(pid, {}).setdefault(rtype, []).append(_json(content))
        rows = [row for p in parts.values() for patient in p.get("Patient", ())
                for row in _rows(patient, p.get("Immunization", ()), p.get("Flag", ()))]
        if rows:
            conn.execute(text(
                "INSERT INTO vaccination_due (patient_id, holder, organization_id, disease, dose_number, earliest, "
                "due, overdue, overdue_during) VALUES (:p, :h, :o, :d, :n, :e, :u, :v, CAST(:r AS daterange))"),
                [dict(zip("phodneuvr", row, strict=True)) for row in rows])
        after = ids[-1]


def _rows(patient: Any, immunizations: Any, flags: Any) -> list[tuple[Any, ...]]:
    """This table's rows for one child: one per holder and period (migration 0013 groups them by disease)."""
    from medcard.pediatrics.vaccination_due import child_periods

    child = child_periods(patient, immunizations, flags)
    org = next((h.split("/", 1)[1] for h in child.holders if h.startswith("Organization/")), None)
    return [(child.patient_id, holder, org, p.disease, p.dose_number, p.earliest, p.due, p.overdue,
             f"[{p.start},{p.end})") for holder in child.holders for p in child.periods]


def _json(content: str) -> Any:
    from medcard.core import jsonutil

    return jsonutil.loads(content)


def downgrade() -> None:
    op.execute("DROP TABLE vaccination_due")
