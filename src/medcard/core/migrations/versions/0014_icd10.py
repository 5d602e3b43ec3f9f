"""ICD-10 (МКБ-10) with Russian titles: the table the diagnosis picker searches, with a starter list; and
the surname index of patient_lookup carries the given-name key (the workspace's search).

``icd10`` holds one list at a time, every row stamped with the list's version: the shipped list of
common pediatric diagnoses that this migration loads (``medcard/terminology/data/icd10_pediatric.csv``),
until an operator loads the official NSI 1005 reference with ``medcard terminology load icd10 FILE``,
which replaces it in one transaction. A stored Condition carries its code, title and version itself,
so replacing the list changes no record.

Rows: chapters (``I``..``XXII``), blocks (``A00-A09``), categories (``A00``) and subcategories
(``A00.0``) as the NSI file has them; ``parent`` is the code of the row above; ``leaf`` marks the codes
a doctor records (no row below them); ``actual`` is NSI's flag (retired codes stay, for old records).
``search_text`` (code, title, synonyms; lowercase, ё as е) carries a trigram GIN index for the picker.

The index of ``patient_lookup`` by surname also carries the given-name key (see the SQL), for the
workspace's search (``records/finder.py``); on the benchmark's two million patients its rebuild took under a minute.

The shipped list is read here with the csv module rather than through ``medcard.terminology``:
core does not import the domains, and a migration's data must not change under it later (an
updated list comes with a migration of its own).

Revision ID: 0014
Revises: 0023
Create Date: 2026-12-07
"""

import csv
from pathlib import Path

from alembic import op
from sqlalchemy import text

revision = "0014"
down_revision = "0023"
branch_labels = None
depends_on = None

SHIPPED = Path(__file__).resolve().parents[3] / "terminology" / "data" / "icd10_pediatric.csv"

UPGRADE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE icd10 (
    code text PRIMARY KEY,
    title_ru text NOT NULL,
    parent text,
    version text NOT NULL,
    actual boolean NOT NULL DEFAULT true,
    leaf boolean NOT NULL DEFAULT true,
    synonyms text,
    search_text text GENERATED ALWAYS AS (
        lower(translate(code || ' ' || title_ru || coalesce(' ' || synonyms, ''), 'Ёё', 'Ее'))) STORED
);
COMMENT ON TABLE icd10 IS 'ICD-10 with Russian titles (NSI 1005, or the shipped pediatric list): reference data, '
    'replaced whole by `medcard terminology load icd10`';
CREATE INDEX icd10_search_idx ON icd10 USING gin (search_text gin_trgm_ops);
CREATE INDEX icd10_code_prefix_idx ON icd10 (code text_pattern_ops) WHERE leaf AND actual;

-- The workspace's search narrows a surname by the given name's first letters ("Иванов П"): with the
-- given-name key in the index, that is read from the index alone, where it fetched every row of a
-- common surname from the table (110 ms for five surnames at two million patients).
DROP INDEX patient_lookup_family_idx;
CREATE INDEX patient_lookup_family_idx ON patient_lookup (family, birth_date, patient_id) INCLUDE (given);
"""
DOWNGRADE = """
DROP INDEX patient_lookup_family_idx;
CREATE INDEX patient_lookup_family_idx ON patient_lookup (family, birth_date, patient_id);
DROP TABLE icd10;
"""

# The codes with a row below them are not recorded themselves (J06 has J06.0, J06.8, J06.9).
MARK_LEAVES = "UPDATE icd10 t SET leaf = NOT EXISTS (SELECT 1 FROM icd10 c WHERE c.parent = t.code)"


def _parent(code: str) -> str | None:
    """The code above: J06 for J06.9, S42.0 for S42.00, none for a category."""
    return code[:-1] if len(code) == 6 else code[:3] if "." in code else None


def _shipped() -> tuple[str, list[dict[str, str | None]]]:
    """The shipped list's version and rows (code, title, parent, synonyms)."""
    version, rows = "", []
    with SHIPPED.open(encoding="utf-8", newline="") as f:
        lines = []
        for line in f:
            if line.startswith("# version:"):
                version = line.split(":", 1)[1].strip()
            elif not line.startswith("#"):
                lines.append(line)
    for row in csv.DictReader(lines, delimiter=";"):
        code = row["code"]
        rows.append({"code": code, "title": row["title_ru"], "synonyms": row["synonyms"] or None,
                     "parent": _parent(code)})
    return version, rows


def upgrade() -> None:
    op.execute(UPGRADE)
    version, rows = _shipped()
    op.get_bind().execute(
        text("INSERT INTO icd10 (code, title_ru, parent, version, synonyms) "
             "VALUES (:code, :title, :parent, :version, :synonyms)"),
        [row | {"version": version} for row in rows])
    op.execute(MARK_LEAVES)


def downgrade() -> None:
    op.execute(DOWNGRADE)
