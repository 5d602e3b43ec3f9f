"""HTTP details of the FHIR API: content negotiation, bodies, Prefer, and building responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from medcard.config import Settings
from medcard.core import jsonutil
from medcard.core.errors import BadRequest, NotAcceptable, PayloadTooLarge, UnsupportedMediaType
from medcard.core.time import http_date
from medcard.fhir.interactions import Outcome

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
CONTENT_TYPE = f"{FHIR_JSON}; charset=utf-8"
_JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir", "json", "text/json"}
_XML_TYPES = {"application/fhir+xml", "application/xml", "application/xml+fhir", "xml", "text/xml"}


def _media_types(header: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]


def negotiate(request: Request) -> None:
    """Refuse (406) clients that accept only a format medcard does not produce (XML, Turtle)."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        kind = fmt.split(";")[0].strip().lower()
        if kind in _JSON_TYPES:
            return
        raise NotAcceptable(f"_format={fmt} is not supported; medcard speaks FHIR JSON ({FHIR_JSON})")
    accept = request.headers.get("accept")
    if not accept:
        return
    types = _media_types(accept)
    if any(t in _JSON_TYPES or t in ("*/*", "application/*") for t in types):
        return
    if any(t in _XML_TYPES or t.startswith("text/") or t.endswith("turtle") for t in types):
        raise NotAcceptable(f"Accept: {accept} cannot be satisfied; medcard speaks FHIR JSON ({FHIR_JSON})")


@dataclass(frozen=True)
class Prefer:
    """The parts of the Prefer header (RFC 7240) FHIR uses."""

    return_: str = "representation"  # minimal | representation | OperationOutcome
    handling: str = "lenient"  # strict | lenient
    respond_async: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        values: dict[str, str] = {}
        respond_async = False
        for part in (header or "").split(","):
            part = part.strip()
            if part == "respond-async":
                respond_async = True
            elif "=" in part:
                k, v = part.split("=", 1)
                values[k.strip().lower()] = v.strip().strip('"')
        ret = values.get("return", "representation")
        if ret not in ("minimal", "representation", "OperationOutcome"):
            ret = "representation"
        return cls(ret, values.get("handling", "lenient"), respond_async)


async def read_body(request: Request, settings: Settings, *, patch: bool = False) -> bytes:
    """The request body, refused with 413 beyond the size limit and 415 in a foreign format."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    allowed = _JSON_TYPES | ({JSON_PATCH} if patch else set())
    if content_type and content_type not in allowed:
        wanted = f"{JSON_PATCH} (JSON Patch)" if patch else FHIR_JSON
        raise UnsupportedMediaType(f"Content-Type {content_type} is not supported here; send {wanted}")
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {int(declared)} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def fhir_response(body: str | bytes | None, status: int = 200, headers: dict[str, str] | None = None,
                  *, pretty: bool = False) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    data = body.encode() if isinstance(body, str) else body
    if pretty:
        data = jsonutil.dumps(jsonutil.loads(data), indent=True)
    return Response(data, status_code=status, headers=headers, media_type=CONTENT_TYPE)


def wants_pretty(request: Request) -> bool:
    return request.query_params.get("_pretty") == "true"


def outcome_response(request: Request, outcome: Outcome, base: str, *, prefer: Prefer) -> Response:
    """The HTTP response to a read or write, honouring Prefer: return=..."""
    stored = outcome.stored
    headers: dict[str, str] = {}
    if stored is not None:
        headers["ETag"] = stored.etag
        headers["Last-Modified"] = http_date(stored.last_updated)
        if outcome.status == 201 or request.method in ("PUT", "PATCH"):
            headers["Location"] = f"{base}/{stored.location}"
    if outcome.status == 204 or request.method == "DELETE":
        if prefer.return_ == "OperationOutcome":
            return fhir_response(jsonutil.dumps(outcome.operation_outcome()), 200, headers)
        return Response(status_code=204, headers=headers)
    if request.method in ("POST", "PUT", "PATCH"):
        if prefer.return_ == "minimal":
            return Response(status_code=outcome.status, headers=headers)
        if prefer.return_ == "OperationOutcome":
            return fhir_response(jsonutil.dumps(outcome.operation_outcome()), outcome.status, headers)
    if request.method == "HEAD":
        return Response(status_code=outcome.status, headers=headers, media_type=CONTENT_TYPE)
    content = stored.content if stored is not None else None
    return fhir_response(content, outcome.status, headers, pretty=wants_pretty(request))


def streaming_response(chunks: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> Response:
    return StreamingResponse(chunks, media_type=CONTENT_TYPE, headers=headers)


def query_pairs(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


def require_query(request: Request, what: str) -> str:
    query = request.url.query
    if not query:
        raise BadRequest(f"{what} needs search criteria in the URL (e.g. ?identifier=system|value)")
    return query
