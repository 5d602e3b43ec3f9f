"""Who is signed in on a page, and the CSRF check of every form posted from one.

A page asks :func:`page_user` (or :func:`require_staff` / :func:`require_family`) first. Without a
complete session (password, and the TOTP code where the role needs it) the person is sent to
``/auth/login?next=<this path and query>``, and comes back here after signing in, through the TOTP
step too. Sessions expire as ``session_idle_minutes`` / ``session_max_hours`` say (``access/sessions``).

The :class:`~medcard.access.requester.Requester` of a page is built by
``authn.requester_for_account``, the same function that builds it for an app's token, so the policy
and the audit log see a person the same way whichever door they came in by.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request

from medcard.access import accounts, sessions
from medcard.access.authn import requester_for_account
from medcard.access.requester import Requester
from medcard.access.signin import login_url
from medcard.core.errors import Forbidden, MedcardError
from medcard.state import database as _db
from medcard.state import settings as _settings
from medcard.web import i18n

MAX_FORM_BYTES = 1024 * 1024  # a visit protocol is long text; anything past this is refused


class SignInRequired(Exception):
    """Raised by :func:`page_user` without a signed-in person; answered by a redirect to sign-in."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class CsrfRejected(Forbidden):
    """A form posted without its session's CSRF token (an old tab, or another site)."""


class FormTooLarge(MedcardError):
    status = 413
    code = "too-costly"


@dataclass(frozen=True)
class PageUser:
    """The person signed in on a page."""

    account: accounts.Account
    requester: Requester
    lang: str
    csrf_token: str
    session: sessions.Session

    @property
    def is_staff(self) -> bool:
        return self.account.kind == "staff"

    @property
    def is_family(self) -> bool:
        return self.account.kind == "family"


async def page_user(request: Request) -> PageUser:
    """The signed-in person of the request (once per request); :class:`SignInRequired` otherwise."""
    cached: PageUser | None = getattr(request.state, "page_user", None)
    if cached is not None:
        return cached
    settings = _settings(request)
    async with _db(request).connection() as conn:
        session = await sessions.current(request, conn)
        account = await sessions.account_of(conn, settings, session) if session else None
    if session is None or account is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(login_url(target, request.query_params.get("lang")))
    source = request.client.host if request.client else None
    user = PageUser(account, requester_for_account(account, source=source), i18n.language(request),
                    session.csrf_token, session)
    request.state.page_user = user
    return user


async def require_staff(request: Request) -> PageUser:
    """The signed-in staff member; a family account gets the 403 page."""
    user = await page_user(request)
    if not user.is_staff:
        raise Forbidden("this page is for clinic staff")
    return user


async def require_family(request: Request) -> PageUser:
    """The signed-in family member (parent, guardian, teenager); staff get the 403 page."""
    user = await page_user(request)
    if not user.is_family:
        raise Forbidden("this page is for families")
    return user


async def form(request: Request) -> ImmutableMultiDict[str, str]:
    """The posted form of a signed-in page, after checking its CSRF token against the session's.

    ``.get(name)`` gives the last value of a name, ``.getlist(name)`` all of them. Raises
    :class:`CsrfRejected` (the 403 page) when the token is missing or wrong, :class:`SignInRequired`
    when the session ended meanwhile.
    """
    user = await page_user(request)
    body = b""
    if request.headers.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded":
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise FormTooLarge(f"the form is larger than {MAX_FORM_BYTES // 1024} KB")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError):
        pairs = []
    data = ImmutableMultiDict(pairs)
    if not sessions.tokens_match(data.get("csrf") or request.headers.get("x-csrf-token"), user.csrf_token):
        raise CsrfRejected("the form has expired or did not come from medcard's page")
    return data
