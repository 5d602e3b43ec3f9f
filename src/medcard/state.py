"""What the application keeps for every request: its database and its settings (set by ``create_app``)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from medcard.config import Settings
from medcard.core.db import Database


def database(request: HTTPConnection) -> Database:
    db: Database = request.app.state.db
    return db


def settings(request: HTTPConnection) -> Settings:
    found: Settings = request.app.state.settings
    return found
