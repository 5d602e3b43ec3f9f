"""Drafts of visit protocols: what a clinician typed, kept on the server until the visit is saved.

- ``visit_draft``: one row per visit form, keyed by the form's key (a UUID made when the form was
  first opened, carried in the form). ``fields`` holds the form's fields as typed (strings, lists
  of strings), nothing parsed, so a half-typed value comes back as it was. ``chart_version`` is
  the chart's version marker when the form was opened: saving over a chart that changed since is
  refused with a message (records/visit_save.py). ``encounter_id`` is set by the save in the same
  transaction that writes the visit's Bundle, so a form submitted twice saves once; the saved
  draft's fields are then emptied (the record holds them now).
- ``visit_draft_open_idx``: a clinician re-opening the form for a child finds the draft they left.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE visit_draft (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    patient_id text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('well-child', 'illness')),
    fields jsonb NOT NULL DEFAULT '{}',
    chart_version text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    encounter_id text
);
COMMENT ON TABLE visit_draft IS 'Visit forms being written (autosaved) and the visit each saved form became';
COMMENT ON COLUMN visit_draft.fields IS 'The form fields as typed; emptied once the visit is saved';
COMMENT ON COLUMN visit_draft.chart_version IS 'The chart version marker when the form was opened';
COMMENT ON COLUMN visit_draft.encounter_id IS 'The Encounter the form was saved as; set once';
CREATE INDEX visit_draft_open_idx ON visit_draft (account_id, patient_id, kind, updated_at DESC)
    WHERE encounter_id IS NULL;
"""

DOWNGRADE = """
DROP TABLE visit_draft;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
