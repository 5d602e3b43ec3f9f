"""Helpers of the document tests: a child with a document, and a PDF kept for it as medcard keeps one."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import psycopg

from helpers import created_id, post, run_db
from medcard.config import Settings
from medcard.core.db import Database
from medcard.core.jobs import Worker
from medcard.documents.binaries import attach_pdf, lock_document
from medcard.documents.blobs import blob_store
from medcard.fhir.bulk.jobs import handlers

# A small but well-formed PDF (one empty page); the bytes are what matters here, not the rendering.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def html_document(child: str, title: str = "Справка для бассейна", when: str = "2025-03-14T10:00:00+03:00"
                  ) -> dict[str, Any]:
    """A DocumentReference as the synthetic city writes certificates: HTML inline."""
    html = f"<p>{title}: противопоказаний не выявлено.</p>".encode()
    return {"resourceType": "DocumentReference", "status": "current", "description": title, "date": when,
            "subject": {"reference": f"Patient/{child}"},
            "content": [{"attachment": {"contentType": "text/html; charset=utf-8", "language": "ru",
                                        "data": base64.b64encode(html).decode(), "title": title}}]}


def document(http: httpx.Client, child: str, **kwargs: Any) -> str:
    return created_id(post(http, "/DocumentReference", html_document(child, **kwargs)))


def keep_pdf(url: str, settings: Settings, docref_id: str, data: bytes = PDF) -> str:
    """Attach a PDF to the document as the first rendering does; the Binary's id."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        docref = await lock_document(conn, docref_id)
        assert docref is not None
        return await attach_pdf(conn, blob_store(settings), docref, data)

    return run_db(url, work)


def work(database_url: str, settings: Settings, jobs: int = 1) -> int:
    """Run queued jobs in this process, as `medcard worker` would; how many ran."""
    async def go() -> int:
        db = Database(database_url, min_size=1, max_size=2)
        await db.open()
        try:
            worker = Worker(db, handlers(settings))
            ran = 0
            while ran < jobs and await worker.run_one():
                ran += 1
            return ran
        finally:
            await db.close()

    return asyncio.run(go())
