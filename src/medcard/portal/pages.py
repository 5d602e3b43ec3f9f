"""The family portal's pages: ``/my/`` (the children), ``/my/children/{id}`` (the record in plain Russian),
``/my/children/{id}/documents`` (every document, as PDF one by one or all in one ZIP), and the web app
manifest.

Every read goes through :func:`medcard.web.gate.page_gate` with the signed-in family member's
requester: the policy decides, the audit log records, and a child the person may not see is the
same 404 page as a child that does not exist. PDFs and the archive are the FHIR operations'
own code (``$pdf``, ``$record-archive``) called with the page's gate, not a copy of it.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from markupsafe import Markup
from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from medcard.access.gate import Gate
from medcard.core.errors import NotFound
from medcard.core.time import today_moscow
from medcard.fhir import store
from medcard.fhir.api.routes import base_url
from medcard.fhir.operations import document_pdf, record_archive
from medcard.fhir.operations.base import OperationCall
from medcard.notifications import inbox
from medcard.pediatrics import growth_chart
from medcard.pediatrics.record import day_of
from medcard.portal import kept
from medcard.portal import record as rec
from medcard.state import database as _db
from medcard.state import settings as _settings
from medcard.web.gate import CHART_MISSING, open_chart, page_gate
from medcard.web.render import NOT_GIVEN, env, language, page, page_language, static_url, translate
from medcard.web.session import require_family

router = APIRouter(include_in_schema=False)

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id
DOCUMENT_MISSING = "no such document"
NO_STORE = {"Cache-Control": "no-store"}
VISITS_SHOWN, REPORTS_SHOWN, CONSULTATIONS_SHOWN, RESULTS_PAGE = 5, 1, 5, 30
MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
          "ноября", "декабря")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")


def ru_day(value: date | str | None) -> str:
    """A date as people write it: «12 марта 2025» (ux.md §4); «12 March 2025» on an English page."""
    day = day_of(value) if isinstance(value, str) else value
    if day is None:
        return translate(NOT_GIVEN)
    months = MONTHS_EN if language() == "en" else MONTHS
    return f"{day.day} {months[day.month - 1]} {day.year}"


def say(value: rec.Phrase | str) -> str:
    """A sentence made in Python in the reader's language; the values it names (a disease, a doctor's words)
    are the record's own and stay as written."""
    if isinstance(value, rec.Phrase):
        text = translate(value.text)
        return text % dict(value.values) if value.values else text
    return translate(value)


env.filters["ru_day"] = ru_day
env.filters["say"] = say


def _id(value: str, missing: str) -> str:
    if not _ID.fullmatch(value):
        raise NotFound(missing)
    return value


async def _child(conn: AsyncConnection, gate: Gate, patient_id: str, reading: rec.Reading) -> rec.Loaded:
    """The audited read of a child's record: the policy decides, then the page's part of the record is read.
    A child the person may not see and a child that does not exist are the same 404 page."""
    await open_chart(gate, patient_id)
    return await _load(conn, gate, patient_id, reading)


async def _load(conn: AsyncConnection, gate: Gate, patient_id: str, reading: rec.Reading) -> rec.Loaded:
    loaded = await rec.load(conn, gate, patient_id, reading, today_moscow())
    if loaded is None:
        raise NotFound(CHART_MISSING)
    return loaded


async def _kept(conn: AsyncConnection, gate: Gate, patient_id: str, part: str, on: date,
                work_out: Callable[[], Awaitable[Any]]) -> Any:
    """A part of the child's record as a page shows it: the policy decides and the audit log records the
    opening first; then the view kept from an earlier page of the same record version, or a new one."""
    await open_chart(gate, patient_id)
    key = await kept.key(conn, gate, patient_id, part, on)
    found = kept.views.get(key)
    return found if found is not None else kept.views.put(key, await work_out())


async def _summary(conn: AsyncConnection, gate: Gate, patient_id: str, on: date) -> rec.Summary:
    async def work_out() -> rec.Summary:
        return rec.summary(await _load(conn, gate, patient_id, rec.home_reading()), on)

    found: rec.Summary = await _kept(conn, gate, patient_id, "summary", on, work_out)
    return found


def _card(child: rec.Summary, unread: dict[str, int], on: date) -> dict[str, Any]:
    return {"id": child.id, "name": child.name, "birth": child.birth, "gender": child.gender,
            "attention": rec.attention(child, unread), "next": rec.next_event(child, on)}


@router.get("/my/")
async def home(request: Request) -> Response:
    """The signed-in person's children (a teenager with their own account: themself), each with what needs attention."""
    user = await require_family(request)
    on = today_moscow()
    cards = []
    async with page_gate(request, user) as (conn, gate):
        children = await gate.policy.readable_patients()
        unread = await inbox.unread(conn, user.account.id)
        for pid in children:
            cards.append(_card(await _summary(conn, gate, pid, on), unread.get(pid, {}), on))
    cards.sort(key=lambda c: (c["id"] != user.account.patient_id, c["birth"] or ""))
    return compressed(request, page(request, "my/home.html", {"cards": cards, "own": user.account.patient_id}))


@router.get("/my/children/{patient_id}")
async def child(request: Request, patient_id: str) -> Response:
    """One child's record in plain Russian: visits, results, consultations, vaccinations, growth, problems,
    allergies (ux.md §4)."""
    user = await require_family(request)
    patient_id = _id(patient_id, CHART_MISSING)
    on = today_moscow()
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        async def work_out() -> dict[str, Any]:
            loaded = await _load(conn, gate, patient_id, rec.record_reading())
            await loaded.add_results(conn, rec.final_reports(loaded)[:REPORTS_SHOWN])
            return _record_view(loaded, on)

        view: dict[str, Any] = await _kept(conn, gate, patient_id, "record", on, work_out)
        unread = (await inbox.unread(conn, user.account.id)).get(patient_id, {})
    return compressed(request, page(request, "my/child.html", {
        **view, "child": _card(view["summary"], unread, on), "own": user.account.patient_id == patient_id}))


def _record_view(loaded: rec.Loaded, on: date) -> dict[str, Any]:
    """The record page's sections, worked out of the record (kept while it does not change)."""
    visits = rec.visits(loaded)
    reports = rec.reports(loaded, REPORTS_SHOWN)
    docs = rec.documents(loaded)
    return {
        "summary": rec.summary(loaded, on),
        "visits": visits[:VISITS_SHOWN], "visits_total": len(visits),
        "consultations": [v for v in visits if v.specialist][:CONSULTATIONS_SHOWN],
        "reports": reports, "reports_total": len(rec.final_reports(loaded)), **_flags(),
        "vaccinations": rec.vaccinations(loaded, on), "examinations": rec.examinations_due(loaded, on),
        "growth": rec.growth_points(loaded)[2], "problems": rec.problems(loaded), "plan": rec.plan(loaded),
        "allergies": rec.allergies(loaded), "documents": docs[:3], "documents_total": len(docs),
    }


def _flags() -> dict[str, Any]:
    return {"flag_words": rec.FLAG_WORDS, "flag_explained": rec.FLAG_EXPLAINED}


def _head(loaded: rec.Loaded) -> dict[str, Any]:
    return {"id": loaded.patient["id"], "name": rec.name_of(loaded.patient), "birth": loaded.patient.get("birthDate")}


@router.get("/my/children/{patient_id}/results")
async def results(request: Request, patient_id: str) -> Response:
    """Every laboratory report of the child, newest first, each result with its range and a word."""
    user = await require_family(request)
    patient_id = _id(patient_id, CHART_MISSING)
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        loaded = await _child(conn, gate, patient_id, rec.RESULTS)
        await loaded.add_results(conn, rec.final_reports(loaded)[:RESULTS_PAGE])
    return compressed(request, page(request, "my/results.html", {
        "child": _head(loaded), "reports": rec.reports(loaded, RESULTS_PAGE), **_flags()}))


@router.get("/my/children/{patient_id}/growth")
async def growth_page(request: Request, patient_id: str) -> Response:
    """The WHO growth charts (weight and height for age) with the child's measurements, centiles in words."""
    user = await require_family(request)
    patient_id = _id(patient_id, CHART_MISSING)
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        loaded = await _child(conn, gate, patient_id, rec.growth_reading())
    sex, points, lines = rec.growth_points(loaded)
    charts = []
    english = page_language(request) == "en"
    for line in lines if sex is not None else []:
        svg = growth_chart.render_growth_chart(line.indicator, str(sex), points[line.indicator],
                                               lang="en" if english else "ru")
        svg = svg.replace('"chart-title"', f'"chart-{line.indicator}"')  # two charts, two ids
        charts.append({"line": line, "svg": Markup(svg)})  # noqa: S704 - medcard's own SVG of numbers and labels
    return compressed(request, page(request, "my/growth.html", {"child": _head(loaded), "charts": charts}))


def compressed(request: Request, response: Response) -> Response:
    """The page gzipped when the browser takes it (the server compresses nothing by itself, and a phone on a
    slow network should not wait for 80 KB of a record when 15 will do)."""
    body = bytes(response.body)
    if len(body) < 1400 or "gzip" not in request.headers.get("accept-encoding", ""):
        return response
    packed = gzip.compress(body, compresslevel=6)
    response.body = packed
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Length"] = str(len(packed))
    response.headers["Vary"] = "Accept-Encoding"
    return response


@router.get("/my/children/{patient_id}/documents")
async def documents(request: Request, patient_id: str, kind: str = "", year: str = "") -> Response:
    """Every document of the child, newest first; filter by kind and year."""
    user = await require_family(request)
    patient_id = _id(patient_id, CHART_MISSING)
    on = today_moscow()
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        async def work_out() -> tuple[dict[str, Any], list[rec.Document]]:
            loaded = await _load(conn, gate, patient_id, rec.DOCUMENTS)
            return _head(loaded), rec.documents(loaded)

        head, every = await _kept(conn, gate, patient_id, "documents", on, work_out)
    shown = [d for d in every if (not kind or d.kind == kind) and (not year or d.on.startswith(year))]
    return compressed(request, page(request, "my/documents.html", {
        "child": head,
        "documents": shown, "total": len(every), "kinds": sorted({d.kind for d in every}),
        "years": rec.years(every), "kind": kind, "year": year,
        "clear_url": f"/my/children/{patient_id}/documents"}))


def _filename(title: str, on: str, ext: str) -> str:
    """A download's file name in Russian (RFC 6266 ``filename*``), with an ASCII fallback."""
    clean = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', " ", title).strip()[:80] or "Документ"
    name = f"{on[:10]} {clean}.{ext}".strip()
    return f"attachment; filename=\"document.{ext}\"; filename*=UTF-8''{quote(name)}"


@router.get("/my/children/{patient_id}/documents/{doc_id}/pdf")
async def document(request: Request, patient_id: str, doc_id: str) -> Response:
    """One document as PDF (``DocumentReference/{id}/$pdf``'s code, decided as a read of the document)."""
    user = await require_family(request)
    patient_id = _id(patient_id, CHART_MISSING)
    doc_id = _id(doc_id, DOCUMENT_MISSING)
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        current = await store.read_current(conn, "DocumentReference", doc_id)
        if current is None or current.patient_id != patient_id or current.content is None:
            raise NotFound(DOCUMENT_MISSING)
        await gate.check(patient_id, "DocumentReference", "read", entity=f"DocumentReference/{doc_id}/$pdf",
                         subtype="read", content=current.content, missing=DOCUMENT_MISSING)
        doc = current.resource()
    call = OperationCall(_db(request), _settings(request), base_url(request), "DocumentReference", doc_id, [],
                         gate=gate)
    result = await document_pdf.run(call)
    await _flush(request, gate)
    assert result.stream is not None
    title = str(doc.get("description") or rec.text_of(doc.get("type")) or "Документ")
    headers = {**result.headers, **NO_STORE, "Content-Disposition": _filename(title, str(doc.get("date", "")), "pdf")}
    headers.pop("Content-Location", None)  # the FHIR address is no use to a family's browser
    return StreamingResponse(result.stream, headers=headers)


@router.get("/my/children/{patient_id}/documents/all")
async def archive(request: Request, patient_id: str) -> Response:
    """«Скачать все документы»: ``Patient/{id}/$record-archive`` (a streamed ZIP), decided as its export."""
    user = await require_family(request)
    patient_id = _id(patient_id, CHART_MISSING)
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        current = await store.read_current(conn, "Patient", patient_id)
        if current is None:
            raise NotFound(CHART_MISSING)
        await gate.check(patient_id, "Patient", "export", entity=f"Patient/{patient_id}/$record-archive",
                         subtype="export", missing=CHART_MISSING)
        name = rec.name_of(current.resource())
    call = OperationCall(_db(request), _settings(request), base_url(request), "Patient", patient_id, [], gate=gate)
    result = await record_archive.run(call)
    assert result.stream is not None
    headers = {**result.headers, **NO_STORE, "Content-Disposition": _filename(f"Медкарта {name}", "", "zip")}
    return StreamingResponse(result.stream, headers=headers)


async def _flush(request: Request, gate: Gate) -> None:
    """What an operation read after the page's gate closed is audited too."""
    if gate.entries:
        async with _db(request).transaction() as conn:
            await gate.flush(conn)


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    """The web app manifest: the portal on a phone's home screen (no service worker: nothing is cached)."""
    import orjson

    data = {"name": "Медкарта ребёнка", "short_name": "Медкарта", "lang": "ru", "start_url": "/my/",
            "scope": "/my/", "display": "standalone", "background_color": "#ffffff", "theme_color": "#1d5fa8",
            "icons": [{"src": static_url("icon-192.png"), "sizes": "192x192", "type": "image/png"},
                      {"src": static_url("icon-512.png"), "sizes": "512x512", "type": "image/png"},
                      {"src": static_url("icon.svg"), "sizes": "any", "type": "image/svg+xml"}]}
    return Response(orjson.dumps(data), media_type="application/manifest+json",
                    headers={"Cache-Control": "public, max-age=86400"})

