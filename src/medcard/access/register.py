"""Families registering themselves: ``/auth/register`` and ``/auth/verify``.

Registration makes a *standard* family account named by its e-mail address, which cannot sign in
until the single-use code sent to that address is entered (``accounts.register_family``,
``accounts.confirm_email``). The answer to a registration is the same whether or not the address
was free, so the form does not tell who has an account; when it was taken, the owner of the address
gets a notice instead of a code, and no account changes hands.

Defences as on the sign-in form: a CSRF double-submit token, and a per-address limit on attempts
(separate counters for registering and for entering codes). Wrong codes are also counted per
account: after ``login_attempts`` of them the code stops working. Codes are only ever in the
message sent (never in a page, a log or the database, which keeps their keyed hash).
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from medcard.access import accounts, mailer, pages, sessions, signin
from medcard.access.signin import HOME, login_url, root_url
from medcard.state import database as _db
from medcard.state import settings as _settings

router = APIRouter(include_in_schema=False)
MAX_EMAIL = 254
MAX_NAME = 200
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f.]+$")


def valid_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and _EMAIL.match(value) is not None


def _register_page(request: Request, lang: str, *, email: str = "", display_name: str = "",
                   error: str | None = None, status: int = 200) -> Response:
    settings = _settings(request)
    nonce, csrf = signin.new_form_csrf(settings)
    response = pages.page(request, lang, "register_title", "register.html", {
        "csrf": csrf, "email": email, "display_name": display_name, "min_password": accounts.MIN_PASSWORD,
        "login_url": login_url(HOME, lang)}, error=error, status=status)
    signin.set_form_cookie(response, settings, nonce)
    return response


def _verify_page(request: Request, lang: str, *, email: str = "", error: str | None = None,
                 status: int = 200) -> Response:
    settings = _settings(request)
    nonce, csrf = signin.new_form_csrf(settings)
    response = pages.page(request, lang, "verify_title", "verify.html", {"csrf": csrf, "email": email},
                          error=error, status=status)
    signin.set_form_cookie(response, settings, nonce)
    return response


@router.get("/auth/register")
async def register_form(request: Request) -> Response:
    lang = pages.language(request)
    if await sessions.signed_in_account(request) is not None:
        return signin.redirect(HOME)
    return _register_page(request, lang)


@router.post("/auth/register")
async def register(request: Request) -> Response:
    settings, form = _settings(request), await signin.read_form(request)
    lang = pages.language(request, form)
    if not signin.form_csrf_ok(request, form):
        return pages.message_page(request, lang, "error_title", "csrf", status=403,
                                  link="/auth/register?lang=" + lang)
    email = form.get("email", "").strip().lower()
    name = " ".join(form.get("display_name", "").split())
    password = form.get("password", "")
    problem = ("bad_email" if not valid_email(email) else
               "bad_name" if not name or len(name) > MAX_NAME else
               "short_password" if len(password) < accounts.MIN_PASSWORD else
               "password_mismatch" if password != form.get("password2") else None)
    if problem:
        return _register_page(request, lang, email=email, display_name=name, error=pages.text(lang, problem),
                              status=400)
    async with _db(request).transaction() as conn:
        throttled = await signin.too_many_from(conn, settings, request, "register")
        registration = None if throttled else await accounts.register_family(conn, settings, email, name, password)
    if registration is None:
        return _register_page(request, lang, email=email, display_name=name, error=pages.text(lang, "throttled"),
                              status=429)
    if registration.code is not None:
        subject = pages.text(lang, "mail_code_subject")
        text = pages.text(lang, "mail_code_body").format(
            name=name, code=registration.code, url=f"{root_url(request)}/auth/verify?lang={lang}")
    else:
        subject = pages.text(lang, "mail_exists_subject")
        text = pages.text(lang, "mail_exists_body").format(url=f"{root_url(request)}{login_url(HOME, lang)}")
    try:
        await run_in_threadpool(mailer.of(request).send, email, subject, text)
    except OSError:
        return pages.message_page(request, lang, "error_title", "mail_failed", status=503,
                                  link="/auth/register?lang=" + lang)
    return _verify_page(request, lang, email=email)


@router.get("/auth/verify")
async def verify_form(request: Request) -> Response:
    lang = pages.language(request)
    email = request.query_params.get("email", "").strip().lower()
    return _verify_page(request, lang, email=email if valid_email(email) else "")


@router.post("/auth/verify")
async def verify(request: Request) -> Response:
    settings, form = _settings(request), await signin.read_form(request)
    lang = pages.language(request, form)
    if not signin.form_csrf_ok(request, form):
        return pages.message_page(request, lang, "error_title", "csrf", status=403, link="/auth/verify?lang=" + lang)
    email = form.get("email", "").strip().lower()
    code = form.get("code", "")
    if not valid_email(email) or len(code) > 20:
        return _verify_page(request, lang, email="", error=pages.text(lang, "bad_email_code"), status=400)
    async with _db(request).transaction() as conn:
        if await signin.too_many_from(conn, settings, request, "verify"):
            return _verify_page(request, lang, email=email, error=pages.text(lang, "throttled"), status=429)
        confirmed = await accounts.confirm_email(conn, settings, email, code)
    if not confirmed:
        return _verify_page(request, lang, email=email, error=pages.text(lang, "bad_email_code"), status=400)
    return pages.message_page(request, lang, "verify_title", "email_verified", link=login_url(HOME, lang))
