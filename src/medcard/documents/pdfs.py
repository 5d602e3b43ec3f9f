"""The PDF of a document: kept once it exists, rendered on first request for text and HTML documents.

Documents written before PDFs existed (the synthetic city's visit protocols and certificates, HTML
or text attachments) get a PDF the first time anyone allowed to read them asks for one: it is
rendered from the structured record (``documents.render``), stored in the blob store, and attached to
the DocumentReference as a Binary, so every later request is served from the store.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.config import Settings
from medcard.core.errors import Gone, NotFound, Unprocessable
from medcard.documents.binaries import attach_pdf, lock_document, pdf_binary_id
from medcard.documents.blobs import blob_store
from medcard.documents.book import record_book
from medcard.documents.render import render


async def ensure_pdf(conn: AsyncConnection, gate: Gate, settings: Settings, docref_id: str) -> str | None:
    """The Binary id of the document's PDF, rendering and keeping it on first request; None when no
    renderer can make one (the caller offers the document as it was written).

    Run in the caller's transaction, which it commits; two first requests render once (the lock). The
    rendering reads the record through ``gate`` (and audits that); it signs the PDF and registers its
    verification code in the same transaction.
    """
    docref = await lock_document(conn, docref_id)
    if docref is None:
        raise NotFound(f"DocumentReference/{docref_id} is not known")
    if docref.deleted:
        raise Gone(f"DocumentReference/{docref_id} was deleted")
    kept = pdf_binary_id(docref.resource())
    if kept is not None:
        return kept
    try:
        rendered = await render(conn, gate, docref_id, settings=settings)
    except Unprocessable:  # a kind medcard has no printed form for: the document stays as written
        return None
    return await attach_pdf(conn, blob_store(settings), docref, rendered.data)


async def render_record_book(conn: AsyncConnection, gate: Gate, settings: Settings, patient_id: str) -> bytes:
    """The record book of a child (``documents.book``): the whole record in one signed PDF."""
    return await record_book(conn, gate, patient_id, settings=settings)
