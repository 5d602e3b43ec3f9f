"""HTTP details of the FHIR API: URLs that can be read, content negotiation, bodies, Prefer, responses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medcard.access.authn import BREAK_GLASS_HEADER
from medcard.access.signin import MAX_FORM_BYTES
from medcard.config import Settings
from medcard.core import jsonutil
from medcard.core.errors import BadRequest, MedcardError, NotAcceptable, PayloadTooLarge, UnsupportedMediaType
from medcard.core.time import http_date
from medcard.fhir.interactions import Outcome
from medcard.fhir.search import limits
from medcard.fhir.validation import string_problem

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
CONTENT_TYPE = f"{FHIR_JSON}; charset=utf-8"
_JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir", "json", "text/json"}
_XML_TYPES = {"application/fhir+xml", "application/xml", "application/xml+fhir", "xml", "text/xml"}


# Headers whose values medcard reads percent-decoded (a reason in Russian, a query).
PERCENT_ENCODED_HEADERS = (BREAK_GLASS_HEADER.lower().encode(), b"if-none-exist")


class InputGuard:
    """ASGI middleware: refuse (400) a URL, header or form no handler could read as text, and apply
    the search limits of the settings to the request.

    Percent-encoding can put anything in a path, a query, a form (``_search``, the sign-in pages, the
    token endpoint) or the headers medcard percent-decodes: a U+0000, which PostgreSQL's text cannot
    hold (so any handler passing it to a query failed with 500), other control characters, or bytes
    that are not UTF-8 (which Starlette would silently turn into U+FFFD). They are refused here, for
    every route, before a handler sees them. A form is read whole for that (413 beyond the body limit,
    or beyond the sign-in forms' 64 KB outside the FHIR API) and handed on as it came.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limits = limits.SearchLimits(settings.max_search_criteria, settings.max_search_or_values)
        self.max_body = settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = url_problem(scope)
        if problem is None and _is_form(scope):
            # Only the FHIR API takes large forms (POST _search); the sign-in and token forms are small,
            # and are read before anyone is authenticated: a large one is not buffered for them.
            limit = self.max_body if scope["path"].startswith("/fhir/") else MAX_FORM_BYTES
            messages = await _read_form(receive, limit)
            if messages is None:
                await _refuse(PayloadTooLarge(f"the form is larger than the limit of {limit} bytes"),
                              scope, receive, send)
                return
            problem = _form_problem(b"".join(m.get("body", b"") for m in messages))
            receive = _replay(messages, receive)
        if problem is not None:
            await _refuse(BadRequest(problem), scope, receive, send)
            return
        token = limits.apply(self.limits)
        try:
            await self.app(scope, receive, send)
        finally:
            limits.reset(token)


async def _refuse(error: MedcardError, scope: Scope, receive: Receive, send: Send) -> None:
    response = Response(jsonutil.dumps(error.operation_outcome()), status_code=error.status, media_type=CONTENT_TYPE)
    await response(scope, receive, send)


def _is_form(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            return bytes(value).split(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"
    return False


async def _read_form(receive: Receive, limit: int) -> list[Message] | None:
    """The messages of a request's whole body, as received; None beyond ``limit`` bytes."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # the client went: the handler will see it so
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives the messages already read, then reads on."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _form_problem(body: bytes) -> str | None:
    if not _SUSPECT_URL.search(body):
        return None
    problem = _query_problem(body, "form field")
    return f"{problem} (in the form)" if problem is not None else None


# In raw (not yet percent-decoded) URL bytes: what can make text that is not readable.
_SUSPECT_URL = re.compile(rb"[^\x20-\x7e]|%(?:[01][0-9a-fA-F]|[89a-fA-F][0-9a-fA-F])")


def url_problem(scope: Scope) -> str | None:
    """What makes the request's path, query or percent-encoded headers unreadable, or None."""
    raw_path = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0]
    query = scope.get("query_string", b"")
    # Most URLs hold only printable ASCII and escapes of it: nothing to decode.
    if _SUSPECT_URL.search(raw_path):
        problem = _decoded_problem(raw_path, plus=False)
        if problem is not None:
            return f"the URL path {problem}"
    if _SUSPECT_URL.search(query):
        problem = _query_problem(query)
        if problem is not None:
            return problem
    for header, value in scope.get("headers") or ():
        if header in PERCENT_ENCODED_HEADERS:
            problem = _decoded_problem(value, plus=False)
            if problem is not None:
                return f"the header {header.decode()} {problem}"
    return None


def _query_problem(query: bytes, what: str = "query parameter") -> str | None:
    if _decoded_problem(query) is None:  # the whole query is readable text: so is every part of it
        return None
    for part in query.split(b"&"):
        raw_name, _, raw_value = part.partition(b"=")
        name_problem = _decoded_problem(raw_name)
        name = raw_name.decode("latin-1") if name_problem else _decoded(raw_name)
        if name_problem is not None:
            return f"the name of the {what} {name!r} {name_problem}"
        problem = _decoded_problem(raw_value)
        if problem is not None:
            return f"the value of the {what} '{name}' {problem}"
    return None


def _decoded(raw: bytes, *, plus: bool = True) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ") if plus else raw).decode("utf-8")


def _decoded_problem(raw: bytes, *, plus: bool = True) -> str | None:
    try:
        text = _decoded(raw, plus=plus)
    except UnicodeDecodeError as e:
        return f"is not UTF-8 once percent-decoded (byte {e.start} is not part of a UTF-8 character)"
    return string_problem(text)


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
