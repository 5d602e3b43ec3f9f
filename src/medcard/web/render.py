"""Rendering pages: the Jinja2 environment, its filters and globals, and :func:`page`.

Autoescaping is on for every ``.html`` template and undefined names are errors (``StrictUndefined``),
so a misspelt variable fails a test instead of rendering blank. Texts are translated with the
Jinja2 i18n extension (``{{ _("Русский текст") }}``); the language of the page being rendered is
kept in a context variable that :func:`page` sets, so one environment serves every language.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from medcard.access.policy import may_register
from medcard.core.time import CLINIC_TZ, today_moscow
from medcard.core.wording import plural as _plural_ru
from medcard.web import i18n
from medcard.web.i18n import N_

NOT_GIVEN = N_("не указано")  # an empty field, never blank or "?" (ux.md §2)
_lang: ContextVar[str] = ContextVar("medcard_page_lang", default=i18n.DEFAULT)


def _gettext(message: str) -> str:
    """The text in the language of the page being rendered (the i18n extension fills in ``%(name)s``)."""
    return i18n.gettext(_lang.get(), message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(_lang.get(), singular, plural, n)


def translate(message: str) -> str:
    """A text made in Python (marked with ``N_``) in the language of the page being rendered."""
    return _gettext(message)


def language() -> str:
    """The language of the page being rendered."""
    return _lang.get()


# filters --------------------------------------------------------------------------------------


def ru_date(value: date | datetime | str | None) -> str:
    """ДД.ММ.ГГГГ; a moment is shown as the date in Moscow. None: «не указано» (ux.md §2)."""
    if value is None or value == "":
        return _gettext(NOT_GIVEN)
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.astimezone(CLINIC_TZ) if value.tzinfo else value
    return value.strftime("%d.%m.%Y")


def ru_datetime(value: datetime | str | None) -> str:
    """ДД.ММ.ГГГГ ЧЧ:ММ in Moscow time."""
    if value is None or value == "":
        return _gettext(NOT_GIVEN)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo:
        value = value.astimezone(CLINIC_TZ)
    return value.strftime("%d.%m.%Y %H:%M")


def _months_between(birth: date, today: date) -> int:
    months = (today.year - birth.year) * 12 + today.month - birth.month
    return months - 1 if today.day < birth.day else months


def age(birth: date | str | None, today: date | None = None) -> str:
    """A child's age as the banner shows it (ux.md §2): «12 дн.» under a month, «1 г. 4 мес.» under
    three years, «7 лет» from three years. English pages: «12 d», «1 y 4 m», «7 y»."""
    if birth is None or birth == "":
        return _gettext(NOT_GIVEN)
    if isinstance(birth, str):
        birth = date.fromisoformat(birth[:10])
    today = today or today_moscow()
    months = _months_between(birth, today)
    english = _lang.get() == "en"
    if months < 1:
        days = (today - birth).days
        return f"{days} d" if english else f"{days} дн."
    years, rest = divmod(months, 12)
    if years < 3:
        if english:
            return " ".join(p for p in (f"{years} y" if years else "", f"{rest} m" if rest else "") if p)
        parts = [f"{years} {_plural_ru(years, 'г.', 'г.', 'л.')}" if years else "", f"{rest} мес." if rest else ""]
        return " ".join(p for p in parts if p)
    return f"{years} y" if english else f"{years} {_plural_ru(years, 'год', 'года', 'лет')}"


# globals --------------------------------------------------------------------------------------


@cache
def static_url(name: str) -> str:
    """The address of a static file with its content hash, so it may be cached for a year."""
    data = resources.files(__package__).joinpath("static", name).read_bytes()
    return f"/static/{name}?v={hashlib.sha256(data).hexdigest()[:12]}"


@pass_context
def csrf_field(context: Context) -> Markup:
    """The hidden CSRF input every POST form of a signed-in page carries (checked by ``session.form``)."""
    return Markup('<input type="hidden" name="csrf" value="{}">').format(context["csrf_token"])


@pass_context
def lang_url(context: Context, lang: str) -> str:
    """This page's address in another language."""
    request: Request = context["request"]
    query = {k: v for k, v in request.query_params.items() if k != "lang"} | {"lang": lang}
    return request.url.path + "?" + urlencode(query)


env = Environment(
    loader=PackageLoader("medcard.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
env.filters.update(ru_date=ru_date, ru_datetime=ru_datetime, age=age)
env.globals.update(static_url=static_url, csrf_field=csrf_field, lang_url=lang_url, languages=i18n.LANGUAGES,
                   may_register=may_register)  # the policy's answer, for links to a child's registry


def render(template: str, context: dict[str, Any], lang: str) -> str:
    """A template rendered in a language (pages use :func:`page`; this is for fragments and mail)."""
    token = _lang.set(lang)
    try:
        return env.get_template(template).render(context | {"lang": lang})
    finally:
        _lang.reset(token)


def page_language(request: Request) -> str:
    """The language a page of this request is shown in: the signed-in person's choice, else the browser's."""
    user = getattr(request.state, "page_user", None)
    return user.lang if user is not None else i18n.language(request)


def page(request: Request, template: str, context: dict[str, Any], *, status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:
    """A whole page (or an htmx fragment) in the request's language.

    Adds ``request``, ``lang``, ``user`` (the :class:`~medcard.web.session.PageUser` of the request,
    or None before sign-in) and ``csrf_token`` (the session's, unless the context brings its own).
    Never cached: pages carry a CSRF token and patients' data. A ``?lang=`` choice is remembered in
    a cookie (and so follows the person from page to page).
    """
    user = getattr(request.state, "page_user", None)
    lang = page_language(request)
    base = {"request": request, "user": user, "csrf_token": user.csrf_token if user is not None else ""}
    body = render(template, base | context, lang)
    response = HTMLResponse(body, status_code=status,
                            headers={"Cache-Control": "no-store", "Content-Language": lang, **(headers or {})})
    chosen = request.query_params.get("lang")
    if chosen in i18n.LANGUAGES and request.cookies.get(i18n.COOKIE) != chosen:
        response.set_cookie(i18n.COOKIE, chosen, max_age=365 * 86400, path="/", httponly=True, samesite="lax")
    return response
