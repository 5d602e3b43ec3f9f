"""The vaccination worklist keeps one row per child and disease instead of one per period and holder.

``vaccination_due`` held a row for every period in which a dose is overdue, to the 18th birthday,
once for each of the child's holders: 56 rows for a child with no vaccination recorded (28
periods, 17 of them the yearly influenza dose, times the clinic and the district), about 17 KB
of table and indexes a child, about 40 GB for a city of 2.3 million children. Now a row holds all the
periods of one disease of one child: ``overdue_during`` is a ``datemultirange``, the periods'
details are arrays ordered by start (``periods``: start, earliest, due, overdue; ``dose_numbers``),
and the holders are ids in the dictionary ``vaccination_due_holder`` (an ``integer[]``, so one row
serves the clinic and the district; exact, where the old 64-bit hash needed the text beside it).
The worklist's index is GiST on ``(holders gist__int_ops, overdue_during)``, which needs the
``intarray`` extension (contrib, as ``btree_gist``) and PostgreSQL 14 or later (multiranges).

The rows are converted in SQL, not recomputed: a period's details are the same for every holder,
so grouping the old rows by child and disease gives what the new code computes. Like migration
0008, this rewrites the table while the worklist is unavailable (measured: 31 s for 1.1 million
old rows, 20,100 children, on 2 shared cores; a city's ~130 million rows take an hour or more);
the rest of medcard is not affected.

Downgrade converts back, in SQL as well: a period's end is where its range in the multirange
ends, or where the next period starts (adjacent periods merge in a multirange); the old
``organization_id`` is the holder that is the child's ``managingOrganization``.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE EXTENSION IF NOT EXISTS intarray;
CREATE TABLE vaccination_due_holder (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    holder text NOT NULL UNIQUE
);
COMMENT ON TABLE vaccination_due_holder IS 'The holders of vaccination_due rows (Organization/id, PractitionerRole/id, '
    'Practitioner/id) by number: derived, never edit by hand';
INSERT INTO vaccination_due_holder (holder) SELECT DISTINCT holder FROM vaccination_due ORDER BY holder;

CREATE TABLE vaccination_due_by_disease (
    patient_id text NOT NULL,
    disease text NOT NULL,
    holders integer[] NOT NULL,
    overdue_during datemultirange NOT NULL,
    periods date[] NOT NULL,
    dose_numbers smallint[] NOT NULL
);
INSERT INTO vaccination_due_by_disease (patient_id, disease, holders, overdue_during, periods, dose_numbers)
SELECT d.patient_id, d.disease, h.holders, d.overdue_during, d.periods, d.dose_numbers
  FROM (SELECT patient_id, disease, range_agg(overdue_during) AS overdue_during,
               array_agg(ARRAY[lower(overdue_during), earliest, due, overdue] ORDER BY lower(overdue_during))
                   AS periods,
               array_agg(dose_number::smallint ORDER BY lower(overdue_during)) AS dose_numbers
          FROM (SELECT DISTINCT patient_id, disease, dose_number, earliest, due, overdue, overdue_during
                  FROM vaccination_due) AS period
         GROUP BY patient_id, disease) AS d
  JOIN (SELECT v.patient_id, array_agg(DISTINCT x.id ORDER BY x.id) AS holders
          FROM vaccination_due v JOIN vaccination_due_holder x ON x.holder = v.holder
         GROUP BY v.patient_id) AS h ON h.patient_id = d.patient_id;

DROP TABLE vaccination_due;
ALTER TABLE vaccination_due_by_disease RENAME TO vaccination_due;
COMMENT ON TABLE vaccination_due IS 'Derived from Patient, Immunization and Flag resources: never edit by hand';
COMMENT ON COLUMN vaccination_due.holders IS 'Who the child is attached to (ids in vaccination_due_holder): the clinic '
    '(managingOrganization) and the district pediatrician (generalPractitioner)';
COMMENT ON COLUMN vaccination_due.overdue_during IS
    'The days on which the next dose of this disease is overdue if nothing more is recorded';
COMMENT ON COLUMN vaccination_due.periods IS
    'One {start, earliest, due, overdue} per period of overdue_during, by start (adjacent periods merge there)';
COMMENT ON COLUMN vaccination_due.dose_numbers IS 'The dose number of each period, in the order of periods';
CREATE INDEX vaccination_due_worklist_idx ON vaccination_due USING gist (holders gist__int_ops, overdue_during);
CREATE INDEX vaccination_due_patient_idx ON vaccination_due (patient_id);
"""

DOWNGRADE = """
CREATE TABLE vaccination_due_by_period (
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
INSERT INTO vaccination_due_by_period
SELECT v.patient_id, x.holder, org.id, v.disease, v.dose_numbers[i], v.periods[i][2], v.periods[i][3],
       v.periods[i][4],
       daterange(v.periods[i][1],
                 least(v.periods[i + 1][1],
                       (SELECT upper(r) FROM unnest(v.overdue_during) AS r WHERE r @> v.periods[i][1])))
  FROM vaccination_due v
 CROSS JOIN LATERAL generate_subscripts(v.periods, 1) AS i
 CROSS JOIN LATERAL unnest(v.holders) AS held(id)
  JOIN vaccination_due_holder x ON x.id = held.id
  LEFT JOIN LATERAL (
       SELECT substr(o.holder, length('Organization/') + 1) AS id
         FROM unnest(v.holders) AS held_org(id) JOIN vaccination_due_holder o ON o.id = held_org.id
        WHERE o.holder LIKE 'Organization/%'
        ORDER BY (SELECT r.content::jsonb #>> '{managingOrganization,reference}' FROM resource r
                   WHERE r.resource_type = 'Patient' AND r.id = v.patient_id)
                 = o.holder IS NOT TRUE, o.holder
        LIMIT 1) AS org ON true;

DROP TABLE vaccination_due;
DROP TABLE vaccination_due_holder;
ALTER TABLE vaccination_due_by_period RENAME TO vaccination_due;
ALTER TABLE vaccination_due
    ADD COLUMN holder_key bigint NOT NULL GENERATED ALWAYS AS (hashtextextended(holder, 0)) STORED;
COMMENT ON TABLE vaccination_due IS 'Derived from Patient, Immunization and Flag resources: never edit by hand';
COMMENT ON COLUMN vaccination_due.holder IS 'Who the child is attached to: Organization/id (managingOrganization), '
    'PractitionerRole/id or Practitioner/id (generalPractitioner); one row per holder';
COMMENT ON COLUMN vaccination_due.overdue_during IS
    'The days on which this dose is overdue if nothing more is recorded';
COMMENT ON COLUMN vaccination_due.holder_key IS 'hashtextextended(holder, 0): the worklist index key';
CREATE INDEX vaccination_due_worklist_idx ON vaccination_due USING gist (holder_key, overdue_during);
CREATE INDEX vaccination_due_patient_idx ON vaccination_due (patient_id);
DROP EXTENSION IF EXISTS intarray;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
