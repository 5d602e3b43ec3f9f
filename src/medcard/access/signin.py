"""What every sign-in route shares: form bodies, safe redirects, the pre-sign-in CSRF token, the
per-address attempt limit, this server's public address.

The password form (``web``), the OpenID Connect routes (``oidc``), self-registration (``register``)
and the OAuth endpoints (``oauth``) import these helpers from here, and none of them imports another
for them, so the imports among the sign-in modules run one way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from medcard.access import sessions, throttle
from medcard.config import Settings
from medcard.state import settings as _settings

MAX_FORM_BYTES = 64 * 1024
HOME = "/auth/account"


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the last value of a repeated name); {} otherwise."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100))
    except (UnicodeDecodeError, ValueError):
        return {}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def root_url(request: Request) -> str:
    """This server's public address (``base_url`` setting, else as the request saw it)."""
    configured: str | None = _settings(request).base_url
    return (configured or str(request.base_url)).rstrip("/")


def safe_next(value: str | None) -> str:
    """A path of this server to go to after signing in; anything else (another site) becomes the home page."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return HOME
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else HOME


def login_url(next_path: str, lang: str | None = None) -> str:
    query = {"next": next_path} | ({"lang": lang} if lang else {})
    return "/auth/login?" + urlencode(query)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


# CSRF of the forms before sign-in (sign-in, registration, e-mail confirmation): a random value in a
# cookie, its keyed hash in the form ---------------------------------------------------------


def _login_token(settings: Settings, nonce: str) -> str:
    return hmac.new(settings.secret(), b"login-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def new_form_csrf(settings: Settings) -> tuple[str, str]:
    """A (cookie value, form token) pair for a form shown before sign-in; see :func:`set_form_cookie`."""
    nonce = secrets.token_urlsafe(24)
    return nonce, _login_token(settings, nonce)


def set_form_cookie(response: Response, settings: Settings, nonce: str) -> None:
    response.set_cookie(sessions.login_cookie_name(settings), nonce, max_age=3600, path="/",
                        secure=settings.secure_cookies, httponly=True, samesite="lax")


def form_csrf_ok(request: Request, form: dict[str, str]) -> bool:
    """Whether a form posted before sign-in carries the token matching the browser's cookie."""
    settings = _settings(request)
    nonce = request.cookies.get(sessions.login_cookie_name(settings))
    return bool(nonce) and sessions.tokens_match(form.get("csrf"), _login_token(settings, nonce or ""))


async def too_many_from(conn: AsyncConnection, settings: Settings, request: Request, what: str = "login") -> bool:
    """Count an attempt (to sign in, register, confirm) from the request's address; whether that address
    is over its limit (``login_rate_per_address`` a minute for each kind of attempt)."""
    count = await throttle.hit(conn, f"{what}:" + client_address(request), 60)
    return count.count > settings.login_rate_per_address
