"""What every medcard command sets up: logging, the database, the schema check, and the server itself.

``cli.py`` (the ``medcard`` commands) and the commands kept with their domains
(``access/commands.py``, ``synth/commands.py``) all start from here, so imports run one way:
commands -> launch -> config and core.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

import typer

from medcard import __version__
from medcard.config import Settings, export_database_url, get_settings

log = logging.getLogger("medcard")


def logging_config(level: str) -> dict[str, Any]:
    """One log format for medcard and uvicorn; no access log with URLs (they carry patient data)."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": fmt}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "medcard": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def setup_logging(settings: Settings) -> None:
    import logging.config

    logging.config.dictConfig(logging_config(settings.log_level))


@contextlib.contextmanager
def database(settings: Settings, *, exclusive: bool = False, supervise: bool = False) -> Iterator[str]:
    """The database URL: the configured server, or the embedded one (started for the duration).

    ``supervise``: restart the embedded server if it dies while this process runs (``serve``).
    """
    if settings.database_url:
        yield settings.database_url
        return
    from medcard.core.embedded import EmbeddedDatabaseError, embedded_database

    try:
        with embedded_database(settings.home, exclusive=exclusive, supervise=supervise) as url:
            yield url
    except EmbeddedDatabaseError as e:
        typer.echo(f"medcard: {e}", err=True)
        raise typer.Exit(1) from None


def require_current_schema(url: str) -> None:
    """Stop with a message when the database's schema is not the one this medcard needs."""
    from medcard.core import migrate

    current, head = migrate.current_revision(url), migrate.head_revision()
    if current != head:
        typer.echo(f"medcard: the database schema is at {current or 'nothing'}, this medcard needs {head}; "
                   "run `medcard db upgrade` first", err=True)
        raise typer.Exit(1)


def schema_ready(settings: Settings, url: str) -> None:
    """The embedded database is migrated on the spot; an external one must already be current."""
    from medcard.core import migrate

    if settings.database_url:
        require_current_schema(url)
    else:
        migrate.upgrade(url)


class _Stop:
    """The handler of SIGINT and SIGTERM while a command runs: the first one stops it, later ones wait."""

    stopping = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        log.info("stopping on %s", signal.Signals(signum).name)
        raise SystemExit(0)


_STOP = _Stop()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM stop the command cleanly: everything unwinds and the exit code is 0.

    uvicorn handles both while it serves and raises them again once it has shut down; they then
    land here. A stop that was asked for is not a failure (``make run`` must not report one), so
    the exit is 0, not 128 + the signal's number. A second signal while unwinding is ignored, so
    that stopping the job workers and the embedded PostgreSQL is not cut short. Nested uses
    (``demo`` serves) keep the outer one.
    """
    if signal.getsignal(signal.SIGTERM) is _STOP:
        yield
        return
    previous = {sig: signal.signal(sig, _STOP) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _STOP.stopping = False


def serve(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Run the server until SIGINT or SIGTERM (starting the embedded PostgreSQL unless a URL is configured)."""
    import uvicorn

    from medcard import worker as worker_processes

    settings = get_settings()
    setup_logging(settings)
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    with stop_on_signals(), database(settings, exclusive=True, supervise=True) as url:
        schema_ready(settings, url)
        export_database_url(url)  # the worker processes read it from their environment
        where = "an external database" if settings.database_url else f"embedded PostgreSQL in {settings.pgdata}"
        typer.echo(f"medcard {__version__} serving http://{host}:{port}/fhir/R4 on {where}; Ctrl-C stops it",
                   err=True)
        with worker_processes.started(url, settings.job_workers, logging_config(settings.log_level)):
            uvicorn.run("medcard.app:create_app", factory=True, host=host, port=port, workers=workers,
                        access_log=False, log_config=logging_config(settings.log_level), server_header=False,
                        proxy_headers=True, timeout_graceful_shutdown=10)
