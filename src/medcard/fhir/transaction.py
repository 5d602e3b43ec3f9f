"""Batch and transaction Bundles.

A transaction is all or nothing: its entries are processed in the order FHIR prescribes
(DELETE, POST, PUT/PATCH, then GET), ``urn:uuid:`` full URLs of new resources are replaced by
their new ids wherever the Bundle refers to them, conditional references
(``Practitioner?identifier=sys|123``) are resolved to the one matching resource, every write
is flushed together, and any failure rolls the whole Bundle back. A batch processes each entry
on its own: one entry's failure is reported in its response and does not touch the others.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from medcard.core import jsonutil
from medcard.core.errors import BadRequest, Issue, MedcardError, NotFound, PreconditionFailed
from medcard.fhir import bundles, interactions, store
from medcard.fhir.interactions import Context, Outcome
from medcard.fhir.search.engine import SearchRequest
from medcard.fhir.spec import r4
from medcard.fhir.validation import ReferenceSite, Validated, validate

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
MAX_ENTRIES = 10_000


@dataclass
class _Entry:
    index: int
    method: str
    url: str
    full_url: str | None
    resource: Any
    request: dict[str, Any]
    path: str = ""  # the URL without its query
    query: str = ""
    assigned_id: str | None = None  # the id a transaction gave a new resource
    checked: Validated | None = None  # what validating the resource found
    outcome: Outcome | None = None
    body: str | None = None  # a search result Bundle, for GET searches
    error: MedcardError | None = None


def _entries(bundle: Any, base: str) -> tuple[str, list[_Entry]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest("POST to the server base takes a Bundle of type batch or transaction")
    btype = bundle.get("type")
    if btype not in ("batch", "transaction"):
        raise BadRequest(f"a Bundle posted to the server base must be a batch or transaction, not {btype!r}",
                         [Issue("expected batch or transaction", expression=("Bundle.type",))])
    raw = bundle.get("entry", [])
    if not isinstance(raw, list):
        raise BadRequest("Bundle.entry must be an array", [Issue("expected an array", expression=("Bundle.entry",))])
    if len(raw) > MAX_ENTRIES:
        raise BadRequest(f"a Bundle may hold at most {MAX_ENTRIES} entries; use bulk import for more",
                         code="too-costly")
    out = []
    for i, e in enumerate(raw):
        where = f"Bundle.entry[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("request"), dict):
            raise BadRequest(f"entry {i} has no request", [Issue("missing request", code="required",
                                                                 expression=(f"{where}.request",))])
        req = e["request"]
        method, url = req.get("method"), req.get("url")
        if method not in ORDER or not isinstance(url, str) or not url:
            raise BadRequest(f"entry {i} needs request.method (GET, POST, PUT, PATCH, DELETE, HEAD) and request.url",
                             [Issue("invalid request", expression=(f"{where}.request",))])
        url = _relative(url, base)
        path, _, query = url.partition("?")
        out.append(_Entry(i, method, url, e.get("fullUrl"), e.get("resource"), req, path.strip("/"), query))
    return btype, out


def _relative(url: str, base: str) -> str:
    if url.startswith(base + "/"):
        return url[len(base) + 1:]
    if url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        marker = "/fhir/R4/"
        if marker in parts.path:
            tail = parts.path.split(marker, 1)[1]
            return tail + (f"?{parts.query}" if parts.query else "")
    return url.lstrip("/")


async def process(ctx: Context, bundle: Any) -> str:
    """Run a batch or transaction Bundle; the response Bundle as JSON text."""
    btype, entries = _entries(bundle, ctx.base)
    if btype == "transaction":
        await _transaction(ctx, entries)
        return _response(ctx, "transaction-response", entries)
    await _batch(ctx, entries)
    return _response(ctx, "batch-response", entries)


# transaction -------------------------------------------------------------------


async def _transaction(ctx: Context, entries: list[_Entry]) -> None:
    for e in entries:
        _validate(e)
    ids = await _assign_ids(ctx, entries)
    await _resolve_conditional_references(ctx, entries, ids)
    for e in entries:
        _apply_ids(e, ids)
    for e in sorted(entries, key=lambda x: ORDER[x.method]):
        if e.method in ("GET", "HEAD"):
            await ctx.batch.flush()
        ctx.batch.where = f"Bundle.entry[{e.index}]"
        try:
            await _run(ctx, e)
        except MedcardError as err:
            raise _in_entry(err, e) from None
    await ctx.batch.flush()


async def _assign_ids(ctx: Context, entries: list[_Entry]) -> dict[str, str]:
    """Map each new resource's fullUrl to Type/id: a new id, or the match of its condition."""
    ids: dict[str, str] = {}
    seen: set[str] = set()
    for e in entries:
        if e.full_url:
            if e.full_url in seen:
                raise BadRequest(f"entry {e.index}: fullUrl {e.full_url} appears twice in the Bundle",
                                 [Issue("duplicate fullUrl", expression=(f"Bundle.entry[{e.index}].fullUrl",))])
            seen.add(e.full_url)
        rtype = e.path.split("/")[0]
        if e.method == "POST" and isinstance(e.resource, dict):
            new_id = str(uuid.uuid4())
            if_none_exist = e.request.get("ifNoneExist")
            if if_none_exist:
                try:
                    matches = await interactions.matches(ctx, rtype, interactions.strip_condition(rtype, if_none_exist),
                                                         "create")
                except MedcardError as err:
                    raise _in_entry(err, e) from None
                if len(matches) > 1:
                    raise _in_entry(PreconditionFailed(f"ifNoneExist '{if_none_exist}' matches more than "
                                                       f"one {rtype}"), e)
                if matches:
                    new_id = matches[0]
                    existing = await store.read(ctx.conn, rtype, new_id)
                    await interactions.check_access(ctx, existing, "read")
                    e.outcome = Outcome(200, existing, f"{rtype} matching '{if_none_exist}' already exists")
            e.assigned_id = new_id
            if e.full_url:
                ids[e.full_url] = f"{rtype}/{new_id}"
        elif e.method == "PUT" and e.query and isinstance(e.resource, dict):
            try:
                matches = await interactions.matches(ctx, rtype, e.query, "update")
            except MedcardError as err:
                raise _in_entry(err, e) from None
            if len(matches) > 1:
                raise _in_entry(PreconditionFailed(f"'{e.url}' matches more than one {rtype}"), e)
            rid = matches[0] if matches else e.resource.get("id") or str(uuid.uuid4())
            e.resource = {**e.resource, "id": rid}
            e.path, e.query = f"{rtype}/{rid}", ""
            if e.full_url:
                ids[e.full_url] = f"{rtype}/{rid}"
        elif e.method == "PUT" and e.full_url and "/" in e.path:
            ids[e.full_url] = e.path
    return ids


def _validate(e: _Entry) -> None:
    """Validate the resource of a POST or PUT once, keeping the references it holds."""
    if e.method not in ("POST", "PUT") or not isinstance(e.resource, dict):
        return
    try:
        rtype = e.path.split("/")[0]
        interactions.check_type(rtype)
        e.checked = validate(e.resource, expected_type=rtype)
    except MedcardError as err:
        raise _in_entry(err, e) from None


async def _resolve_conditional_references(ctx: Context, entries: list[_Entry], ids: dict[str, str]) -> None:
    """Map each ``Type?criteria`` reference to the one resource matching it."""
    types = r4().resource_type_names
    for e in entries:
        sites = e.checked.references if e.checked else []
        conditional = {s.reference for s in sites if "?" in s.reference
                       and not s.reference.startswith(("http:", "https:", "urn:"))}
        for ref in sorted(conditional):
            if ref in ids:
                continue
            rtype, _, query = ref.partition("?")
            if rtype not in types:
                raise _in_entry(BadRequest(f"'{rtype}' in the conditional reference '{ref}' is not a resource type"),
                                e)
            try:
                matches = await interactions.matches(ctx, rtype, query, "search")
            except MedcardError as err:
                raise _in_entry(err, e) from None
            if len(matches) > 1:
                raise _in_entry(PreconditionFailed(f"the conditional reference '{ref}' matches more than one "
                                                   f"{rtype}"), e)
            if not matches:
                raise _in_entry(NotFound(f"the conditional reference '{ref}' matches no {rtype}"), e)
            ids[ref] = f"{rtype}/{matches[0]}"


def _apply_ids(e: _Entry, ids: dict[str, str]) -> None:
    """Put the new ids in place of fullUrls and conditional references; refuse what stays unresolved."""
    if e.checked is None:
        return
    if ids:
        _rewrite(e.resource, ids)  # the request's own parsed body
        sites = []
        for site in e.checked.references:
            new = ids.get(site.reference)
            if new is None:
                sites.append(site)
                continue
            target_type = new.split("/")[0]
            if site.targets and target_type not in site.targets:
                raise _in_entry(BadRequest(
                    f"{site.reference} is a {target_type}; a reference to {target_type} is not allowed here "
                    f"(allowed: {', '.join(site.targets)})", [Issue("reference to a type not allowed here",
                                                                    expression=(site.path,))]), e)
            sites.append(ReferenceSite(site.path, new, site.targets))
        e.checked.references = sites
    for site in e.checked.references:
        if site.reference.startswith("urn:uuid:"):
            raise _in_entry(BadRequest(
                f"{site.reference} is not the fullUrl of any entry in this transaction",
                [Issue(f"{site.reference} is not the fullUrl of any entry in this transaction", code="not-found",
                       expression=(site.path,))]), e)


def _rewrite(node: dict[str, Any] | list[Any], ids: dict[str, str]) -> None:
    """Replace, in place, every string that is a mapped fullUrl or conditional reference by its Type/id."""
    for key, value in node.items() if isinstance(node, dict) else enumerate(node):
        if value.__class__ is str:
            if value in ids:
                node[key] = ids[value]  # type: ignore[index]  # a key of this very dict or list
        elif isinstance(value, dict | list):
            _rewrite(value, ids)


def _in_entry(err: MedcardError, e: _Entry) -> MedcardError:
    """The same error, saying which entry caused it and with locations inside the Bundle."""
    prefix = f"Bundle.entry[{e.index}].resource"
    rtype = e.path.split("/")[0]
    label = f"entry {e.index} ({e.method} {e.url.split('?')[0]})"
    issues = []
    for issue in err.issues:
        if issue.diagnostics.startswith("entry "):
            issues.append(issue)  # already placed
            continue
        exprs = tuple(prefix + x[len(rtype):] if x.startswith(rtype + ".") or x == rtype else x
                      for x in issue.expression)
        issues.append(Issue(f"{label}: {issue.diagnostics}", issue.code, issue.severity,
                            exprs or (f"Bundle.entry[{e.index}]",)))
    err.message = f"{label}: {err.message}"
    err.issues = issues
    return err


# batch -------------------------------------------------------------------------


async def _batch(ctx: Context, entries: list[_Entry]) -> None:
    for e in entries:
        audited = len(ctx.gate.entries)
        try:
            async with ctx.conn.transaction():  # a savepoint: one entry's failure undoes only it
                ctx.batch = store.WriteBatch(ctx.conn, where=f"Bundle.entry[{e.index}]", guard=ctx.gate.guard_write,
                                             visibility=ctx.gate.reach)
                _validate(e)
                refs: dict[str, str] = {}
                await _resolve_conditional_references(ctx, [e], refs)
                _apply_ids(e, refs)
                await _run(ctx, e)
                await ctx.batch.flush()
        except MedcardError as err:
            e.error = err
            ctx.gate.failed_since(audited, err)  # what the entry was allowed to do did not happen


# one entry ---------------------------------------------------------------------


async def _run(ctx: Context, e: _Entry) -> None:
    if e.outcome is not None:
        return  # settled while assigning ids (a conditional create that matched)
    parts = e.path.split("/")
    rtype = parts[0]
    if e.method == "POST":
        if len(parts) != 1:
            raise BadRequest(f"POST goes to a type, not to {e.url}")
        condition = None if e.assigned_id else e.request.get("ifNoneExist")
        e.outcome = await interactions.create(ctx, rtype, e.resource, if_none_exist=condition, rid=e.assigned_id,
                                              checked=e.checked)
    elif e.method == "PUT":
        if_match = interactions.parse_etag(e.request.get("ifMatch"))
        if e.query:
            e.outcome = await interactions.conditional_update(ctx, rtype, e.query, e.resource, if_match=if_match,
                                                              checked=e.checked)
        elif len(parts) == 2:
            e.outcome = await interactions.update(ctx, rtype, parts[1], e.resource, if_match=if_match,
                                                  checked=e.checked)
        else:
            raise BadRequest(f"PUT goes to Type/id or Type?criteria, not {e.url}")
    elif e.method == "PATCH":
        await _patch(ctx, e, parts)
    elif e.method == "DELETE":
        if e.query and len(parts) == 1:
            e.outcome = await interactions.conditional_delete(ctx, rtype, e.query)
        elif len(parts) == 2:
            e.outcome = await interactions.delete(ctx, rtype, parts[1])
        else:
            raise BadRequest(f"DELETE goes to Type/id or Type?criteria, not {e.url}")
    else:
        await _get(ctx, e, parts)


async def _patch(ctx: Context, e: _Entry, parts: list[str]) -> None:
    if len(parts) != 2:
        raise BadRequest(f"PATCH goes to Type/id, not {e.url}")
    ops = e.resource
    if isinstance(ops, dict) and ops.get("resourceType") == "Binary" and "data" in ops:
        import base64

        ops = jsonutil.loads(base64.b64decode(ops["data"]))
    e.outcome = await interactions.patch(ctx, parts[0], parts[1], ops,
                                         if_match=interactions.parse_etag(e.request.get("ifMatch")))


async def _get(ctx: Context, e: _Entry, parts: list[str]) -> None:
    if len(parts) == 2:
        e.outcome = await interactions.read(ctx, parts[0], parts[1])
    elif len(parts) == 4 and parts[2] == "_history":
        e.outcome = await interactions.vread(ctx, parts[0], parts[1], parts[3])
    elif len(parts) == 1:
        interactions.check_type(parts[0])
        e.body = await interactions.search(ctx, SearchRequest(parts[0], parse_qsl(e.query, keep_blank_values=True),
                                                              ctx.base), e.query)
        e.outcome = Outcome(200)
    else:
        raise BadRequest(f"GET {e.url} is not supported inside a Bundle")


def _response(ctx: Context, btype: str, entries: list[_Entry]) -> str:
    out = []
    for e in entries:
        if e.error is not None:
            out.append(bundles.entry(response={"status": str(e.error.status),
                                               "outcome": e.error.operation_outcome()}))
            continue
        assert e.outcome is not None
        o = e.outcome
        stored = o.stored if o.stored is not None and not o.stored.deleted else None
        content = e.body if e.body is not None else (
            stored.content if stored is not None and e.method != "HEAD" else None)
        full = bundles.full_url(ctx.base, o.stored) if o.stored is not None and e.body is None else None
        out.append(bundles.entry(full_url=full, content=content,
                                 response=bundles.response_meta(o.status, o.stored,
                                                                location=o.status == 201)))
    return bundles.bundle(btype, out, bundle_id=str(uuid.uuid4()))
