"""Status and files of bulk jobs: ``$export-poll-status``, ``$import-poll-status``, ``$bulk-file``.

Status follows the FHIR Bulk Data Access specification: 202 with ``X-Progress`` while the job
runs, 200 with the manifest (export) or an OperationOutcome summary (import) when it is done,
500 with an OperationOutcome when it failed; DELETE cancels and removes the files.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from medcard.config import Settings
from medcard.core import jobs, jsonutil
from medcard.core.errors import NotFound
from medcard.fhir.api.access import gated, require_system
from medcard.fhir.api.http import fhir_response
from medcard.fhir.api.routes import PREFIX, base_url
from medcard.fhir.bulk.export import OutputFile, manifest
from medcard.fhir.bulk.jobs import EXPORT, IMPORT, job_dir
from medcard.state import database as _db

router = APIRouter(prefix=PREFIX, include_in_schema=False)
FILE_NAME = re.compile(r"[A-Za-z]+(\.\d+)?\.ndjson")



def _dir(request: Request, job_id: str) -> Path:
    settings: Settings = request.app.state.settings
    return job_dir(settings, job_id)


async def _job(request: Request, job_id: str, kind: str) -> jobs.Job:
    async with gated(request, _db(request)) as (_, gate):
        require_system(gate, f"{kind} job")
    job = await jobs.get(_db(request), job_id)
    if job is None or job.kind != kind or job.status == "cancelled":
        raise NotFound(f"there is no {kind} job {job_id}")
    return job


def _progress(job: jobs.Job) -> str:
    p = job.progress
    if job.status == "queued":
        return "queued"
    if job.kind == EXPORT:
        return f"exported {p.get('exported', 0)} resources"
    return f"read {p.get('read', 0)}, written {p.get('written', 0)}, failed {p.get('failed', 0)}"


def _failed(job: jobs.Job) -> Response:
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "exception", "diagnostics": job.error or "the job failed"}]}
    return fhir_response(jsonutil.dumps(outcome), 500)


@router.get("/$export-poll-status/{job_id}")
async def export_status(request: Request, job_id: str) -> Response:
    job = await _job(request, job_id, EXPORT)
    if job.status in ("queued", "running"):
        return Response(status_code=202, headers={"X-Progress": _progress(job), "Retry-After": "2"})
    if job.status == "failed":
        return _failed(job)
    assert job.result is not None
    base = base_url(request)
    files = [OutputFile(**f) for f in job.result["files"]]
    body = manifest(files, job.result["transactionTime"], job.request.get("requestUrl", ""),
                    lambda name: f"{base}/$bulk-file/{job_id}/{name}")
    return Response(jsonutil.dumps(body), media_type="application/json")


@router.get("/$import-poll-status/{job_id}")
async def import_status(request: Request, job_id: str) -> Response:
    job = await _job(request, job_id, IMPORT)
    if job.status in ("queued", "running"):
        return Response(status_code=202, headers={"X-Progress": _progress(job), "Retry-After": "2"})
    if job.status == "failed":
        return _failed(job)
    return fhir_response(jsonutil.dumps(import_outcome(job.result or {})))


def import_outcome(result: dict[str, Any]) -> dict[str, Any]:
    """An import's report as an OperationOutcome: the counts, then each problem."""
    summary = (f"read {result.get('read', 0)}: created {result.get('created', 0)}, updated {result.get('updated', 0)}, "
               f"unchanged {result.get('unchanged', 0)}, failed {result.get('failed', 0)}")
    issues = [{"severity": "information", "code": "informational", "diagnostics": summary}]
    issues += [{"severity": "error", "code": "processing", "diagnostics": p} for p in result.get("problems", [])[:100]]
    issues += [{"severity": "warning", "code": "informational", "diagnostics": s} for s in result.get("skipped", [])]
    issues += [{"severity": "warning", "code": "not-found", "diagnostics": f"reference to missing {d}"}
               for d in result.get("dangling", [])]
    return {"resourceType": "OperationOutcome", "issue": issues}


@router.delete("/$export-poll-status/{job_id}")
@router.delete("/$import-poll-status/{job_id}")
async def cancel(request: Request, job_id: str) -> Response:
    job = await jobs.get(_db(request), job_id)
    if job is None or job.status == "cancelled":
        raise NotFound(f"there is no job {job_id}")
    await jobs.cancel(_db(request), job_id)
    await jobs.delete(_db(request), job_id)
    shutil.rmtree(_dir(request, job_id), ignore_errors=True)
    return Response(status_code=202)


@router.get("/$bulk-file/{job_id}/{name}")
async def bulk_file(request: Request, job_id: str, name: str) -> Response:
    job = await _job(request, job_id, EXPORT)
    path = _dir(request, job.id) / name
    if job.status != "completed" or not FILE_NAME.fullmatch(name) or not path.is_file():
        raise NotFound(f"no file {name} in export {job_id}")
    return FileResponse(path, media_type="application/fhir+ndjson")
