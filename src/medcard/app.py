"""create_app(): the ASGI application: the FHIR API, the workspace and portal pages, sign-in; the lifespan."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medcard import __version__, domains
from medcard.access import audit
from medcard.access.mount import mount_access
from medcard.config import Settings, get_settings
from medcard.core.db import Database
from medcard.core.gcfreeze import freeze_loaded
from medcard.core.time import today_moscow
from medcard.documents.pages import router as documents_router
from medcard.fhir.api import errors as fhir_errors
from medcard.fhir.api.archive_status import routes as archive_routes
from medcard.fhir.api.binary import routes as binary_routes
from medcard.fhir.api.bulk import router as bulk_router
from medcard.fhir.api.disconnect import CancelOnDisconnect
from medcard.fhir.api.http import InputGuard
from medcard.fhir.api.routes import router as fhir_router
from medcard.fhir.search.params import registry
from medcard.fhir.spec import r4
from medcard.portal.pages import router as portal_router
from medcard.web.errors import internal_error_page
from medcard.web.mount import mount_web
from medcard.web.workspace import day as workspace_day
from medcard.web.workspace import patients as patient_search
from medcard.web.workspace.chart import router as chart_pages
from medcard.web.workspace.visit import router as visit_router

log = logging.getLogger("medcard.access")


class RequestLog:
    """Outermost middleware: a request id, one log line per request, and a last-resort 500.

    The log line names the route template (``/fhir/R4/{rtype}/{rid}``), never the path, query or
    body: those carry names, identifiers and diagnoses. An unexpected exception is answered
    here with an OperationOutcome and logged by type and code location, never re-raised, so no
    server logs its message.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            fhir_errors.log_unexpected(exc, scope["method"], _route(scope))
            if not response_started:
                answer = internal_error_page(scope.get("path", "")) or fhir_errors.internal_error()
                await answer(scope, receive, send_with_id)
        finally:
            log.info("%s %s %s %.1fms id=%s", scope["method"], _route(scope), status,
                     (time.perf_counter() - started) * 1000, request_id)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "?"))


GIL_SWITCH_SECONDS = 0.001


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """The application; ``database_url`` overrides the settings (tests, the embedded server)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError("no database: set MEDCARD_DATABASE_URL or start medcard with `medcard serve`")
    domains.install()  # the derived tables every write keeps (the vaccination worklist)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        r4()
        registry()  # compile the search parameters before the first request
        freeze_loaded()  # what start-up loaded stays: spare it the collector's full passes
        # A document's layout (WeasyPrint, pure Python on the renderer thread) holds the GIL; the event loop
        # waits for it at every wake-up, up to the switch interval each time. 1 ms instead of 5 lets a page
        # served meanwhile through its dozen awaits without waiting for the layout (bench_portal).
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        db = Database(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                      statement_timeout=settings.statement_timeout_seconds or None,
                      durable_reads=settings.durable_read_audit)
        await db.open()
        app.state.db = db
        async with db.transaction() as conn:
            await audit.ensure_partitions(conn, today_moscow())
        try:
            yield
        finally:
            await db.close()

    app = FastAPI(title="medcard", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.settings = settings
    app.include_router(bulk_router)  # before the generic routes, which would take its paths
    app.router.routes.extend([*binary_routes.routes, *archive_routes.routes])  # files: before the generic routes
    app.router.routes.extend(fhir_router.routes)  # plain Starlette routes (see FhirRoutes)
    fhir_errors.install(app)

    app.add_middleware(CancelOnDisconnect)  # innermost: a request whose client went is logged as 499
    app.add_middleware(InputGuard, settings=settings)
    app.add_middleware(RequestLog)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        async with app.state.db.connection() as conn:
            await conn.execute("SELECT 1")
        return Response("ok", media_type="text/plain")

    app.include_router(workspace_day.router)  # «Мой день», the inbox, the registry (before the web layer's /app/)
    app.include_router(portal_router)  # the family portal: /my/..., /manifest.webmanifest
    mount_web(app)  # the pages' routes (static files, /app, /my) and their HTML error pages
    app.include_router(chart_pages)  # the chart pages: /app/patients/{id}, its timeline and changes
    app.include_router(documents_router)  # /verify/{code}: the public check of an issued document
    app.include_router(visit_router)  # /app/patients/{id}/visits/new: writing a visit
    app.include_router(patient_search.router)  # /app/patients?q= and the ICD-10 picker's options
    mount_access(app, settings)  # sign-in pages, OAuth/SMART endpoints, security headers and rate limit
    return app
