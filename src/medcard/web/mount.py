"""Mounting the web layer on the application."""

from __future__ import annotations

from fastapi import FastAPI

from medcard.web import errors, routes, share
from medcard.web.portal import access, notices, requests


def mount_web(app: FastAPI) -> None:
    """The pages' routes and error pages; call after the API's error handlers are installed."""
    app.include_router(routes.router)
    for module in (access, notices, requests, share):  # the portal's access pages, share links
        app.include_router(module.router)
    errors.install(app)
