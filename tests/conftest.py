"""Test fixtures: a real PostgreSQL and a real medcard server on a real port.

The database is the embedded PostgreSQL, started once per test session in a temporary
directory, or the server named by ``MEDCARD_TEST_DATABASE_URL`` (a database the tests may
empty). Every test starts from empty tables. The server runs in a thread on a free port,
so tests drive it through real HTTP clients: httpx and fhirpy. Every FHIR resource the
server returns to them is validated against the R4 definitions.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from fhirpy import SyncFHIRClient

from helpers import bearer, system_token
from medcard import domains
from medcard.app import create_app
from medcard.config import Settings
from medcard.core import jsonutil, migrate
from medcard.core import time as medcard_time
from medcard.core.embedded import embedded_database
from medcard.fhir.validation import validation_issues

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
domains.install()  # as every entry point does: tests that write through the store directly keep the worklist too

# The day medcard's calendar shows in every test: ages, the policy's age limits, the pediatric operations'
# default date and `ap` date searches are reckoned on it, so no test passes today and fails on a later date.
# Instants (meta.lastUpdated, token and session expiry) stay the wall clock's: PostgreSQL's now() checks them.
FIXED_TODAY = date(2026, 11, 26)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> date:
    """Fix medcard's today (``core.time.today_moscow``) for the test and the server thread it talks to."""
    monkeypatch.setattr(medcard_time, "calendar", lambda: FIXED_TODAY)
    return FIXED_TODAY


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("MEDCARD_TEST_DATABASE_URL")
    if external:
        migrate.upgrade(external)
        yield external
        return
    home = tmp_path_factory.mktemp("medcard-home")
    with embedded_database(home) as url:
        migrate.upgrade(url)
        yield url


# Reference data the migrations load (the shipped ICD-10 list): kept between tests like the schema itself.
REFERENCE_TABLES = ("alembic_version", "icd10")


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> ALL(%s)",
            (list(REFERENCE_TABLES),)).fetchall()
    return [r[0] for r in rows]


@pytest.fixture(autouse=True)
def clean_database(request: pytest.FixtureRequest) -> None:
    """Empty every table before each test that uses the database."""
    if "database_url" not in request.fixturenames and "server" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    tables = _tables(url)
    with psycopg.connect(url) as conn:
        conn.execute(f"TRUNCATE {', '.join(tables)}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerThread:
    """A medcard server in a thread of the test process."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.port = free_port()
        self.app = create_app(settings, database_url=url)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/R4"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The test server's settings: its own data directory (bulk files), the test database."""
    home = tmp_path_factory.mktemp("server-home")
    return Settings(home=home, database_url=database_url, db_pool_min=2, db_pool_max=8,
                    max_body_bytes=16 * 1024 * 1024, import_dir=home / "imports",
                    token_cache_seconds=0)  # revocations in tests take effect at once


@pytest.fixture(scope="session")
def server(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(database_url, settings) as srv:
        yield srv


def check_fhir_response(response: httpx.Response) -> None:
    """Every resource the server returns must be valid R4."""
    response.read()
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type or not response.content:
        return
    lines = response.content.splitlines() if "ndjson" in content_type else [response.content]
    for line in lines:
        body = jsonutil.loads(line)
        if isinstance(body, dict) and "resourceType" in body:
            issues = validation_issues(body)
            assert not issues, f"server returned an invalid {body['resourceType']}: {issues[:3]}"


@pytest.fixture
def token(database_url: str, server: ServerThread) -> str:
    """An access token of a backend service (system scopes): what integrations use."""
    return system_token(database_url)


@pytest.fixture
def http(server: ServerThread, token: str) -> Iterator[httpx.Client]:
    """Plain HTTP to the FHIR base as a backend service, with every returned resource validated."""
    with httpx.Client(base_url=server.base, timeout=60, headers=bearer(token),
                      event_hooks={"response": [check_fhir_response]}) as client:
        yield client


@pytest.fixture
def anonymous(server: ServerThread) -> Iterator[httpx.Client]:
    """Plain HTTP to the FHIR base without credentials."""
    with httpx.Client(base_url=server.base, timeout=60, event_hooks={"response": [check_fhir_response]}) as client:
        yield client


@pytest.fixture
def fhir(server: ServerThread, token: str) -> SyncFHIRClient:
    """The fhirpy client against the FHIR base, as a backend service."""
    return SyncFHIRClient(server.base, authorization=f"Bearer {token}",
                          extra_headers={"Accept": "application/fhir+json"})
