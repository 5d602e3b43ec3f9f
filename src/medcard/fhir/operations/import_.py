"""``$import``: bulk import as a background job (the engine of ``medcard import``).

Kick-off (``Prefer: respond-async``) takes either an NDJSON body (``application/fhir+ndjson``),
stored and then imported, or a Parameters resource naming ``input`` files by ``file://`` URL
inside the folder ``MEDCARD_IMPORT_DIR`` allows. It answers 202 with the status URL in
``Content-Location``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from medcard.core import jobs, jsonutil
from medcard.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from medcard.fhir.bulk.jobs import IMPORT, job_dir
from medcard.fhir.operations.base import Operation, OperationCall, Result
from medcard.fhir.operations.export import require_async

NDJSON_TYPES = ("application/fhir+ndjson", "application/ndjson", "application/x-ndjson")
JSON_TYPES = ("application/fhir+json", "application/json")


async def import_(call: OperationCall) -> Result:
    require_async(call, "$import")
    on_error = next((v for k, v in call.params if k == "onError"), "continue")
    if on_error not in ("stop", "continue"):
        raise BadRequest("onError is stop or continue")
    job_id = str(uuid.uuid4())
    if call.content_type in NDJSON_TYPES:
        files = [str(await _store_upload(call, job_id))]
    elif call.content_type in JSON_TYPES:
        files = _files_named(call, jsonutil.loads(await _read_all(call)))
    else:
        raise UnsupportedMediaType("$import takes application/fhir+ndjson, or a Parameters resource naming files")
    await jobs.enqueue(call.db, IMPORT, {"files": files, "onError": on_error, "requestUrl": call.url}, job_id)
    return Result(status=202, headers={"Content-Location": f"{call.base}/$import-poll-status/{job_id}"})


async def _store_upload(call: OperationCall, job_id: str) -> Path:
    """The NDJSON body, streamed to the job's folder (never held in memory)."""
    folder = job_dir(call.settings, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "upload.ndjson"
    limit = call.settings.import_max_bytes
    size = 0
    assert call.stream is not None
    with path.open("wb") as f:
        async for chunk in call.stream:
            size += len(chunk)
            if size > limit:
                f.close()
                path.unlink()
                raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
            f.write(chunk)
    if size == 0:
        raise BadRequest("the upload is empty")
    return path


async def _read_all(call: OperationCall) -> bytes:
    assert call.stream is not None
    chunks = []
    size = 0
    async for chunk in call.stream:
        size += len(chunk)
        if size > call.settings.max_body_bytes:
            raise PayloadTooLarge("the Parameters body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _files_named(call: OperationCall, body: Any) -> list[str]:
    """The ``input`` files of a Parameters body, each inside MEDCARD_IMPORT_DIR."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("the $import body must be NDJSON or a Parameters resource")
    root = call.settings.import_dir
    if root is None:
        raise BadRequest("this server takes no file inputs (MEDCARD_IMPORT_DIR is not set); upload NDJSON instead")
    root = root.resolve()
    files = []
    for param in body.get("parameter", []):
        if not isinstance(param, dict) or param.get("name") != "input":
            continue
        url = next((p.get("valueUrl") or p.get("valueUri") for p in param.get("part", [])
                    if isinstance(p, dict) and p.get("name") == "url"), None)
        if not isinstance(url, str) or not url.startswith("file://"):
            raise BadRequest("each input needs a url part with a file:// URL")
        path = Path(unquote(urlsplit(url).path)).resolve()
        if not path.is_relative_to(root) or not path.exists():
            raise BadRequest(f"{url} is not a file inside the import folder")
        files.append(str(path))
    if not files:
        raise BadRequest("the Parameters name no input")
    return files


OPERATION = Operation(
    name="import",
    definition="http://hl7.org/fhir/uv/bulkdata/OperationDefinition/import",
    resource_types=(),
    instance=False,
    type_level=False,
    system=True,
    methods=("POST",),
    handler=import_,
    documentation="Bulk import of NDJSON (uploaded, or files in MEDCARD_IMPORT_DIR); Prefer: respond-async.",
    raw_body=True,
)
