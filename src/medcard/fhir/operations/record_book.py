"""``Patient/{id}/$record-book``: the record book, the whole record of a child in one PDF (``documents.book``).

Decided by the access policy as downloading the whole record ("export" of that patient), like
``$everything`` and ``$record-archive``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from medcard.documents.binaries import PDF
from medcard.documents.pdfs import render_record_book
from medcard.fhir import store
from medcard.fhir.operations.base import Operation, OperationCall, Result


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def run(call: OperationCall) -> Result:
    assert call.resource_id is not None
    assert call.gate is not None
    pid = call.resource_id
    async with call.db.transaction() as conn:
        await store.read(conn, "Patient", pid)  # 410 for a deleted record
        call.gate.rebind(conn)
        data = await render_record_book(conn, call.gate, call.settings, pid)
    return Result(stream=_once(data), headers={"Content-Type": PDF, "Content-Length": str(len(data)),
                                                "Content-Disposition": f'attachment; filename="medcard-{pid}.pdf"'})


OPERATION = Operation(
    name="record-book",
    definition="urn:medcard:operation:record-book",
    resource_types=("Patient",),
    instance=True,
    type_level=False,
    system=False,
    access="export",
    methods=("GET",),
    handler=run,
    documentation="The record book: the whole record of the child in one PDF.",
)
