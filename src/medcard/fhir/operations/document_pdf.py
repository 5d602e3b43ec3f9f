"""``DocumentReference/{id}/$pdf``: the PDF of a document, rendered and kept on first request.

For a document that has a PDF (``content.attachment.url`` = ``Binary/{id}``) this is the same file
``Binary/{id}`` gives; for a text or HTML document written before PDFs existed, the first request
renders it (``documents/pdfs.py``), keeps it in the blob store and attaches it, so the next one is
served from the store. ``Content-Location`` names the Binary. Decided by the access policy as a read
of the document.
"""

from __future__ import annotations

from medcard.core.errors import Unprocessable
from medcard.documents.binaries import PDF, blob_of
from medcard.documents.blobs import blob_store, primed, read_verified
from medcard.documents.pdfs import ensure_pdf
from medcard.fhir import store
from medcard.fhir.operations.base import Operation, OperationCall, Result


async def run(call: OperationCall) -> Result:
    assert call.resource_id is not None
    assert call.gate is not None
    rid = call.resource_id
    async with call.db.transaction() as conn:
        call.gate.rebind(conn)
        binary_id = await ensure_pdf(conn, call.gate, call.settings, rid)
        binary = await store.read_current(conn, "Binary", binary_id) if binary_id else None
    ref = blob_of(binary.resource()) if binary is not None and binary.content else None
    if binary_id is None or ref is None:
        raise Unprocessable(f"no PDF can be made of DocumentReference/{rid} on this server; its content is "
                            "in the DocumentReference itself")
    chunks = await primed(read_verified(blob_store(call.settings), ref.key))
    return Result(stream=chunks, headers={
        "Content-Type": PDF, "Content-Length": str(ref.size), "Content-Location": f"{call.base}/Binary/{binary_id}",
        "Content-Disposition": f'inline; filename="{rid}.pdf"'})


OPERATION = Operation(
    name="pdf",
    definition="urn:medcard:operation:pdf",
    resource_types=("DocumentReference",),
    instance=True,
    type_level=False,
    system=False,
    access="read",
    methods=("GET",),
    handler=run,
    documentation="The document as PDF (rendered and kept in the blob store on first request).",
)
