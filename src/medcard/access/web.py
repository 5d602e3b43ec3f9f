"""Signing in and out of medcard's own pages: the password form, the TOTP step, sign-out.

Defences, each in one place: a per-address limit on sign-in attempts (``throttle``) on top of the
per-account lock-out (``accounts.check_password``); a per-account limit on wrong TOTP codes that the
password step does not reset; a new session id at every step of signing in (no fixation); a CSRF
token on every form (double-submit for the sign-in form, per session after); redirects after sign-in
only to paths of this server (no open redirect).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.access import accounts, oidc, pages, sessions, throttle
from medcard.access.signin import (
    HOME,
    form_csrf_ok,
    login_url,
    new_form_csrf,
    read_form,
    redirect,
    safe_next,
    set_form_cookie,
    too_many_from,
)
from medcard.core.errors import NotAuthenticated
from medcard.state import database as _db
from medcard.state import settings as _settings

router = APIRouter(include_in_schema=False)


def landing(account: accounts.Account, next_path: str) -> str:
    """Where signing in ends: the page asked for, else staff's workspace or the family portal."""
    if next_path != HOME:
        return next_path
    return "/app/" if account.kind == "staff" else "/my/"


# pages --------------------------------------------------------------------------------------


@router.get("/auth/login")
async def login_form(request: Request) -> Response:
    lang = pages.language(request)
    next_path = safe_next(request.query_params.get("next"))
    account = await sessions.signed_in_account(request)
    if account is not None:
        return redirect(landing(account, next_path))
    return _login_page(request, lang, next_path)


def _login_page(request: Request, lang: str, next_path: str, error: str | None = None, status: int = 200) -> Response:
    settings = _settings(request)
    nonce, csrf = new_form_csrf(settings)
    oidc_url = "/auth/oidc/login?" + urlencode({"next": next_path, "lang": lang}) if oidc.configured(settings) else None
    response = pages.page(request, lang, "login_title", "login.html", {
        "csrf": csrf, "next": next_path, "oidc_url": oidc_url,
        "register_url": "/auth/register?" + urlencode({"lang": lang})}, error=error, status=status)
    set_form_cookie(response, settings, nonce)
    return response


@router.post("/auth/login")
async def login(request: Request) -> Response:
    settings, form = _settings(request), await read_form(request)
    lang, next_path = pages.language(request, form), safe_next(form.get("next"))
    if not form_csrf_ok(request, form):
        return pages.message_page(request, lang, "error_title", "csrf", status=403, link=login_url(next_path, lang))
    async with _db(request).transaction() as conn:
        if await too_many_from(conn, settings, request):
            return _login_page(request, lang, next_path, pages.text(lang, "throttled"), status=429)
        try:
            account = await accounts.check_password(conn, settings, form.get("username", ""), form.get("password", ""))
        except NotAuthenticated:
            account = None  # the failure count was written: let the transaction commit
    if account is None:
        return _login_page(request, lang, next_path, pages.text(lang, "bad_login"), status=401)
    two_step = accounts.needs_second_factor(settings, account)
    if two_step and not account.totp_enabled:
        return pages.message_page(request, lang, "error_title", "no_second_factor", status=403)
    async with _db(request).transaction() as conn:
        old = await sessions.current(request, conn)
        if old is not None:
            await sessions.end(conn, old.value)
        session = await sessions.start(conn, settings, account.id, second_factor=False)
    target = "/auth/login/totp?" + urlencode({"next": next_path, "lang": lang}) if two_step \
        else landing(account, next_path)
    response = redirect(target)
    sessions.set_cookie(response, settings, session)
    response.delete_cookie(sessions.login_cookie_name(settings), path="/", secure=settings.secure_cookies)
    return response


@router.get("/auth/login/totp")
async def totp_form(request: Request) -> Response:
    lang, next_path = pages.language(request), safe_next(request.query_params.get("next"))
    async with _db(request).connection() as conn:
        session = await sessions.current(request, conn)
    if session is None:
        return redirect(login_url(next_path, lang))
    return pages.page(request, lang, "totp_title", "totp.html", {"csrf": session.csrf_token, "next": next_path})


@router.post("/auth/login/totp")
async def totp(request: Request) -> Response:
    settings, form = _settings(request), await read_form(request)
    lang, next_path = pages.language(request, form), safe_next(form.get("next"))
    async with _db(request).transaction() as conn:
        session = await sessions.current(request, conn)
        if session is None:
            return redirect(login_url(next_path, lang))
        if not sessions.tokens_match(form.get("csrf"), session.csrf_token):
            return pages.message_page(request, lang, "error_title", "csrf", status=403,
                                      link=login_url(next_path, lang))
        tries = await throttle.hit(conn, "second-factor:" + session.account_id, settings.lockout_minutes * 60)
        if tries.count > settings.login_attempts or await too_many_from(conn, settings, request):
            await sessions.end(conn, session.value)  # start over from the password, after the window
            refused: Response = pages.message_page(request, lang, "error_title", "throttled", status=429,
                                                   link=login_url(next_path, lang))
            sessions.clear_cookie(refused, settings)
            return refused
        if not await accounts.check_totp(conn, settings, session.account_id, form.get("code", "")):
            return pages.page(request, lang, "totp_title", "totp.html", {"csrf": session.csrf_token, "next": next_path},
                              error=pages.text(lang, "bad_code"), status=401)
        await sessions.end(conn, session.value)
        complete = await sessions.start(conn, settings, session.account_id, second_factor=True)
        account = await accounts.get(conn, session.account_id)
    response = redirect(landing(account, next_path) if account else next_path)
    sessions.set_cookie(response, settings, complete)
    return response


@router.get("/auth/account")
async def account_page(request: Request) -> Response:
    lang = pages.language(request)
    settings = _settings(request)
    async with _db(request).connection() as conn:
        session = await sessions.current(request, conn)
        account = await sessions.account_of(conn, settings, session) if session else None
    if session is None or account is None:
        return redirect(login_url(HOME, lang))
    return pages.page(request, lang, "account_title", "account.html",
                      {"name": account.display_name, "csrf": session.csrf_token})


@router.post("/auth/logout")
async def logout(request: Request) -> Response:
    settings, form = _settings(request), await read_form(request)
    lang = pages.language(request, form)
    async with _db(request).transaction() as conn:
        session = await sessions.current(request, conn)
        if session is not None and not sessions.tokens_match(form.get("csrf"), session.csrf_token):
            return pages.message_page(request, lang, "error_title", "csrf", status=403, link=HOME)
        if session is not None:
            await sessions.end(conn, session.value)
    response = pages.message_page(request, lang, "account_title", "signed_out", link=login_url(HOME, lang),
                                  link_key="to_login")
    sessions.clear_cookie(response, settings)
    return response
