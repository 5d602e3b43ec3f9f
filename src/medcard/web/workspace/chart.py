"""The chart pages of the workspace: the chart on one screen, the timeline, what changed, and what an entry opens.

``/app/patients/{id}`` (the chart), ``/timeline`` (with ``?cursor=`` for the next 50, answered as a
fragment to htmx), ``/timeline/{visit|report|result|document}/{entry}`` and ``/changes``. Every page
reads through ``page_gate`` (the request's gate and audit flush) and the domain's view models
(:mod:`medcard.records`); a chart outside the person's care is the same 404 page as a missing one,
with the break-glass offer of the web layer. Each answer carries ``Server-Timing`` (the server's own
time, for the benchmark).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.core.errors import NotFound
from medcard.core.time import today_moscow
from medcard.records import changes, chart, details, timeline
from medcard.web.gate import CHART_MISSING, page_gate
from medcard.web.render import page
from medcard.web.session import PageUser, require_staff

router = APIRouter(include_in_schema=False)

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id
BASE = "/app/patients/{}"


def _id(value: str) -> str:
    """An id from the path; a malformed one is a chart (or entry) that does not exist."""
    if not _ID.fullmatch(value):
        raise NotFound(CHART_MISSING)
    return value


def _timed(response: Response, started: float, parts: dict[str, float] | None = None) -> Response:
    """The server's time (``app``, first) and its parts in ``Server-Timing``."""
    timings = [("app", time.perf_counter() - started), *(parts or {}).items()]
    response.headers["Server-Timing"] = ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in timings)
    return response


def _context(user: PageUser, patient_id: str, section: str, **more: Any) -> dict[str, Any]:
    return {"base": BASE.format(patient_id), "section": section, **more}


@router.get("/app/patients/{patient_id}")
async def chart_page(request: Request, patient_id: str) -> Response:
    """The chart on one screen (ux.md §3, «Сводка»)."""
    started = time.perf_counter()
    user = await require_staff(request)
    pid = _id(patient_id)
    signed_in = time.perf_counter()
    async with page_gate(request, user, patient_id=pid) as (conn, gate):
        opened = time.perf_counter()
        view = await chart.load_chart(conn, gate, pid, today_moscow())  # with the opening before this one
        read = time.perf_counter()
    audited = time.perf_counter()
    response = page(request, "app/chart.html", _context(user, pid, "chart", chart=view, banner=view.banner,
                                                        previous=view.previous))
    # the parts of the server's time, for the benchmark (and a browser's developer tools)
    parts = {"session": signed_in - started, "gate": opened - signed_in, "chart": read - opened,
             "audit": audited - read, "render": time.perf_counter() - audited}
    return _timed(response, started, parts)


@router.get("/app/patients/{patient_id}/timeline")
async def timeline_page(request: Request, patient_id: str) -> Response:
    """Everything in time order, filtered and searched; htmx asks for the next 50 with ``cursor``."""
    started = time.perf_counter()
    user = await require_staff(request)
    pid = _id(patient_id)
    params = dict(request.query_params)
    filters = timeline.parse_filters(params)
    cursor = params.get("cursor", "")
    fragment = bool(cursor) and request.headers.get("hx-request") == "true"
    async with page_gate(request, user, patient_id=pid) as (conn, gate):
        view = await timeline.load_timeline(conn, gate, pid, today_moscow(), filters, cursor, with_options=not fragment)
    context = _context(user, pid, "timeline", timeline=view, banner=view.banner, filters=filters,
                       query=_query(params), kinds=timeline.KINDS, kind_of_one=timeline.KIND_OF_ONE, cursor=cursor,
                       chapters_options=[(c["chapter"], f"{c['chapter']}. {c['first']}–{c['last']}: {c['title']}")
                                         for c in timeline.chapters()])
    return _timed(page(request, "app/_timeline_rows.html" if fragment else "app/timeline.html", context), started)


def _query(params: dict[str, str]) -> str:
    """The filters as a query string, for the next page's address."""
    return urlencode({k: v for k, v in params.items() if k != "cursor" and v})


@router.get("/app/patients/{patient_id}/timeline/visit/{entry}")
async def visit_page(request: Request, patient_id: str, entry: str) -> Response:
    started = time.perf_counter()
    user = await require_staff(request)
    pid, eid = _id(patient_id), _id(entry)
    async with page_gate(request, user, patient_id=pid) as (conn, gate):
        view = await details.load_visit(conn, gate, pid, eid, today_moscow())
    return _timed(page(request, "app/visit.html", _context(user, pid, "timeline", visit=view, banner=view.banner)),
                  started)


@router.get("/app/patients/{patient_id}/timeline/{kind}/{entry}")
async def result_page(request: Request, patient_id: str, kind: str, entry: str) -> Response:
    """A lab report (``report``), one laboratory result (``result``) or a document (``document``)."""
    started = time.perf_counter()
    user = await require_staff(request)
    pid, rid = _id(patient_id), _id(entry)
    if kind not in ("report", "result", "document"):
        raise NotFound(CHART_MISSING)
    async with page_gate(request, user, patient_id=pid) as (conn, gate):
        if kind == "document":
            doc = await details.load_document(conn, gate, pid, rid, today_moscow())
            response = page(request, "app/document.html", _context(user, pid, "timeline", document=doc,
                                                                   banner=doc.banner))
        else:
            rtype = "DiagnosticReport" if kind == "report" else "Observation"
            report = await details.load_report(conn, gate, pid, rtype, rid, today_moscow())
            response = page(request, "app/report.html", _context(user, pid, "timeline", report=report,
                                                                 banner=report.banner))
    return _timed(response, started)


@router.get("/app/patients/{patient_id}/changes")
async def changes_page(request: Request, patient_id: str) -> Response:
    """What changed since this person last opened the chart (``?since=<opening>``: since that opening)."""
    started = time.perf_counter()
    user = await require_staff(request)
    pid = _id(patient_id)
    since = request.query_params.get("since") or None
    if since is not None and not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", since):
        since = None  # not an opening: since the latest one
    async with page_gate(request, user, patient_id=pid) as (conn, gate):
        view = await changes.load_changes(conn, gate, pid, today_moscow(), since)
    return _timed(page(request, "app/changes.html", _context(user, pid, "changes", changes=view, banner=view.banner,
                                                             groups=changes.GROUPS)), started)
