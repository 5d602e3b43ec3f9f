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


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The message and locals may hold patient data: log only the exception type and the code path.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unexpected %s on %s %s\n%s", type(exc).__name__, request.method,
              request.scope.get("route_path", "?"), frames)
    error = MedcardError("internal error; the administrators can find it in the server log", code="exception")
    error.status = 500
    return outcome(error)


def install(app: FastAPI) -> None:
    app.add_exception_handler(MedcardError, _medcard_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
