"""The web layer's own routes: static files, the break-glass page, and the first page of ``/app``
(a placeholder until the workspace replaces it); the portal's ``/my/`` is ``medcard.portal.pages``."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.access.policy import may_break_glass
from medcard.core.errors import Forbidden, NotFound
from medcard.fhir.api.access import MAX_REASON
from medcard.state import database as _db
from medcard.web.gate import CHART_MISSING, state_reason
from medcard.web.render import page
from medcard.web.session import form, require_staff

router = APIRouter(include_in_schema=False)

_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "txt": "text/plain; charset=utf-8",
          "svg": "image/svg+xml", "png": "image/png", "woff2": "font/woff2"}
IMMUTABLE = "public, max-age=31536000, immutable"
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id


def _patient(patient_id: str) -> str:
    """The path's patient id; a malformed one is a chart that does not exist."""
    if not _ID.fullmatch(patient_id):
        raise NotFound(CHART_MISSING)
    return patient_id


@cache
def _static(name: str) -> bytes | None:
    if "/" in name or "\\" in name or name.startswith(".") or name.rpartition(".")[2] not in _TYPES:
        return None
    file = resources.files(__package__).joinpath("static", name)
    return file.read_bytes() if file.is_file() else None


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """A packaged static file; its address carries its content hash (``static_url``), so it never changes."""
    data = _static(name)
    if data is None:
        raise NotFound(f"no such static file: {name}")
    return Response(data, media_type=_TYPES[name.rpartition(".")[2]], headers={"Cache-Control": IMMUTABLE})


@router.get("/app/")
async def app_home(request: Request) -> Response:
    """The workspace's start page (a placeholder: «Мой день» replaces it)."""
    await require_staff(request)
    return page(request, "app/home.html", {})


@router.get("/app")
@router.get("/my")
async def to_home(request: Request) -> Response:
    return Response(status_code=307, headers={"Location": request.url.path + "/"})


@router.get("/app/patients/{patient_id}/break-glass")
async def break_glass_form(request: Request, patient_id: str) -> Response:
    """Emergency access to a chart outside one's care: the form asking for the reason."""
    user = await require_staff(request)
    patient_id = _patient(patient_id)
    if not may_break_glass(user.requester):
        raise Forbidden("emergency access is for clinicians")
    return page(request, "app/break_glass.html", {"patient_id": patient_id, "reason": "", "error": None,
                                                   "max_reason": MAX_REASON})


@router.post("/app/patients/{patient_id}/break-glass")
async def break_glass(request: Request, patient_id: str) -> Response:
    """State the reason; the session then opens this patient's chart as emergency access (audited so)."""
    user = await require_staff(request)
    patient_id = _patient(patient_id)
    data = await form(request)
    if not may_break_glass(user.requester):
        raise Forbidden("emergency access is for clinicians")
    reason = " ".join((data.get("reason") or "").split())
    if not reason or len(reason) > MAX_REASON:
        error = "empty" if not reason else "long"
        return page(request, "app/break_glass.html", {"patient_id": patient_id, "reason": reason, "error": error,
                                                       "max_reason": MAX_REASON}, status=400)
    async with _db(request).transaction() as conn:
        await state_reason(conn, user, patient_id, reason)
    return Response(status_code=303, headers={"Location": f"/app/patients/{patient_id}", "Cache-Control": "no-store"})
