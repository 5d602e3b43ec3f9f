"""``/app/inbox``: the results of the signed-in doctor's orders, abnormal first; «Просмотрено» marks one seen.

Marking posts a form (CSRF-checked) and answers with a redirect back to the inbox (post/redirect/get),
so a reload or a double click marks once (:func:`medcard.worklists.inbox.mark_seen` keeps the first
mark). With htmx the row is replaced in place by the answer's fragment.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.core.errors import NotFound
from medcard.core.time import utcnow
from medcard.web.gate import page_gate
from medcard.web.render import page
from medcard.web.session import form, require_staff
from medcard.worklists import inbox, practice

router = APIRouter(include_in_schema=False)
SEEN_DAYS = 7  # seen results stay listed (below the new ones) this long


@router.get("/app/inbox")
async def inbox_page(request: Request) -> Response:
    """New results first (abnormal first), then the ones seen in the last week."""
    user = await require_staff(request)
    async with page_gate(request, user) as (conn, gate):
        mine = await practice.practice(conn, gate)
        found = await inbox.inbox(conn, gate, mine, seen_since=utcnow() - timedelta(days=SEEN_DAYS))
    return page(request, "app/inbox.html", {"inbox": found, "practitioner": mine.practitioner_id,
                                            "seen_days": SEEN_DAYS, "marked": request.query_params.get("seen")})


@router.post("/app/inbox/seen")
async def mark_seen(request: Request) -> Response:
    """Mark one result seen, then back to the inbox (to the next result)."""
    user = await require_staff(request)
    data = await form(request)
    rtype, rid = data.get("type") or "", data.get("id") or ""
    if rtype not in inbox.RESULT_TYPES or not rid or len(rid) > 64:
        raise NotFound(inbox.SEEN_MISSING)
    async with page_gate(request, user, write=True) as (conn, gate):
        await inbox.mark_seen(conn, gate, await practice.practice(conn, gate), rtype, rid)
    return Response(status_code=303, headers={"Location": "/app/inbox?seen=1#results", "Cache-Control": "no-store"})
