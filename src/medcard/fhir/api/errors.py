"""Every error of the API becomes an OperationOutcome with the right status, in one place."""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from psycopg import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from medcard.core import jsonutil
from medcard.core.errors import (
    BadRequest,
    MedcardError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)
from medcard.fhir.api.http import CONTENT_TYPE

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
    log.error("database unavailable: %s", type(exc).__name__)
    return outcome(ServiceUnavailable("the database is unavailable; try again shortly"))


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
