"""Kept record books: the last record book issued for each child and view, served again until it is stale.

``record_book``: one row per child (``patient_id``) and view (``view``: the SHA-256 of what the
requester's access shows of the record: the readable types, whether drug-addiction matters are left
out, and the requester's name when the book prints it as the doctor). ``inputs`` is the SHA-256 of
everything else the book's bytes depend on (the record's content as the view shows it, the day, the
issuer and its certificate, the template version; documents/book.py). ``code`` is the book's entry in
the registry of issued documents, ``blob`` the SHA-256 of its signed bytes in the blob store. A new
book for the same child and view replaces the row (and its superseded blob is deleted); ``day``
lets the books of past days, which can never be served again, be purged.

Revision ID: 0025
Revises: 0016
Create Date: 2026-12-07
"""

from alembic import op

revision = "0025"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE record_book (
    patient_id text COLLATE "C" NOT NULL,
    view text COLLATE "C" NOT NULL,
    inputs text COLLATE "C" NOT NULL,
    day date NOT NULL,
    code text COLLATE "C" NOT NULL REFERENCES document_issued (code),
    blob text COLLATE "C" NOT NULL,
    size bigint NOT NULL,
    kept_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, view)
);
CREATE INDEX record_book_day_idx ON record_book (day);
""")


def downgrade() -> None:
    op.execute("DROP TABLE record_book;")
