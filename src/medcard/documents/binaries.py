"""Files as FHIR sees them: a ``Binary`` whose bytes live in the blob store, attached to a DocumentReference.

The Binary resource keeps what FHIR says about the file (``contentType``, ``securityContext``: the
DocumentReference it belongs to, so the access policy decides on that record) and, in
``meta.extension``, the blob's key and size: not the bytes (a PDF in the resource table would
be read with every version and copied into every backup of the JSON). Binaries written by clients
with inline ``data`` stay as they are; both kinds are served alike (see ``fhir/api/binary.py``).

The DocumentReference gets one more ``content`` entry: ``attachment.url`` = ``Binary/{id}``,
``contentType`` application/pdf, ``size`` and ``hash`` (SHA-1, base64, as FHIR's Attachment wants).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from medcard.core.time import fhir_instant, utcnow
from medcard.documents.blobs import BlobStore
from medcard.fhir import store
from medcard.fhir.store import Stored, WriteBatch

PDF = "application/pdf"
BLOB_KEY_URL = "urn:medcard:extension:blob-key"
BLOB_SIZE_URL = "urn:medcard:extension:blob-size"


@dataclass(frozen=True)
class BlobRef:
    """Where a Binary's bytes are: the blob's key (SHA-256) and size."""

    key: str
    size: int


def blob_of(binary: dict[str, Any]) -> BlobRef | None:
    """The blob behind a Binary, or None when its bytes are inline (``data``) or absent."""
    found = {e.get("url"): e for e in (binary.get("meta") or {}).get("extension", []) if isinstance(e, dict)}
    key, size = found.get(BLOB_KEY_URL), found.get(BLOB_SIZE_URL)
    if key is None or size is None:
        return None
    return BlobRef(str(key.get("valueString")), int(size.get("valueUnsignedInt", 0)))


def binary_resource(ref: BlobRef, content_type: str, security_context: str) -> dict[str, Any]:
    return {"resourceType": "Binary",
            "meta": {"extension": [{"url": BLOB_KEY_URL, "valueString": ref.key},
                                   {"url": BLOB_SIZE_URL, "valueUnsignedInt": ref.size}]},
            "contentType": content_type, "securityContext": {"reference": security_context}}


def attachment(binary_id: str, data: bytes, title: str | None) -> dict[str, Any]:
    """A DocumentReference's ``content.attachment`` for a PDF kept as ``Binary/{binary_id}``."""
    out: dict[str, Any] = {"contentType": PDF, "url": f"Binary/{binary_id}", "size": len(data),
                           "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode(),
                           "creation": fhir_instant(utcnow())}
    if title:
        out["title"] = title
    return out


def pdf_binary_id(docref: dict[str, Any]) -> str | None:
    """The Binary id of the DocumentReference's PDF, when it has one kept here."""
    for content in docref.get("content", []):
        att = content.get("attachment") or {}
        url = str(att.get("url", ""))
        if att.get("contentType") == PDF and url.startswith("Binary/") and "/" not in url[7:]:
            return url[7:]
    return None


async def attach_pdf(conn: AsyncConnection, blobs: BlobStore, docref: Stored, data: bytes) -> str:
    """Keep a PDF of a DocumentReference: the blob, a Binary, and the DocumentReference's new content entry.

    Written by medcard itself (no write guard): this caches what an allowed, audited read asked for
    (a PDF of a document the requester may see), it changes no clinical fact, and the requester (a
    parent) may not write the record. The caller holds :func:`lock_document` and commits.
    """
    key = await asyncio.to_thread(blobs.put, data)
    resource = docref.resource()
    batch = WriteBatch(conn, guard=None)
    binary = await batch.create(binary_resource(BlobRef(key, len(data)), PDF, f"DocumentReference/{docref.id}"))
    resource.setdefault("content", []).append({"attachment": attachment(binary.id, data, resource.get("description"))})
    await batch.update("DocumentReference", docref.id, resource)
    await batch.flush()
    return binary.id


async def lock_document(conn: AsyncConnection, docref_id: str) -> Stored | None:
    """Serialize the first rendering of one document (two first requests render it once); its current
    version, read after the lock."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"pdf:DocumentReference/{docref_id}",))
    return await store.read_current(conn, "DocumentReference", docref_id)
