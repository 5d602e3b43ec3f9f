"""The PDF of a document: kept once it exists, rendered on first request for text and HTML documents.

Documents written before PDFs existed (the synthetic city's visit protocols and certificates, HTML
or text attachments) get a PDF the first time anyone allowed to read them asks for one: it is
rendered from the structured record (``documents.render``), stored in the blob store, and attached to
the DocumentReference as a Binary, so every later request is served from the store.
"""

from __future__ import annotations

import importlib
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.config import Settings
from medcard.core.errors import Gone, NotFound
from medcard.documents.binaries import attach_pdf, lock_document, pdf_binary_id
from medcard.documents.blobs import blob_store


async def ensure_pdf(conn: AsyncConnection, gate: Gate, settings: Settings, docref_id: str) -> str | None:
    """The Binary id of the document's PDF, rendering and keeping it on first request; None when no
    renderer can make one (the caller offers the document as it was written).

    Run in the caller's transaction, which it commits; two first requests render once (the lock).
    """
    docref = await lock_document(conn, docref_id)
    if docref is None:
        raise NotFound(f"DocumentReference/{docref_id} is not known")
    if docref.deleted:
        raise Gone(f"DocumentReference/{docref_id} was deleted")
    kept = pdf_binary_id(docref.resource())
    if kept is not None:
        return kept
    data = await render_document(conn, gate, docref_id)
    if data is None:
        return None
    return await attach_pdf(conn, blob_store(settings), docref, data)


async def render_document(conn: AsyncConnection, gate: Gate, docref_id: str) -> bytes | None:
    """The document rendered as PDF by ``documents.render``; None where that renderer is not installed."""
    try:
        render: Any = importlib.import_module("medcard.documents.render")
    except ModuleNotFoundError:
        return None
    rendered = await render.render(conn, gate, docref_id)
    data: bytes = rendered if isinstance(rendered, bytes) else rendered.pdf
    return data


async def render_record_book(conn: AsyncConnection, gate: Gate, patient_id: str) -> bytes | None:
    """The record book of a child (``documents.book``); None where that renderer is not installed."""
    try:
        book: Any = importlib.import_module("medcard.documents.book")
    except ModuleNotFoundError:
        return None
    data = await book.record_book(conn, gate, patient_id)
    return data if isinstance(data, bytes) else None
