"""The pediatric rule data was corrected (issue 18): the vaccination worklist must be recomputed.

No table changes. The corrected rows of the vaccination calendar (Hib: no first dose from 13
months, a revaccination after a start at 6–12 months; pneumococcal intervals by age and late
starts; vaccinations on one calendar day are simultaneous) change the overdue periods of some
children from 20.12.2021 on, and ``vaccination_due`` still holds the periods computed with the old
rows. Like migration 0005, this migration does not compute the rows (that is the pediatrics
domain's code, which a migration of the schema's history must not run): on a database with
patients it says to run ``medcard db rebuild-derived``, which recomputes every child (measured:
2,000 children of the synthetic city in 29 s on 2 shared cores; docs/operations.md).

Until then the worklist answers from the old rows; nothing else is affected.

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-07
"""

import logging

from alembic import op
from sqlalchemy import text

revision = "0019"
down_revision = "0015"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    found = op.get_bind().execute(text(
        "SELECT 1 FROM resource WHERE resource_type = 'Patient' AND NOT deleted LIMIT 1")).first()
    if found is not None:
        log.warning("the vaccination rule data changed (issue 18): run `medcard db rebuild-derived` after the "
                    "upgrade to recompute the vaccination worklist")


def downgrade() -> None:
    """Nothing to undo in the schema; a downgraded medcard recomputes with its own rows on `rebuild-derived`."""
