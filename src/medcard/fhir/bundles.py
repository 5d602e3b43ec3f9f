"""Building Bundle JSON around stored resources without parsing them.

Stored resources are JSON text; a Bundle is assembled by joining that text into the entry
objects, so a search page or a history page costs no JSON parsing of its resources.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medcard.core import jsonutil
from medcard.core.time import fhir_instant, utcnow
from medcard.fhir.store import Stored


def _j(value: Any) -> str:
    return jsonutil.dumps_str(value)


def entry(
    *,
    full_url: str | None = None,
    content: str | None = None,
    search_mode: str | None = None,
    search_score: float | None = None,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
) -> str:
    """One Bundle entry as JSON text; ``content`` is a resource's JSON text, inserted as is."""
    parts = []
    if full_url is not None:
        parts.append(f'"fullUrl":{_j(full_url)}')
    if content is not None:
        parts.append(f'"resource":{content}')
    if search_mode is not None:
        score = f',"score":{round(search_score, 4)}' if search_score is not None else ""
        parts.append(f'"search":{{"mode":{_j(search_mode)}{score}}}')
    if request is not None:
        parts.append(f'"request":{_j(request)}')
    if response is not None:
        parts.append(f'"response":{_j(response)}')
    return "{" + ",".join(parts) + "}"


def bundle(
    bundle_type: str,
    entries: Iterable[str],
    *,
    total: int | None = None,
    links: Iterable[tuple[str, str]] = (),
    bundle_id: str | None = None,
    identifier: dict[str, str] | None = None,
    timestamp: str | None = None,
) -> str:
    """A Bundle as JSON text; ``links`` are (relation, url) pairs."""
    head = ['"resourceType":"Bundle"']
    if bundle_id:
        head.append(f'"id":{_j(bundle_id)}')
    head.append(f'"meta":{{"lastUpdated":{_j(fhir_instant(utcnow()))}}}')
    if identifier:
        head.append(f'"identifier":{_j(identifier)}')
    head.append(f'"type":{_j(bundle_type)}')
    if timestamp:
        head.append(f'"timestamp":{_j(timestamp)}')
    if total is not None:
        head.append(f'"total":{int(total)}')
    link_list = [{"relation": rel, "url": url} for rel, url in links]
    if link_list:
        head.append(f'"link":{_j(link_list)}')
    body = ",".join(entries)
    if not body:
        return "{" + ",".join(head) + "}"  # FHIR forbids empty arrays (ele-1)
    return "{" + ",".join(head) + ',"entry":[' + body + "]}"


def full_url(base: str, stored: Stored) -> str:
    return f"{base}/{stored.resource_type}/{stored.id}"


def response_meta(status: int, stored: Stored | None, *, location: bool) -> dict[str, Any]:
    """The ``response`` element of a batch, transaction or history entry."""
    out: dict[str, Any] = {"status": _status_text(status)}
    if stored is not None:
        if location:
            out["location"] = stored.location
        out["etag"] = stored.etag
        out["lastModified"] = fhir_instant(stored.last_updated)
    return out


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone",
            412: "Precondition Failed", 413: "Payload Too Large", 415: "Unsupported Media Type",
            422: "Unprocessable Entity", 500: "Internal Server Error"}


def _status_text(status: int) -> str:
    reason = _REASONS.get(status)
    return f"{status} {reason}" if reason else str(status)


def history_entry(base: str, stored: Stored) -> str:
    """An entry of a history Bundle: the version, and how it came about."""
    if stored.deleted:
        method, status = "DELETE", 204
    elif stored.version_id == 1:
        method, status = "POST", 201
    else:
        method, status = "PUT", 200
    url = stored.resource_type if method == "POST" else f"{stored.resource_type}/{stored.id}"
    return entry(
        full_url=full_url(base, stored),
        content=stored.content,
        request={"method": method, "url": url},
        response=response_meta(status, stored, location=False),
    )
