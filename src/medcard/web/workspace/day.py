"""``/app/``: «Мой день» — the signed-in practitioner's district and open orders, each child a link to the chart.

The data is :mod:`medcard.worklists.day`'s, read through the page's gate (the policy's search condition,
the audit log). A staff member who is no practitioner with a district (a registrar) gets the same page
with what applies to them: the search box and the registrar's tasks. This module's ``router`` also
carries the inbox's and the registry's routes, so the application mounts the workspace's lists at once.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.core.time import today_moscow
from medcard.web.gate import page_gate
from medcard.web.render import page
from medcard.web.session import require_staff
from medcard.web.workspace import inbox, registry
from medcard.worklists import day, practice

router = APIRouter(include_in_schema=False)
router.include_router(inbox.router)
router.include_router(registry.router)

# "in <month>" (the prepositional case in Russian)
MONTHS = {"ru": ("январе", "феврале", "марте", "апреле", "мае", "июне", "июле", "августе", "сентябре", "октябре",
                 "ноябре", "декабре"),
          "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December")}
LIST_ROWS = 50  # rows a list of the day shows; its count says how many there are in all


@router.get("/app/")
async def my_day(request: Request) -> Response:
    """The day of the signed-in staff member."""
    user = await require_staff(request)
    on = today_moscow()
    async with page_gate(request, user) as (conn, gate):
        mine = await practice.practice(conn, gate)
        found = await day.my_day(conn, gate, mine, on)
    registrar = user.requester.has_role("registrar")
    month_in = MONTHS.get(user.lang, MONTHS["ru"])[on.month - 1]
    return page(request, "app/day.html", {"day": found, "month_in": month_in, "rows": LIST_ROWS,
                                          "registrar": registrar, "today": on})
