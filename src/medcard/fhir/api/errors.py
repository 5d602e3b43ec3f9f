"""Every error of the API becomes an OperationOutcome with the right status, in one place."""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from psycopg import OperationalError
from psycopg.errors import QueryCanceled
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from medcard.core import jsonutil
from medcard.core.db import DatabaseUnavailable
from medcard.core.errors import (
    BadRequest,
    MedcardError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)
from medcard.fhir.api.http import CONTENT_TYPE
from medcard.state import settings

log = logging.getLogger("medcard.errors")


def outcome(error: MedcardError) -> Response:
    return Response(jsonutil.dumps(error.operation_outcome()), status_code=error.status,
                    media_type=CONTENT_TYPE, headers=error.headers)


async def _medcard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MedcardError)
    return outcome(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return outcome(NotFound(f"no such endpoint: {request.method} {request.url.path}"))
    if exc.status_code == 405:
        return outcome(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"))
    if exc.status_code == 413:
        return outcome(PayloadTooLarge("the request body is too large"))
    return outcome(BadRequest(str(exc.detail)))


async def _validation_error(request: Request, exc: Exception) -> Response:
    return outcome(BadRequest("the request is malformed"))


async def _database_down(request: Request, exc: Exception) -> Response:
    """503 with Retry-After: the database is down (known at once, see core/db.py) or every connection is busy."""
    if not isinstance(exc, DatabaseUnavailable):  # those are logged once, when the connection was lost
        log.error("database unavailable: %s", type(exc).__name__)
    retry_after = exc.retry_after if isinstance(exc, DatabaseUnavailable) else 5
    return outcome(ServiceUnavailable("the database is unavailable; try again shortly",
                                      headers={"Retry-After": str(retry_after)}))


async def _too_costly(request: Request, exc: Exception) -> Response:
    """A statement stopped by statement_timeout (or cancelled by an operator): 400 too-costly.

    Not 503: the same request would run as long again, and clients and proxies retry a 503 on
    their own, which is how one runaway search becomes many. A 4xx tells the client to change the
    request (fewer parameters or values, a smaller _count, a narrower date range).
    """
    limit = settings(request).statement_timeout_seconds
    log.warning("statement cancelled on %s %s", request.method, _route_of(request))
    why = f"took longer than the server allows ({limit:g} s)" if limit else "was cancelled"
    return outcome(MedcardError(
        f"the request was stopped: its database work {why}; "
        "narrow it (fewer parameters or values, a smaller _count, a narrower date range)", code="too-costly"))


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))


def internal_error() -> Response:
    """The 500 answer: an OperationOutcome that says nothing about the failure itself."""
    error = MedcardError("internal error; the administrators can find it in the server log", code="exception")
    error.status = 500
    return outcome(error)


def log_unexpected(exc: BaseException, method: str, route: str) -> None:
    """Log an unexpected error by type and code location only: its message may hold patient data."""
    frames = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}"
                         for f in reversed(traceback.extract_tb(exc.__traceback__)))
    log.error("unexpected %s on %s %s at %s", type(exc).__name__, method, route, frames)


def install(app: FastAPI) -> None:
    app.add_exception_handler(MedcardError, _medcard_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(QueryCanceled, _too_costly)  # more specific than OperationalError: taken first
