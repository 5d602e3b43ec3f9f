"""create_app(): the ASGI application (FHIR API now; the workspace and portal mount here later)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from medcard import __version__
from medcard.config import Settings, get_settings
from medcard.core.db import Database
from medcard.fhir.api import errors as fhir_errors
from medcard.fhir.api.routes import router as fhir_router
from medcard.fhir.search.params import registry
from medcard.fhir.spec import r4

log = logging.getLogger("medcard.access")


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """The application; ``database_url`` overrides the settings (tests, the embedded server)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError("no database: set MEDCARD_DATABASE_URL or start medcard with `medcard serve`")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        r4()
        registry()  # compile the search parameters before the first request
        db = Database(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        await db.open()
        app.state.db = db
        try:
            yield
        finally:
            await db.close()

    app = FastAPI(title="medcard", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.settings = settings
    app.include_router(fhir_router)
    fhir_errors.install(app)

    @app.middleware("http")
    async def access_log(request: Request, call_next):  # type: ignore[no-untyped-def]
        # Logs the route template, never the path or query: those carry identifiers and names.
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        response: Response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "?")
        log.info("%s %s %s %.1fms id=%s", request.method, template, response.status_code,
                 (time.perf_counter() - started) * 1000, request_id)
        response.headers["X-Request-Id"] = request_id
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        async with app.state.db.connection() as conn:
            await conn.execute("SELECT 1")
        return Response("ok", media_type="text/plain")

    return app
