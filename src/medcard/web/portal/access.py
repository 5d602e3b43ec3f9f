"""``/my/children/{id}/access``: who opened the record and when, who may read it, giving a relative
read access until a date and taking it back, and share links for a doctor elsewhere.

Everything goes through the page gate: the page is an audited read of the record; a grant is a
Consent written through the store under the policy (a parent manages grants until the child is
15, the teenager from then on); a revocation is a new version of that Consent.
"""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.access import accounts, disclosure
from medcard.access.gate import Gate
from medcard.core.errors import Forbidden, NotFound
from medcard.core.time import today_moscow, utcnow
from medcard.fhir import interactions, store
from medcard.fhir.api.routes import base_url
from medcard.sharing import links
from medcard.state import settings as _settings
from medcard.web.gate import page_gate
from medcard.web.portal.common import Child, child, patient_id
from medcard.web.render import page
from medcard.web.session import PageUser, form, require_family

router = APIRouter(include_in_schema=False)

MAX_RELATION = 60
SHARE_DAYS = (1, 3, 7, 14, 30)


def _see_other(path: str) -> Response:
    return Response(status_code=303, headers={"Location": path, "Cache-Control": "no-store"})


async def _may_manage(gate: Gate, pid: str) -> bool:
    """Whether the user may give and take back access (a hint for the page; the write is decided again)."""
    return bool(await gate.policy.decide(pid, "Consent", "write", interaction="create"))


async def _access_page(request: Request, user: PageUser, pid: str, *, errors: dict[str, str] | None = None,
                       values: dict[str, str] | None = None, status: int = 200) -> Response:
    today = today_moscow()
    async with page_gate(request, user, patient_id=pid) as (conn, gate):
        kid = await child(conn, gate, pid)
        await gate.check(pid, "AuditEvent", "read", entity="AuditEvent", subtype="search")
        openings = await disclosure.openings(conn, pid, user.account.id)
        holders = await disclosure.holders(conn, pid, today)
        shares = await links.of_patient(conn, pid)
        manage = await _may_manage(gate, pid)
    return page(request, "my/access.html", {
        "child": kid, "openings": openings, "holders": holders, "shares": shares, "manage": manage,
        "errors": errors or {}, "values": values or {}, "today": today, "max_until": _max_until(kid, today),
        "now": utcnow()}, status=status)


def _max_until(kid: Child, today: date) -> date:
    """Grants end by the 18th birthday at the latest (a representative's grant lapses then anyway)."""
    if kid.birth_date is None:
        return today + timedelta(days=365)
    try:
        return kid.birth_date.replace(year=kid.birth_date.year + 18) - timedelta(days=1)
    except ValueError:
        return kid.birth_date.replace(year=kid.birth_date.year + 18, day=28)


@router.get("/my/children/{pid}/access")
async def access_page(request: Request, pid: str) -> Response:
    user = await require_family(request)
    return await _access_page(request, user, patient_id(pid))


@router.post("/my/children/{pid}/access/grant")
async def grant(request: Request, pid: str) -> Response:
    """Give a relative's medcard account read access until a date."""
    user = await require_family(request)
    pid = patient_id(pid)
    data = await form(request)
    values = {k: " ".join((data.get(k) or "").split()) for k in ("email", "relation", "until")}
    today, errors = today_moscow(), {}
    async with page_gate(request, user, patient_id=pid, write=True) as (conn, gate):
        kid = await child(conn, gate, pid)
        grantee = await accounts.by_username(conn, values["email"]) if values["email"] else None
        if grantee is None or grantee.kind != "family" or grantee.status != "active":
            errors["email"] = ("Нет учётной записи medcard с таким адресом. Попросите родственника "
                               "сначала зарегистрироваться в medcard.")
        elif grantee.id == user.account.id:
            errors["email"] = "Это ваша учётная запись."
        if not values["relation"] or len(values["relation"]) > MAX_RELATION:
            errors["relation"] = f"Укажите, кем человек приходится ребёнку (до {MAX_RELATION} символов)."
        try:
            until = date.fromisoformat(values["until"])
        except ValueError:
            until = None
        if until is None:
            errors["until"] = "Укажите дату окончания доступа."
        elif until <= today:
            errors["until"] = "Дата окончания должна быть позже сегодняшней."
        elif until > _max_until(kid, today):
            errors["until"] = "Доступ можно дать не дольше, чем до 18-летия ребёнка."
        if not errors and grantee is not None and until is not None:
            body = disclosure.grant(pid, grantee.id, values["relation"], until, today,
                                    by_patient=user.requester.patient_id == pid, by_name=user.account.display_name)
            try:
                ctx = interactions.Context(conn, base_url(request), gate)
                await interactions.create(ctx, "Consent", body)
                await ctx.batch.flush()
            except Forbidden:
                errors["email"] = "Давать доступ к этой медкарте может законный представитель ребёнка до 15 лет, " \
                                  "а с 15 лет — сам подросток."
    if errors:
        return await _access_page(request, user, pid, errors=errors, values=values, status=400)
    return _see_other(f"/my/children/{pid}/access#holders")


@router.post("/my/children/{pid}/access/revoke")
async def revoke_grant(request: Request, pid: str) -> Response:
    """Take a relative's access back: the grant's Consent becomes inactive (a new version)."""
    user = await require_family(request)
    pid = patient_id(pid)
    data = await form(request)
    consent_id = data.get("consent") or ""
    async with page_gate(request, user, patient_id=pid, write=True) as (conn, gate):
        await child(conn, gate, pid)
        stored = await store.read_current(conn, "Consent", consent_id) if consent_id else None
        if stored is None or stored.deleted or stored.patient_id != pid:
            raise NotFound("no such grant")
        consent = stored.resource()
        consent["status"] = "inactive"
        ctx = interactions.Context(conn, base_url(request), gate)
        await interactions.update(ctx, "Consent", consent_id, consent, if_match=stored.version_id)
        await ctx.batch.flush()
    return _see_other(f"/my/children/{pid}/access#holders")


# share links -------------------------------------------------------------------------------


@router.get("/my/children/{pid}/share")
async def share_form(request: Request, pid: str) -> Response:
    user = await require_family(request)
    pid = patient_id(pid)
    async with page_gate(request, user, patient_id=pid) as (conn, gate):
        kid = await child(conn, gate, pid)
    return page(request, "my/share_new.html", {"child": kid, "days": SHARE_DAYS, "errors": {},
                                                "values": {"part": "extract", "days": "7", "label": ""}})


@router.post("/my/children/{pid}/share")
async def share(request: Request, pid: str) -> Response:
    """Make a link (and its code) to the extract or the record book for a number of days."""
    user = await require_family(request)
    pid = patient_id(pid)
    data = await form(request)
    values = {k: " ".join((data.get(k) or "").split()) for k in ("part", "days", "label")}
    errors: dict[str, str] = {}
    if values["part"] not in links.PARTS:
        errors["part"] = "Выберите, что показать врачу."
    days = int(values["days"]) if values["days"].isdigit() else 0
    if days not in SHARE_DAYS:
        errors["days"] = "Выберите срок действия ссылки."
    if not values["label"] or len(values["label"]) > links.MAX_LABEL:
        errors["label"] = f"Укажите, для кого ссылка (до {links.MAX_LABEL} символов)."
    async with page_gate(request, user, patient_id=pid, write=True) as (conn, gate):
        kid = await child(conn, gate, pid)
        if not errors:
            made = await links.make(conn, _settings(request).secret(), user.requester, pid, values["part"], days,
                                    values["label"])
    if errors:
        return page(request, "my/share_new.html", {"child": kid, "days": SHARE_DAYS, "errors": errors,
                                                    "values": values}, status=400)
    url = f"{str(request.base_url).rstrip('/')}/share/{made.secret}"
    return page(request, "my/share_made.html", {"child": kid, "made": made, "url": url})


@router.post("/my/children/{pid}/share/{link_id}/revoke")
async def share_revoke(request: Request, pid: str, link_id: str) -> Response:
    user = await require_family(request)
    pid = patient_id(pid)
    await form(request)
    async with page_gate(request, user, patient_id=pid, write=True) as (conn, gate):
        await child(conn, gate, pid)
        await links.revoke(conn, user.requester, link_id)
    return _see_other(f"/my/children/{pid}/access#shares")
