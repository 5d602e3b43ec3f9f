"""``/app/patients?q=``: finding a child from the one search box, as the clinician types; and the
ICD-10 picker's options, ``/app/terminology/icd10?q=``.

The box sends what is typed (htmx, after a pause) and gets back the results list alone; the same
address without htmx is the whole page, so a search is a link that works after sign-in. With
nothing typed the page lists the person's recent patients. A result opens the child's chart, or for a
registrar (no clinical role) the child's registry page. Every answer goes through the page's
gate: the policy decides whom it finds, and every patient shown is an audit entry
(``records.finder``).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.access.policy import registers_only
from medcard.core.time import today_moscow
from medcard.records import finder, query_text
from medcard.state import database as _db
from medcard.terminology import icd10
from medcard.web.gate import page_gate
from medcard.web.render import page
from medcard.web.session import require_staff

router = APIRouter(include_in_schema=False)
PICKER_OPTIONS = 20


def _fragment(request: Request) -> bool:
    """An htmx request for part of the page (not a whole-page load or a history restore)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


@router.get("/app/patients")
async def patients(request: Request, q: str = "") -> Response:
    """The search page, or (htmx) its results for the text typed so far."""
    user = await require_staff(request)
    q = q[: query_text.MAX_TEXT]
    async with page_gate(request, user) as (conn, gate):
        found = await finder.find(conn, gate, q) if q.strip() else None
        recent = await finder.recent(conn, gate) if found is None else []
    # a registrar opens a child's registry (attachment, family, paper card), a clinician the chart
    context = {"q": q, "found": found, "recent": recent, "today": today_moscow(), "kinds": query_text,
               "registry_first": registers_only(user.requester)}
    if _fragment(request):
        return page(request, "app/_patient_results.html", context)
    return page(request, "app/patients.html", context)


@router.get("/app/terminology/icd10")
async def icd10_options(request: Request, q: str = "") -> Response:
    """The ICD-10 picker's options for the text typed (a code or words), as an HTML fragment.

    Reference data, no patient's: read on a plain connection, nothing to audit.
    """
    await require_staff(request)
    async with _db(request).connection() as conn:
        options = await icd10.search(conn, q, PICKER_OPTIONS) if q.strip() else []
    return page(request, "app/_icd10_options.html", {"q": q[: icd10.MAX_QUERY], "options": options})
