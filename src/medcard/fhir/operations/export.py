"""``$export`` (FHIR Bulk Data Access): kick-off at system, Patient and Group level.

The export itself runs as a background job (``fhir/bulk/jobs.py``); the kick-off answers 202
with the status URL in ``Content-Location``; ``fhir/api/bulk.py`` serves status and files.
"""

from __future__ import annotations

from medcard.core import jobs
from medcard.core.errors import BadRequest
from medcard.fhir import store
from medcard.fhir.bulk.export import parse_request
from medcard.fhir.bulk.jobs import EXPORT
from medcard.fhir.operations.base import Operation, OperationCall, Result

DEFINITION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/{}-export"


def require_async(call: OperationCall, name: str) -> None:
    if "respond-async" not in call.headers.get("prefer", ""):
        raise BadRequest(f"{name} runs in the background: send the header Prefer: respond-async")


async def export(call: OperationCall) -> Result:
    require_async(call, "$export")
    level = "group" if call.resource_type == "Group" else "patient" if call.resource_type == "Patient" else "system"
    request = parse_request(level, call.resource_id, call.params)
    if level == "group":
        assert call.resource_id is not None
        async with call.db.connection() as conn:
            await store.read(conn, "Group", call.resource_id)  # 404 / 410 now, not in the job
    job_id = await jobs.enqueue(call.db, EXPORT, {"export": request.to_json(), "requestUrl": call.url})
    return Result(status=202, headers={"Content-Location": f"{call.base}/$export-poll-status/{job_id}"})


_COMMON = {"name": "export", "handler": export, "methods": ("GET",),
           "documentation": "Bulk export to NDJSON: _type, _since, _typeFilter, _outputFormat; Prefer: respond-async."}
OPERATIONS = (
    Operation(definition=DEFINITION.format("export"), resource_types=(), instance=False, type_level=False,
              system=True, **_COMMON),  # type: ignore[arg-type]
    Operation(definition=DEFINITION.format("patient"), resource_types=("Patient",), instance=False,
              type_level=True, system=False, **_COMMON),  # type: ignore[arg-type]
    Operation(definition=DEFINITION.format("group"), resource_types=("Group",), instance=True, type_level=False,
              system=False, **_COMMON),  # type: ignore[arg-type]
)
