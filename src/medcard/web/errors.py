"""Error pages: under ``/app`` and ``/my`` a failure is a page in the layout, not an OperationOutcome.

The handlers wrap the API's (``fhir/api/errors.py``): any other path keeps the API's answer. A chart
that does not exist and one outside the person's care give the same 404 page, to the byte; for a
clinician it offers emergency access to *every* not-found chart, so the link reveals nothing about
whether the patient exists (docs/security.md, "Pages").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from psycopg import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from medcard.access.policy import may_break_glass
from medcard.core.errors import MedcardError
from medcard.web.render import page, render
from medcard.web.session import CsrfRejected, SignInRequired, page_user

Handler = Callable[[Request, Exception], Awaitable[Response]]
PAGE_PREFIXES = ("/app", "/my")
_CHART = re.compile(r"^/app/patients/([A-Za-z0-9\-.]{1,64})(?:/|$)")


def is_page(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


async def error_page(request: Request, status: int, *, retry_after: int | None = None) -> Response:
    """The error page of a status (404, 403, 413, 503, 500, else 400) in the layout.

    A visitor not signed in is sent to sign in first (a deep link to a page keeps working, and no
    page's existence is told to someone anonymous)."""
    user = getattr(request.state, "page_user", None)
    if user is None and status in (403, 404):
        try:
            user = await page_user(request)
        except SignInRequired as exc:
            return _to_sign_in(request, exc)
    chart = _CHART.match(request.url.path)
    glass = None
    if status == 404 and chart and user is not None and may_break_glass(user.requester) \
            and not request.url.path.endswith("/break-glass"):
        glass = f"/app/patients/{chart.group(1)}/break-glass"
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    known = status if status in (403, 404, 413, 503, 500) else 400
    return page(request, "errors/error.html", {"status": known, "break_glass_url": glass}, status=status,
                headers=headers)


def _to_sign_in(request: Request, exc: SignInRequired) -> Response:
    """To the sign-in page; an htmx request (which would follow a redirect and swap the sign-in page
    into a fragment) is told to load it as a whole page instead (``HX-Redirect``)."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": exc.location, "Cache-Control": "no-store"})
    return RedirectResponse(exc.location, status_code=303, headers={"Cache-Control": "no-store"})


def install(app: FastAPI) -> None:
    """Put the page handlers in front of the API's; call after ``fhir.api.errors.install``."""

    def wrap(kind: type[Exception], on_page: Handler) -> None:
        api: Handler | None = app.exception_handlers.get(kind)  # type: ignore[assignment]

        async def handler(request: Request, exc: Exception) -> Response:
            if is_page(request.url.path) or api is None:
                return await on_page(request, exc)
            return await api(request, exc)

        app.add_exception_handler(kind, handler)

    async def medcard_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MedcardError)
        if isinstance(exc, CsrfRejected):
            return page(request, "errors/csrf.html", {}, status=403)
        return await error_page(request, exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return await error_page(request, exc.status_code)

    async def database_down(request: Request, exc: Exception) -> Response:
        return await error_page(request, 503, retry_after=5)

    wrap(MedcardError, medcard_error)
    wrap(HTTPException, http_error)
    wrap(OperationalError, database_down)

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return _to_sign_in(request, exc)

    app.add_exception_handler(SignInRequired, sign_in)


def internal_error_page(path: str) -> Response | None:
    """The 500 page for a page path (the last-resort handler's answer), else None (the API's)."""
    if not is_page(path):
        return None
    return HTMLResponse(render("errors/500.html", {}, "ru"), status_code=500, headers={"Cache-Control": "no-store"})
