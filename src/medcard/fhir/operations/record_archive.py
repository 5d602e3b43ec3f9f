"""``Patient/{id}/$record-archive``: the whole record of a child in one ZIP (``documents/archive.py``).

Streamed as it is built: the first bytes leave at once and memory stays flat whatever the record's
size. With ``Prefer: respond-async`` it runs as a background job instead (202 and a status URL in
``Content-Location``, as ``$export`` does), and the finished ZIP is fetched from the blob store.
Decided by the access policy as downloading the whole record ("export" of that patient).
"""

from __future__ import annotations

from medcard.core import jobs
from medcard.core.time import utcnow
from medcard.documents.archive import Archive, record_archive
from medcard.documents.archive_job import RECORD_ARCHIVE, requester_json
from medcard.fhir import store
from medcard.fhir.operations.base import Operation, OperationCall, Result

ZIP = "application/zip"


def zip_headers(pid: str) -> dict[str, str]:
    return {"Content-Type": ZIP, "Content-Disposition": f'attachment; filename="medcard-{pid}.zip"'}


async def run(call: OperationCall) -> Result:
    assert call.resource_id is not None
    assert call.gate is not None
    pid = call.resource_id
    async with call.db.connection() as conn:
        await store.read(conn, "Patient", pid)  # 410 for a deleted record, before anything is streamed
    if "respond-async" in call.headers.get("prefer", ""):
        job_id = await jobs.enqueue(call.db, RECORD_ARCHIVE, {
            "patient": pid, "base": call.base, "requester": requester_json(call.gate.requester)})
        return Result(status=202, headers={"Content-Location": f"{call.base}/$record-archive-status/{job_id}"})
    archive = Archive(call.db, call.settings, call.base, call.gate, pid, utcnow())
    return Result(stream=record_archive(archive), headers=zip_headers(pid))


OPERATION = Operation(
    name="record-archive",
    definition="urn:medcard:operation:record-archive",
    resource_types=("Patient",),
    instance=True,
    type_level=False,
    system=False,
    access="export",
    methods=("GET",),
    handler=run,
    documentation="The whole record in one ZIP: the record book, every document's PDF by year, the record as a "
                  "FHIR Bundle ($everything) and as an International Patient Summary, a README in Russian; "
                  "Prefer: respond-async runs it in the background.",
)
