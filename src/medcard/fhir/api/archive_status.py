"""``$record-archive-status/{job}``: the status of a record archive built in the background, then the ZIP.

202 with ``X-Progress`` while the job runs; 200 with the ZIP (from the blob store, checked against its
hash before the first byte) once done; 500 with an OperationOutcome when it failed. Only the requester
who started the job sees it: to anyone else it does not exist (404). Handing the ZIP over is decided by
the policy once more (access may have ended since) and audited as the export of the record. DELETE
cancels it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from medcard.core import jobs, jsonutil
from medcard.core.errors import NotFound
from medcard.documents.archive_job import RECORD_ARCHIVE, same_requester
from medcard.documents.blobs import blob_store, primed, read_verified
from medcard.fhir.api.access import gated
from medcard.fhir.api.http import fhir_response
from medcard.fhir.api.routes import PREFIX, FhirRoutes
from medcard.fhir.operations.record_archive import zip_headers
from medcard.state import database as _db
from medcard.state import settings as _settings

routes = FhirRoutes(PREFIX)


async def _job(request: Request, job_id: str) -> jobs.Job:
    async with gated(request, _db(request)) as (_, gate):
        requester = gate.requester
    job = await jobs.get(_db(request), job_id)
    if (job is None or job.kind != RECORD_ARCHIVE or job.status == "cancelled"
            or not same_requester(job.request.get("requester", {}), requester)):
        raise NotFound(f"there is no record archive job {job_id}")
    return job


@routes.get("/$record-archive-status/{job_id}")
async def archive_status(request: Request, job_id: str) -> Response:
    job = await _job(request, job_id)
    if job.status in ("queued", "running"):
        progress = f"{job.progress.get('bytes', 0)} bytes written" if job.status == "running" else "queued"
        return Response(status_code=202, headers={"X-Progress": progress, "Retry-After": "2"})
    if job.status == "failed":
        outcome = {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "exception", "diagnostics": job.error or "the job failed"}]}
        return fhir_response(jsonutil.dumps(outcome), 500)
    assert job.result is not None
    pid = job.request["patient"]
    async with gated(request, _db(request)) as (_, gate):  # decided again, and audited, as it is handed over
        await gate.check(pid, "Patient", "export", entity=f"Patient/{pid}/$record-archive", subtype="export",
                         missing=f"there is no record archive job {job_id}")
        chunks = await primed(read_verified(blob_store(_settings(request)), job.result["key"]))
    headers = {**zip_headers(job.request["patient"]), "Content-Length": str(job.result["size"])}
    return StreamingResponse(chunks, headers=headers)


@routes.delete("/$record-archive-status/{job_id}")
async def cancel_archive(request: Request, job_id: str) -> Response:
    job = await _job(request, job_id)
    await jobs.cancel(_db(request), job.id)
    await jobs.delete(_db(request), job.id)
    return Response(status_code=202)
