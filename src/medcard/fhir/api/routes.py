"""The FHIR REST API at ``/fhir/R4``: every route turns HTTP into an interaction and back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from medcard.access.gate import Gate
from medcard.core.errors import BadRequest, Forbidden, MethodNotAllowed, NotFound
from medcard.fhir import bundles, interactions, paging, store, transaction
from medcard.fhir.api import audit_log
from medcard.fhir.api.access import gated, require_system, write_failed
from medcard.fhir.api.http import (
    Prefer,
    fhir_response,
    negotiate,
    outcome_response,
    query_pairs,
    read_body,
    require_query,
    streaming_response,
    wants_pretty,
)
from medcard.fhir.capability import capability_statement
from medcard.fhir.interactions import Context, Outcome
from medcard.fhir.operations import Operation, OperationCall
from medcard.fhir.operations import find as find_operation
from medcard.fhir.operations import registry as operations
from medcard.fhir.search.engine import SearchRequest
from medcard.fhir.search.values import date_range
from medcard.state import database as _db
from medcard.state import settings as _settings

PREFIX = "/fhir/R4"
Endpoint = Callable[..., Awaitable[Response]]


class FhirRoutes:
    """The FHIR API's routes, as plain Starlette routes under ``prefix``.

    Every endpoint takes the request and its path parameters and returns a Response, so FastAPI's
    work per request for an included router (matching through it, solving dependencies) buys
    nothing here; it cost ~12 % of the app's CPU per read (median of 8 interleaved in-process pairs).
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.routes: list[Route] = []

    def api_route(self, path: str, methods: list[str]) -> Callable[[Endpoint], Endpoint]:
        def register(handler: Endpoint) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                request.scope["route"] = route  # as FastAPI does: the access log names the route, not the path
                return await handler(request, **request.path_params)

            route = Route(self.prefix + path, endpoint, methods=methods, name=handler.__name__)
            self.routes.append(route)
            return handler

        return register

    def get(self, path: str) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, ["GET"])

    def post(self, path: str) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, ["POST"])

    def put(self, path: str) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, ["PUT"])

    def patch(self, path: str) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, ["PATCH"])

    def delete(self, path: str) -> Callable[[Endpoint], Endpoint]:
        return self.api_route(path, ["DELETE"])


router = FhirRoutes(PREFIX)




def base_url(request: Request) -> str:
    """The FHIR base of this server as clients see it."""
    configured = _settings(request).base_url
    root = configured.rstrip("/") if configured else str(request.base_url).rstrip("/")
    return root + PREFIX


async def _json(request: Request, *, patch: bool = False) -> object:
    return interactions.parse_json_body(await read_body(request, _settings(request), patch=patch))


async def _write(request: Request, action: Callable[[Context], Awaitable[Outcome]]) -> Response:
    """Run a write in one transaction (flushing its batch) and answer per Prefer."""
    negotiate(request)
    base = base_url(request)
    async with gated(request, _db(request), write=True) as (conn, gate):
        ctx = Context(conn, base, gate)
        outcome = await action(ctx)
        await ctx.batch.flush()
    return outcome_response(request, outcome, base, prefer=Prefer.parse(request.headers.get("prefer")))


async def _read(request: Request, action: Callable[[Context], Awaitable[Outcome]]) -> Response:
    negotiate(request)
    base = base_url(request)
    async with gated(request, _db(request)) as (conn, gate):
        outcome = await action(Context(conn, base, gate))
    stored = outcome.stored
    if stored is not None and request.headers.get("if-none-match") in (stored.etag, f'"{stored.version_id}"'):
        return Response(status_code=304, headers={"ETag": stored.etag})
    return outcome_response(request, outcome, base, prefer=Prefer())


# the server ------------------------------------------------------------------


@router.get("/metadata")
async def metadata(request: Request) -> Response:
    negotiate(request)
    return fhir_response(capability_statement(base_url(request)), pretty=wants_pretty(request))


@router.post("")
@router.post("/")
async def batch_or_transaction(request: Request) -> Response:
    negotiate(request)
    body = await _json(request)
    base = base_url(request)
    async with gated(request, _db(request), write=True) as (conn, gate):
        text = await transaction.process(Context(conn, base, gate), body)
    return fhir_response(text, pretty=wants_pretty(request))


@router.get("/_history")
async def system_history(request: Request) -> Response:
    return await _history(request, None, None)


# types -----------------------------------------------------------------------


@router.api_route("/{rtype}", methods=["GET", "HEAD"])
async def search_type(request: Request, rtype: str) -> Response:
    if rtype.startswith("$"):
        return await _operation(request, None, None, rtype)
    interactions.check_type(rtype)
    if rtype == "AuditEvent":
        return await _audit_search(request, query_pairs(request))
    return await _search(request, rtype, query_pairs(request))


async def _audit_search(request: Request, pairs: list[tuple[str, str]]) -> Response:
    negotiate(request)
    settings = _settings(request)
    async with gated(request, _db(request)) as (conn, gate):
        text = await audit_log.search(conn, gate, base_url(request), pairs, settings.page_size,
                                      settings.max_page_size)
    return fhir_response(text, pretty=wants_pretty(request))


@router.post("/{rtype}/_search")
async def search_post(request: Request, rtype: str) -> Response:
    interactions.check_type(rtype)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadRequest("POST _search takes its parameters as application/x-www-form-urlencoded")
    body = (await read_body_form(request)).decode("utf-8", errors="replace")
    pairs = query_pairs(request) + parse_qsl(body, keep_blank_values=True)
    if rtype == "AuditEvent":
        return await _audit_search(request, pairs)
    return await _search(request, rtype, pairs)


async def read_body_form(request: Request) -> bytes:
    limit = _settings(request).max_body_bytes
    data = await request.body()
    if len(data) > limit:
        raise BadRequest("the search form is too large", code="too-costly")
    return data


async def _search(request: Request, rtype: str, pairs: list[tuple[str, str]],
                  compartment: tuple[str, str] | None = None) -> Response:
    negotiate(request)
    settings = _settings(request)
    prefer = Prefer.parse(request.headers.get("prefer"))
    types: tuple[str, ...] = ()
    if rtype == "*":
        wanted = [t.strip() for k, v in pairs if k == "_type" for t in v.split(",") if t.strip()]
        for t in wanted:
            interactions.check_type(t)
        types = tuple(wanted) or interactions.stored_types()
    req = SearchRequest(rtype, pairs, base_url(request), settings.page_size, settings.max_page_size,
                        strict=prefer.handling == "strict", compartment=compartment, types=types)
    async with gated(request, _db(request)) as (conn, gate):
        text = await interactions.search(Context(conn, req.base, gate), req, urlencode(pairs))
    return fhir_response(text, pretty=wants_pretty(request))


@router.post("/{rtype}")
async def create(request: Request, rtype: str) -> Response:
    if rtype.startswith("$"):
        return await _operation(request, None, None, rtype)
    interactions.check_type(rtype)
    body = await _json(request)
    # The condition comes in If-None-Exist (FHIR R4); some clients (fhirpy) put it in the URL instead.
    url_condition = urlencode([(k, v) for k, v in query_pairs(request) if k not in ("_format", "_pretty")])
    condition = request.headers.get("if-none-exist") or url_condition or None
    return await _write(request, lambda ctx: interactions.create(ctx, rtype, body, if_none_exist=condition))


@router.put("/{rtype}")
async def conditional_update(request: Request, rtype: str) -> Response:
    interactions.check_type(rtype)
    query = require_query(request, "a conditional update")
    body = await _json(request)
    if_match = interactions.parse_etag(request.headers.get("if-match"))
    return await _write(request, lambda ctx: interactions.conditional_update(ctx, rtype, query, body,
                                                                             if_match=if_match))


@router.delete("/{rtype}")
async def conditional_delete(request: Request, rtype: str) -> Response:
    interactions.check_type(rtype)
    query = require_query(request, "a conditional delete")
    return await _write(request, lambda ctx: interactions.conditional_delete(ctx, rtype, query))


@router.get("/{rtype}/_history")
async def type_history(request: Request, rtype: str) -> Response:
    interactions.check_type(rtype)
    return await _history(request, rtype, None)


# instances -------------------------------------------------------------------


@router.api_route("/{rtype}/{rid}", methods=["GET", "HEAD"])
async def read(request: Request, rtype: str, rid: str) -> Response:
    if rid.startswith("$"):
        return await _operation(request, rtype, None, rid)
    if rtype == "AuditEvent":
        negotiate(request)
        async with gated(request, _db(request)) as (conn, gate):
            text = await audit_log.read(conn, gate, rid)
        return fhir_response(text, pretty=wants_pretty(request))
    return await _read(request, lambda ctx: interactions.read(ctx, rtype, rid))


@router.put("/{rtype}/{rid}")
async def update(request: Request, rtype: str, rid: str) -> Response:
    interactions.check_type(rtype)
    body = await _json(request)
    if_match = interactions.parse_etag(request.headers.get("if-match"))
    return await _write(request, lambda ctx: interactions.update(ctx, rtype, rid, body, if_match=if_match))


@router.patch("/{rtype}/{rid}")
async def patch(request: Request, rtype: str, rid: str) -> Response:
    interactions.check_type(rtype)
    body = await _json(request, patch=True)
    if_match = interactions.parse_etag(request.headers.get("if-match"))
    return await _write(request, lambda ctx: interactions.patch(ctx, rtype, rid, body, if_match=if_match))


@router.delete("/{rtype}/{rid}")
async def delete(request: Request, rtype: str, rid: str) -> Response:
    return await _write(request, lambda ctx: interactions.delete(ctx, rtype, rid))


@router.get("/{rtype}/{rid}/_history")
async def instance_history(request: Request, rtype: str, rid: str) -> Response:
    interactions.check_type(rtype)
    return await _history(request, rtype, rid)


@router.api_route("/{rtype}/{rid}/_history/{vid}", methods=["GET", "HEAD"])
async def vread(request: Request, rtype: str, rid: str, vid: str) -> Response:
    return await _read(request, lambda ctx: interactions.vread(ctx, rtype, rid, vid))


@router.api_route("/{rtype}/{rid}/{tail}", methods=["GET", "POST"])
async def instance_operation_or_compartment(request: Request, rtype: str, rid: str, tail: str) -> Response:
    if tail.startswith("$"):
        return await _operation(request, rtype, rid, tail)
    if rtype == "Patient" and request.method == "GET":
        if tail != "*":
            interactions.check_type(tail)
        return await _search(request, tail, query_pairs(request), compartment=("Patient", rid))
    raise NotFound(f"{rtype}/{rid}/{tail} is not an operation or compartment this server knows")


# history ---------------------------------------------------------------------


def _history_cursor(token: str) -> tuple[datetime, str, str, int]:
    raw = paging.decode(token, 4)
    try:
        return datetime.fromisoformat(raw[0]), str(raw[1]), str(raw[2]), int(raw[3])
    except (ValueError, TypeError):
        raise BadRequest("the paging token is not one this server issued (was the link edited?)") from None


async def _history(request: Request, rtype: str | None, rid: str | None) -> Response:
    negotiate(request)
    settings = _settings(request)
    params = request.query_params
    since = None
    if "_since" in params:
        rng = date_range(params["_since"])
        if rng is None:
            raise BadRequest(f"_since must be an instant such as 2024-01-01T00:00:00Z, not {params['_since']!r}")
        since = rng[0]
    count_raw = params.get("_count", str(settings.page_size))
    if not count_raw.isdigit() or int(count_raw) < 1:
        raise BadRequest("_count must be a positive integer")
    count = min(int(count_raw), settings.max_page_size)
    before = _history_cursor(params["_cursor"]) if "_cursor" in params else None
    base = base_url(request)
    async with gated(request, _db(request)) as (conn, gate):
        if rid is not None:
            assert rtype is not None
            current = await store.read_current(conn, rtype, rid)
            if current is None:
                raise NotFound(f"{rtype}/{rid} is not known")
            await interactions.check_access(Context(conn, base, gate), current, "history")
        else:
            require_system(gate, f"{rtype or 'system'} history")
        page = await store.history(conn, rtype=rtype, rid=rid, since=since, before=before, count=count)
        if rid is None:
            gate.saw("history", rtype or "*", request.url.query or None, [s.patient_id for s in page.entries])
    path = "/".join(p for p in (rtype, rid) if p) + ("/_history" if rtype else "_history")
    keep = [(k, v) for k, v in query_pairs(request) if k not in ("_cursor", "_format", "_pretty")]
    links = [("self", f"{base}/{path}" + (f"?{urlencode(query_pairs(request))}" if request.url.query else ""))]
    if page.more and page.entries:
        last = page.entries[-1]
        token = paging.encode([last.last_updated.isoformat(), last.resource_type, last.id, last.version_id])
        links.append(("next", f"{base}/{path}?" + urlencode([*keep, ("_cursor", token)])))
    text = bundles.bundle("history", [bundles.history_entry(base, s) for s in page.entries], links=links)
    return fhir_response(text, pretty=wants_pretty(request))


# operations ------------------------------------------------------------------


async def _operation(request: Request, rtype: str | None, rid: str | None, name: str) -> Response:
    negotiate(request)
    op = find_operation(name.lstrip("$"), rtype, rid)
    if op is None:
        where = f"{rtype}/{rid}" if rid else rtype or "the server"
        known = any(o.name == name.lstrip("$") for o in operations())
        raise NotFound(f"operation {name} is not defined on {where}" if known else
                       f"operation {name} is not supported")
    if request.method not in op.methods:
        raise MethodNotAllowed(f"operation {name} does not accept {request.method}")
    async with gated(request, _db(request)) as (conn, gate):
        await _operation_access(conn, gate, op, rtype, rid)
    body = None
    if request.method == "POST" and not op.raw_body and request.headers.get("content-length"):
        body = await _json(request)
    call = OperationCall(
        _db(request), _settings(request), base_url(request), rtype, rid, query_pairs(request), body, gate,
        headers={k.lower(): v for k, v in request.headers.items()}, url=str(request.url),
        content_type=request.headers.get("content-type", "").split(";")[0].strip().lower(),
        stream=request.stream() if op.raw_body else None)
    try:
        result = await op.handler(call)
    except (Exception, asyncio.CancelledError) as error:
        if gate.entries:
            await write_failed(_db(request), gate, error)
        raise
    if gate.entries:  # what the handler showed (lists of patients)
        async with _db(request).transaction() as conn:
            await gate.flush(conn)
    if result.stream is not None:
        return streaming_response(result.stream, result.headers)
    return fhir_response(result.body, result.status, result.headers, pretty=wants_pretty(request))


async def _operation_access(conn: AsyncConnection, gate: Gate, op: Operation, rtype: str | None,
                            rid: str | None) -> None:
    """Operations on one patient's record ask the policy about that patient; the rest are for backend services."""
    entity = "/".join(p for p in (rtype, rid, f"${op.name}") if p)
    if op.access == "clinic" and rtype is not None and rid is not None:
        await _clinic_access(conn, gate, rtype, rid, entity)
        return
    if op.access in ("read", "export") and rtype == "Patient" and rid is not None:
        # A missing patient and one the policy hides get the same answer, to the byte: the read's.
        missing = f"Patient/{rid} is not known"
        if await store.read_current(conn, "Patient", rid) is None:
            raise NotFound(missing)
        await gate.check(rid, "Patient", op.access, entity=entity, subtype=op.access, missing=missing)
        for rtype_shown in op.shows:  # only a refusal is audited here
            try:
                await gate.check(rid, rtype_shown, op.access, entity=entity, subtype=op.access, record=False)
            except NotFound:  # the requester may see the Patient: say why, instead of "not known"
                raise Forbidden(f"{entity} shows {rtype_shown} resources, which your role or token does not "
                                "reach") from None
        return
    if op.access == "read" and rtype is not None and rid is not None:  # one resource of a record (a document)
        await _resource_access(conn, gate, rtype, rid, entity)
        return
    require_system(gate, entity)


async def _resource_access(conn: AsyncConnection, gate: Gate, rtype: str, rid: str, entity: str) -> None:
    """An operation on one resource is decided as a read of it; refused exactly as a missing one."""
    missing = f"{rtype}/{rid} is not known"
    current = await store.read_current(conn, rtype, rid)
    if current is None:
        raise NotFound(missing)
    await gate.check(current.patient_id, rtype, "read", entity=entity, subtype="read", content=current.content,
                     missing=missing)


CLINIC_LIST_ROLES = ("pediatrician", "nurse", "clinic-admin")


async def _clinic_access(conn: AsyncConnection, gate: Gate, rtype: str, rid: str, entity: str) -> None:
    """Lists of a clinic's children: the clinic's own pediatricians, nurses and administrators, or a district
    pediatrician for their own district."""
    r = gate.requester
    if r.kind == "system":
        return
    clinics = {role.organization_id for role in r.roles if role.role in CLINIC_LIST_ROLES}
    if rtype == "Organization":
        allowed = rid in clinics
    elif rtype == "Practitioner":
        allowed = rid == r.practitioner_id
    else:
        current = await store.read_current(conn, rtype, rid)
        role = current.resource() if current is not None and not current.deleted else {}
        org = (role.get("organization") or {}).get("reference", "")
        who = (role.get("practitioner") or {}).get("reference", "")
        allowed = org.removeprefix("Organization/") in clinics or (bool(r.practitioner_id) and
                                                                   who == f"Practitioner/{r.practitioner_id}")
    if not allowed:
        gate.refuse("operation", entity, "lists of a clinic's children are for its own staff")
        raise Forbidden(f"{entity} is for the staff of that clinic")
