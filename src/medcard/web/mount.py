"""Mounting the web layer on the application."""

from __future__ import annotations

from fastapi import FastAPI

from medcard.web import errors, routes


def mount_web(app: FastAPI) -> None:
    """The pages' routes and error pages; call after the API's error handlers are installed."""
    app.include_router(routes.router)
    errors.install(app)
