"""Mounting the sign-in pages, the OAuth/SMART endpoints and the hardening middleware on the app."""

from __future__ import annotations

from fastapi import FastAPI

from medcard.access import mailer, oauth, oidc, register, web
from medcard.access.hardening import Hardening
from medcard.config import Settings


def mount_access(app: FastAPI, settings: Settings) -> None:
    """Add the routes and the middleware; call at the end of ``create_app``.

    The discovery document under the FHIR base must be matched before the FHIR router's
    ``/{rtype}/{rid}``, so its router is moved to the front of the route list.

    Mail to families goes through ``app.state.mailer``: by default it is written to
    ``MEDCARD_HOME/outbox/`` unless a mail server is configured (``MEDCARD_SMTP_HOST``).
    """
    app.include_router(oauth.fhir_router)
    app.router.routes.insert(0, app.router.routes.pop())
    app.include_router(oauth.router)
    app.include_router(web.router)
    app.include_router(oidc.router)
    app.include_router(register.router)
    app.state.mailer = mailer.from_settings(settings)
    app.add_middleware(Hardening, settings=settings)
