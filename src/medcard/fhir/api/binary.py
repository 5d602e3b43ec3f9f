"""``GET /fhir/R4/Binary/{id}``: a file as its own bytes or as a FHIR Binary resource.

FHIR's rule for Binary: a client that asks for the file's own type (``Accept: application/pdf``) gets
the bytes; one that asks for FHIR (or nothing in particular) gets the Binary resource with ``data``
in base64. The bytes come from the blob store, checked against their hash before the first byte is
sent; the resource is streamed (its base64 is made chunk by chunk), so neither answer holds the file
in memory beyond 16 MB. The read is decided by the access policy on the record the Binary's
``securityContext`` names and audited, as every read is (``interactions.read``).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from medcard.core.time import http_date
from medcard.documents.binaries import PDF, blob_of
from medcard.documents.blobs import blob_store, primed, read_verified
from medcard.fhir import interactions
from medcard.fhir.api.access import gated
from medcard.fhir.api.http import CONTENT_TYPE, FHIR_JSON, negotiate
from medcard.fhir.api.routes import PREFIX, FhirRoutes, base_url, read
from medcard.fhir.interactions import Context
from medcard.fhir.store import Stored
from medcard.state import database as _db
from medcard.state import settings as _settings

routes = FhirRoutes(PREFIX)
_FHIR_TYPES = {FHIR_JSON, "application/json", "application/json+fhir", "application/fhir+xml", "application/xml"}


def wants_bytes(request: Request, content_type: str) -> bool:
    """Whether the client asked for the file's own type rather than FHIR (the first one named wins)."""
    if "_format" in request.query_params or not content_type:
        return False
    major = content_type.split("/")[0] + "/*"
    for part in request.headers.get("accept", "").split(","):
        kind = part.split(";")[0].strip().lower()
        if kind in _FHIR_TYPES:
            return False
        if kind in (content_type.lower(), major):
            return True
    return False


@routes.api_route("/Binary/{rid}", methods=["GET", "HEAD"])
async def read_binary(request: Request, rid: str) -> Response:
    if rid.startswith("$"):  # an operation on the type: the generic routes take it
        return await read(request, "Binary", rid)
    async with gated(request, _db(request)) as (conn, gate):
        stored = (await interactions.read(Context(conn, base_url(request), gate), "Binary", rid)).stored
        assert stored is not None
        resource = stored.resource()
        content_type = str(resource.get("contentType") or "application/octet-stream")
        as_bytes = wants_bytes(request, content_type)
        if not as_bytes:
            negotiate(request)
        ref = blob_of(resource)
        chunks: AsyncIterator[bytes] | None = None
        if ref is not None and request.method == "GET":
            # Checked before the answer starts (and while the read's audit entry can still say it failed).
            chunks = await primed(read_verified(blob_store(_settings(request)), ref.key))
    headers = {"ETag": stored.etag, "Last-Modified": http_date(stored.last_updated)}
    if as_bytes:
        return file_response(request, stored, content_type, chunks, headers)
    if chunks is None or request.method == "HEAD":
        return Response(stored.content if request.method == "GET" else None, headers=headers, media_type=CONTENT_TYPE)
    return StreamingResponse(_with_data(stored, chunks), headers=headers, media_type=CONTENT_TYPE)


def file_response(request: Request, stored: Stored, content_type: str, chunks: AsyncIterator[bytes] | None,
                  headers: dict[str, str]) -> Response:
    """The file's own bytes, from the blob store (``chunks``) or from the resource's inline ``data``."""
    resource = stored.resource()
    ref = blob_of(resource)
    headers = {**headers, "Content-Disposition": disposition(stored.id, content_type),
               # a file is never run by the browser as a page of medcard's origin
               "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    if ref is not None:
        headers["Content-Length"] = str(ref.size)
        if chunks is None:  # HEAD
            return Response(headers=headers, media_type=content_type)
        return StreamingResponse(chunks, headers=headers, media_type=content_type)
    data = base64.b64decode(resource.get("data", ""))
    return Response(data if request.method == "GET" else None, headers=headers, media_type=content_type)


def disposition(rid: str, content_type: str) -> str:
    """PDFs open in the browser; other files are downloaded (they could be pages or scripts)."""
    if content_type == PDF:
        return f'inline; filename="{rid}.pdf"'
    return f'attachment; filename="{rid}"'


async def _with_data(stored: Stored, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The Binary resource as stored, with ``data`` added: base64 made 3 bytes at a time across chunks."""
    assert stored.content is not None
    yield (stored.content.rstrip()[:-1] + ',"data":"').encode()
    carry = b""
    async for piece in chunks:
        piece = carry + piece
        whole = len(piece) - len(piece) % 3
        carry = piece[whole:]
        yield base64.b64encode(piece[:whole])
    yield base64.b64encode(carry) + b'"}'
