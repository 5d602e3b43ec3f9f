"""``/my/requests``: ask for access to a child's record, and see where each request stands.

The answer to a request is the same whether its details matched a child or not (see
``access.link_requests``), so the form cannot be used to find out who is a patient.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.access import link_requests
from medcard.core.time import today_moscow
from medcard.state import database as _db
from medcard.web.i18n import N_, gettext
from medcard.web.render import page
from medcard.web.session import PageUser, form, require_family

router = APIRouter(include_in_schema=False)

RELATIONSHIP_NAMES = {"parent": N_("мать или отец"), "guardian": N_("опекун или попечитель"),
                      "adoptive-parent": N_("усыновитель")}


async def _page(request: Request, user: PageUser, *, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None, filed: bool = False, status: int = 200) -> Response:
    async with _db(request).connection() as conn:
        mine = await link_requests.mine(conn, user.account.id)
    return page(request, "my/requests.html", {
        "requests": mine, "errors": errors or {}, "values": values or {}, "filed": filed,
        "relationships": [(k, gettext(user.lang, v)) for k, v in RELATIONSHIP_NAMES.items()],
        "relationship_names": {k: gettext(user.lang, v) for k, v in RELATIONSHIP_NAMES.items()},
        "per_day": link_requests.PER_DAY}, status=status)


@router.get("/my/requests")
async def requests_page(request: Request) -> Response:
    user = await require_family(request)
    return await _page(request, user, filed=request.query_params.get("filed") == "1")


@router.post("/my/requests")
async def file_request(request: Request) -> Response:
    user = await require_family(request)
    data = {k: v for k, v in (await form(request)).items()}
    details, errors = link_requests.read_form(data, today_moscow())
    if details is None:
        return await _page(request, user, errors=errors, values=data, status=400)
    try:
        async with _db(request).transaction() as conn:
            await link_requests.file(conn, user.account.id, details)
    except link_requests.TooMany:
        errors = {"form": f"Можно отправить не больше {link_requests.PER_DAY} заявок в сутки. Попробуйте завтра."}
        return await _page(request, user, errors=errors, values=data, status=429)
    return Response(status_code=303, headers={"Location": "/my/requests?filed=1", "Cache-Control": "no-store"})
