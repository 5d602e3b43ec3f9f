"""``/my/notifications``: the inbox of the same events as the attention list, and the e-mail setting.

A notification names the child and the kind of news only; opening the page marks what it shows as
read. The children's names are read through the gate (audited reads of their records).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.core.errors import NotFound
from medcard.notifications import inbox
from medcard.state import database as _db
from medcard.web.gate import page_gate
from medcard.web.portal.common import Child, child
from medcard.web.render import page
from medcard.web.session import form, require_family

router = APIRouter(include_in_schema=False)
PAGE = 30


@router.get("/my/notifications")
async def notifications_page(request: Request) -> Response:
    user = await require_family(request)
    before_text = request.query_params.get("before", "")
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    async with _db(request).connection() as conn:
        notes = await inbox.listing(conn, user.account.id, limit=PAGE + 1, before=before)
        email = await inbox.wants_email(conn, user.account.id)
        cur = await conn.execute("SELECT email, email_verified FROM account WHERE id = %s", (user.account.id,))
        address = await cur.fetchone()
    more = len(notes) > PAGE
    notes = notes[:PAGE]
    children: dict[str, Child | None] = {}
    async with page_gate(request, user) as (conn, gate):
        for pid in sorted({n.patient_id for n in notes}):
            try:
                children[pid] = await child(conn, gate, pid)
            except NotFound:
                children[pid] = None  # access ended since: the news stays, unnamed and unlinked
    shown = [n for n in notes if n.read_at is None]
    if shown:
        async with _db(request).transaction() as conn:
            await inbox.mark_read(conn, user.account.id, [n.id for n in shown])
    return page(request, "my/notifications.html", {
        "notes": notes, "children": children, "email": email,
        "address": address[0] if address and address[1] else None,
        "next_url": f"/my/notifications?before={notes[-1].id}" if more else None,
        "saved": request.query_params.get("saved") == "1"})


@router.post("/my/notifications/settings")
async def notification_settings(request: Request) -> Response:
    user = await require_family(request)
    data = await form(request)
    async with _db(request).transaction() as conn:
        await inbox.set_email(conn, user.account.id, data.get("email") == "on")
    return Response(status_code=303, headers={"Location": "/my/notifications?saved=1", "Cache-Control": "no-store"})
