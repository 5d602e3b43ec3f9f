"""The FHIR RESTful interactions, independent of HTTP.

The REST routes and the batch/transaction processor both call these functions, so a create
in a Bundle behaves exactly like a POST. Each returns an :class:`Outcome` that the caller turns
into an HTTP response or a Bundle entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

import jsonpatch
from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.core.errors import BadRequest, Gone, Issue, NotFound, PreconditionFailed, Unprocessable
from medcard.fhir import store
from medcard.fhir.search import engine
from medcard.fhir.search.engine import SearchRequest
from medcard.fhir.spec import r4
from medcard.fhir.store import Stored, WriteBatch
from medcard.fhir.validation import Validated

_ETAG = re.compile(r'^(?:W/)?"?([0-9]+)"?$')


@dataclass
class Context:
    """What an interaction needs: the transaction's connection, its write batch, the base URL."""

    conn: AsyncConnection
    base: str  # e.g. http://host:8000/fhir/R4
    gate: Gate  # the access policy and the audit log of this request
    batch: WriteBatch = field(init=False)

    def __post_init__(self) -> None:
        self.batch = WriteBatch(self.conn, guard=self.gate.guard_write, visibility=self.gate.reach)


@dataclass
class Outcome:
    """The result of an interaction: HTTP status, the resource version concerned, extra body."""

    status: int
    stored: Stored | None = None
    message: str | None = None  # for an informational OperationOutcome

    def operation_outcome(self) -> dict[str, Any]:
        text = self.message or {200: "ok", 201: "created", 204: "deleted"}.get(self.status, "done")
        return {"resourceType": "OperationOutcome",
                "issue": [{"severity": "information", "code": "informational", "diagnostics": text}]}


# Types that are messages about records, never stored as records of their own.
NOT_STORED = frozenset({"Parameters", "OperationOutcome"})


def stored_types() -> tuple[str, ...]:
    """Resource types the store keeps."""
    return tuple(t for t in r4().resource_types if t not in NOT_STORED)


def check_type(rtype: str) -> None:
    if rtype not in r4().resource_type_names or rtype in NOT_STORED:
        raise NotFound(f"'{rtype}' is not a resource type this server stores")


def parse_etag(value: str | None) -> int | None:
    """The version number in an If-Match header (``W/"3"``), or None when absent."""
    if value is None or value.strip() == "":
        return None
    match = _ETAG.match(value.strip())
    if match is None:
        raise BadRequest(f"If-Match must be a version ETag such as W/\"3\", not {value!r}")
    return int(match.group(1))


def strip_condition(rtype: str, condition: str) -> str:
    """The query of a condition given as ``Type?query``, ``?query`` or ``query``."""
    condition = condition.strip()
    if condition.startswith(rtype + "?"):
        return condition[len(rtype) + 1:]
    return condition.lstrip("?")


async def matches(ctx: Context, rtype: str, condition: str, action: str) -> list[str]:
    """Ids of the resources a conditional write's criteria match, among those the requester may see.

    Matching only within what the requester may see is what keeps a conditional write from being
    a search that ignores the policy: its status and text then depend on nothing else. Up to two
    ids are returned (enough to tell one from several). A probe that matched nothing or several
    resources is audited here; a single match is audited as the write (or read) that follows.
    """
    await ctx.gate.prepare_search()
    ctx.gate.require_match(action, rtype, condition)
    found = await store.find_matches(ctx.conn, rtype, condition, visible=ctx.gate.visible)  # parses: 400 first
    target = _searched_patient(parse_qsl(condition, keep_blank_values=True))
    # Criteria naming one child's record the requester may not see: the refusal is the audit entry.
    refused = target is not None and not await ctx.gate.consider_search(target, rtype, condition)
    if len(found) > 1 or not (found or refused):
        ctx.gate.probed(action, rtype, condition, target, [p for _, p in found])
    return [rid for rid, _ in found]


async def _lock_condition(ctx: Context, rtype: str, condition: str) -> None:
    """Serialize conditional writes on the same criteria, so two of them cannot both create."""
    await ctx.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{rtype}?{condition}",))


# reads -----------------------------------------------------------------------


async def read(ctx: Context, rtype: str, rid: str) -> Outcome:
    check_type(rtype)
    stored = await store.read_current(ctx.conn, rtype, rid)
    if stored is None:
        raise NotFound(f"{rtype}/{rid} is not known")
    await check_access(ctx, stored, "read")
    if stored.deleted:
        raise Gone(f"{rtype}/{rid} was deleted", headers={"ETag": stored.etag})
    return Outcome(200, stored)


async def vread(ctx: Context, rtype: str, rid: str, version: str) -> Outcome:
    check_type(rtype)
    stored = await store.version_of(ctx.conn, rtype, rid, int(version)) if version.isdigit() else None
    missing = f"{rtype}/{rid} has no version {version!r}"
    if stored is None:
        raise NotFound(missing)
    await check_access(ctx, stored, "vread", missing=missing)
    if stored.deleted:
        raise Gone(f"version {version} of {rtype}/{rid} is a deletion", headers={"ETag": stored.etag})
    return Outcome(200, stored)


async def search(ctx: Context, req: SearchRequest, query: str | None) -> str:
    """A search as the requester may see it, audited: one entry per patient whose data it showed."""
    await ctx.gate.prepare_search()
    target = req.compartment[1] if req.compartment else _searched_patient(req.pairs)
    if target is not None:  # a search of one child's record: a refusal is recorded (the result is empty)
        await ctx.gate.consider_search(target, req.resource_type, query)
    shown: list[tuple[str, str, str | None]] = []
    text = await engine.search(ctx.conn, replace(req, visible=ctx.gate.visible, shown=shown.append))
    ctx.gate.saw("search", req.resource_type if req.compartment is None else
                 f"{req.compartment[0]}/{req.compartment[1]}/{req.resource_type}", query, [p for _, _, p in shown])
    return text


def _searched_patient(pairs: list[tuple[str, str]]) -> str | None:
    """The one patient a search names (``patient=``, ``subject=Patient/``), if it names exactly one."""
    found = set()
    for name, value in pairs:
        code, _, modifier = name.partition(":")
        if modifier not in ("", "Patient") or "," in value:
            continue
        if code == "patient" or (code == "subject" and (value.startswith("Patient/") or modifier == "Patient")):
            found.add(value.rsplit("Patient/", 1)[-1])
    return found.pop() if len(found) == 1 else None


async def check_access(ctx: Context, stored: Stored, action: str, *, missing: str | None = None,
                       subtype: str | None = None, record: bool = True) -> None:
    """Ask the gate about a resource in hand: a refused read looks exactly like a missing resource
    (``missing``: the caller's not-found message; by default a read's). ``record=False``: only a
    refusal is audited (a write follows, audited itself)."""
    patient = stored.patient_id
    if patient is None and stored.resource_type == "Binary":
        content = stored.content
        if content is None and stored.version_id > 1:  # a deletion: it belonged where its last version did
            last = await store.version_of(ctx.conn, "Binary", stored.id, stored.version_id - 1)
            content = last.content if last is not None else None
        if content:
            patient = await _binary_owner(ctx, content)
    await ctx.gate.check(patient, stored.resource_type, action, subtype=subtype, record=record,
                         entity=f"{stored.resource_type}/{stored.id}", content=stored.content,
                         missing=missing or f"{stored.resource_type}/{stored.id} is not known")


async def _binary_owner(ctx: Context, content: str) -> str | None:
    """Whose record a Binary belongs to, by its ``securityContext`` (R4 keeps Binary out of records):
    the Patient it names, or the patient of the resource it names (a DocumentReference, ...)."""
    reference = (jsonutil.loads(content).get("securityContext") or {}).get("reference", "")
    rtype, _, rid = str(reference).partition("/")
    if not rid or "/" in rid:
        return None
    if rtype == "Patient":
        return str(rid)
    owner = await store.read_current(ctx.conn, rtype, rid)
    return owner.patient_id if owner is not None else None


# writes ----------------------------------------------------------------------


def _require_resource(body: Any, rtype: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a FHIR resource (a JSON object)")
    found = body.get("resourceType")
    if found != rtype:
        raise BadRequest(f"the body is a {found!r} resource, but the URL is for {rtype}" if found
                         else f"the body has no resourceType; expected {rtype}")
    return body


async def create(
    ctx: Context, rtype: str, body: Any, *, if_none_exist: str | None = None, rid: str | None = None,
    checked: Validated | None = None,
) -> Outcome:
    """POST: a new resource with a server-assigned id (any id in the body is ignored).

    ``rid`` is the id a transaction assigned beforehand, so that references to it could be set;
    ``checked`` is what validating the body gave, when the caller validated it already.
    """
    check_type(rtype)
    resource = _require_resource(body, rtype)
    if if_none_exist:
        condition = strip_condition(rtype, if_none_exist)
        await _lock_condition(ctx, rtype, condition)
        found = await matches(ctx, rtype, condition, "create")
        if len(found) > 1:
            raise PreconditionFailed(f"If-None-Exist '{condition}' matches more than one {rtype}")
        if found:
            existing = await store.read(ctx.conn, rtype, found[0])
            await check_access(ctx, existing, "read")
            return Outcome(200, existing, f"{rtype} matching '{condition}' already exists; nothing was created")
    stored = await ctx.batch.create(resource, rid=rid, checked=checked)
    return Outcome(201, stored)


async def update(ctx: Context, rtype: str, rid: str, body: Any, *, if_match: int | None = None,
                 checked: Validated | None = None) -> Outcome:
    """PUT Type/id: a new version, or the first one when the id is new (create-on-update)."""
    check_type(rtype)
    resource = _require_resource(body, rtype)
    if "id" not in resource:
        raise BadRequest(f"the {rtype} in the body has no id; it must be '{rid}'")
    if resource["id"] != rid:
        raise BadRequest(f"the id in the body ('{resource['id']}') differs from the id in the URL ('{rid}')")
    stored, created = await ctx.batch.update(rtype, rid, resource, if_match=if_match, checked=checked)
    return Outcome(201 if created else 200, stored)


async def conditional_update(
    ctx: Context, rtype: str, condition: str, body: Any, *, if_match: int | None = None,
    checked: Validated | None = None,
) -> Outcome:
    """PUT Type?criteria: update the one match, or create when nothing matches."""
    check_type(rtype)
    resource = _require_resource(body, rtype)
    condition = strip_condition(rtype, condition)
    await _lock_condition(ctx, rtype, condition)
    found = await matches(ctx, rtype, condition, "update")
    if len(found) > 1:
        raise PreconditionFailed(f"'{condition}' matches more than one {rtype}; the update is ambiguous")
    if found:
        rid = found[0]
        if resource.get("id", rid) != rid:
            raise BadRequest(f"the id in the body ('{resource['id']}') is not the id of the {rtype} "
                             f"matching '{condition}' ('{rid}')")
        return await update(ctx, rtype, rid, {**resource, "id": rid}, if_match=if_match, checked=checked)
    if "id" in resource:
        return await update(ctx, rtype, resource["id"], resource, if_match=if_match, checked=checked)
    return Outcome(201, await ctx.batch.create(resource, checked=checked))


async def patch(ctx: Context, rtype: str, rid: str, operations: Any, *, if_match: int | None = None) -> Outcome:
    """PATCH with a JSON Patch document (RFC 6902)."""
    check_type(rtype)
    if not isinstance(operations, list):
        raise BadRequest("a JSON Patch body must be an array of operations")
    current = await store.read_current(ctx.conn, rtype, rid)
    if current is None:
        raise NotFound(f"{rtype}/{rid} is not known")
    await check_access(ctx, current, "read", subtype="patch", record=False)  # not readable: not there to patch
    if current.deleted:
        raise Gone(f"{rtype}/{rid} was deleted", headers={"ETag": current.etag})
    try:
        patched = jsonpatch.JsonPatch(operations).apply(current.resource())
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as e:
        raise Unprocessable(f"the JSON Patch cannot be applied: {e}", code="processing") from None
    if not isinstance(patched, dict) or patched.get("resourceType") != rtype or patched.get("id") != rid:
        raise Unprocessable("a patch must not change the resource type or id", code="processing")
    stored, _ = await ctx.batch.update(rtype, rid, patched,
                                       if_match=if_match if if_match is not None else current.version_id)
    return Outcome(200, stored)


async def delete(ctx: Context, rtype: str, rid: str) -> Outcome:
    """DELETE Type/id: soft delete; deleting a deleted resource changes nothing."""
    check_type(rtype)
    current = await store.read_current(ctx.conn, rtype, rid)
    if current is not None:  # what one may not read is not there to delete (nor was it deleted)
        await check_access(ctx, current, "read", subtype="delete", record=False)
    stored = await ctx.batch.delete(rtype, rid)
    if stored is None:
        return Outcome(204, None, f"{rtype}/{rid} was already deleted")
    return Outcome(204, stored, f"{rtype}/{rid} deleted")


async def conditional_delete(ctx: Context, rtype: str, condition: str) -> Outcome:
    """DELETE Type?criteria: delete the one match (412 when several match)."""
    check_type(rtype)
    condition = strip_condition(rtype, condition)
    found = await matches(ctx, rtype, condition, "delete")
    if len(found) > 1:
        raise PreconditionFailed(f"'{condition}' matches more than one {rtype}; nothing was deleted")
    if not found:
        return Outcome(204, None, f"no {rtype} matches '{condition}'; nothing was deleted")
    return await delete(ctx, rtype, found[0])


def parse_json_body(raw: bytes) -> Any:
    """Parse a request body, turning JSON errors into a 400 that says where."""
    if not raw.strip():
        raise BadRequest("the request has no body")
    try:
        return jsonutil.loads(raw)
    except jsonutil.JsonError as e:
        raise BadRequest(str(e), [Issue(str(e), code="structure", expression=(e.path,) if e.path else ())]) from None
