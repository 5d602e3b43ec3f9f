"""Schema migrations (Alembic), run by ``medcard db upgrade`` and by ``medcard serve``.

The database URL is handed to psycopg as it is, never parsed by SQLAlchemy: SQLAlchemy's URL
parser takes ``postgresql://h1:5432,h2:5432/db`` for a host with a port ``5432,h2:5432`` and fails,
while libpq accepts every form (several hosts for failover, ``?host=h1,h2&port=p1,p2``,
``target_session_attrs=read-write``, key=value strings). Alembic gets a connection from an engine
whose connections psycopg makes.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, pool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy URL with the psycopg 3 driver (single-host URLs only)."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def engine(url: str) -> Engine:
    """A SQLAlchemy engine on ``url`` in any form libpq accepts (see the module's docstring)."""
    return create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=pool.NullPool)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (the newest by default), each migration in its own transaction."""
    with engine(url).connect() as conn:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(url: str) -> str | None:
    with engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
