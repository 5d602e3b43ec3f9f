"""``/share/{secret}``: what a doctor elsewhere opens from a family's share link, with the code the
family passed on. No account: the link's secret and code are the key (``medcard.sharing.links``).

The page asks for the code; with the right one it answers the chosen part of the record as a signed
PDF (the 027/у extract or the record book), read on behalf of the family member who made the
link, through the same policy, and audited as a disclosure at the patient's request (PATRQT)
naming the link. A wrong code is counted (the link stops after five); an ended, revoked or unknown
link gets the same page. The secret is in the path only: the access log names the route, never
the path, and pages send no Referer.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.access.signin import read_form
from medcard.core.errors import NotFound
from medcard.core.time import utcnow
from medcard.documents.book import record_book
from medcard.documents.render import extract
from medcard.fhir.api.access import gated
from medcard.sharing import links
from medcard.state import database as _db
from medcard.state import settings as _settings
from medcard.web.render import page

router = APIRouter(include_in_schema=False)
MAX_CODE = 20


def _invalid(request: Request) -> Response:
    return page(request, "share/invalid.html", {}, status=404)


@router.get("/share/{secret}")
async def share_form(request: Request, secret: str) -> Response:
    async with _db(request).connection() as conn:
        link = await links.find(conn, secret[:100])
    if link is None or not link.live(utcnow()):
        return _invalid(request)
    return page(request, "share/open.html", {"link": link, "error": None})


@router.post("/share/{secret}")
async def share_open(request: Request, secret: str) -> Response:
    """The code: right, the PDF; wrong, the form again with the tries left."""
    data = await read_form(request)  # no session, no CSRF token: the secret and the code are the key
    code = data.get("code", "")[:MAX_CODE]
    settings = _settings(request)
    wrong: links.WrongCode | None = None
    try:
        async with _db(request).transaction() as conn:
            try:
                link, requester = await links.open_with(conn, settings.secret(), secret[:100], code, utcnow())
            except links.WrongCode as exc:
                wrong = exc  # caught inside, so the transaction commits the count of wrong codes
    except NotFound:
        return _invalid(request)
    if wrong is not None:
        if wrong.left <= 0:
            return _invalid(request)
        return page(request, "share/open.html", {"link": await _link(request, secret), "error": wrong.left},
                    status=400)
    request.state.requester = requester
    async with gated(request, _db(request), write=True) as (conn, gate):
        if link.part == "record-book":
            pdf, name = await record_book(conn, gate, link.patient_id, settings=settings), "record-book.pdf"
        else:
            rendered = await extract(conn, gate, link.patient_id, settings)
            pdf, name = rendered.data, rendered.filename
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


async def _link(request: Request, secret: str) -> links.ShareLink | None:
    async with _db(request).connection() as conn:
        return await links.find(conn, secret[:100])
