"""A request whose client has gone stops its work: the handler is cancelled, and its query in PostgreSQL.

The search is a real one, made to wait: the test holds an exclusive lock on the table of string
index rows, so the search's statement waits in PostgreSQL (``pg_stat_activity``) for as long as the
lock is held. Only a cancellation can end it while the test holds the lock, whatever the speed of
the machine. The server's statement timeout is turned off, so it cannot be what ends it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import httpx
import psycopg
import pytest

from conftest import ServerThread
from helpers import bearer, post, system_token
from medcard.config import Settings

APPEARS_WITHIN = 30.0  # seconds for the search to reach PostgreSQL
GONE_WITHIN = 15.0  # seconds for it to leave once the client is gone; without a cancel it waits for the lock


@pytest.fixture
def patient_server(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A server whose statements may run as long as they take."""
    with ServerThread(database_url, settings.model_copy(update={"statement_timeout_seconds": 0})) as srv:
        yield srv


def _waiting_searches(database_url: str) -> list[int]:
    """The server processes of medcard's running searches over names."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'medcard' AND state = 'active' "
            "AND query LIKE '%%sp_string%%' AND pid <> pg_backend_pid()").fetchall()
    return [r[0] for r in rows]


def _wait_for(condition: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def _raw_request(port: int, method: str, path: str, token: str, body: bytes = b"",
                 content_type: str | None = None) -> socket.socket:
    """Send a request on a plain socket and leave it waiting for the answer."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Authorization: Bearer {token}"]
    if body:
        head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


@pytest.mark.slow
@pytest.mark.parametrize("how", ["GET", "POST _search"])
def test_a_search_whose_client_went_away_is_cancelled_in_postgresql(
        patient_server: ServerThread, database_url: str, how: str) -> None:
    token = system_token(database_url)
    with httpx.Client(base_url=patient_server.base, headers=bearer(token), timeout=30) as http:
        post(http, "/Patient", {"resourceType": "Patient", "name": [{"family": "Иванова"}]})
    query = urlencode({"family": "иван", "gender": "female"})
    with psycopg.connect(database_url) as lock:
        lock.execute("LOCK TABLE sp_string IN ACCESS EXCLUSIVE MODE")  # held until this block ends
        if how == "GET":
            sock = _raw_request(patient_server.port, "GET", f"/fhir/R4/Patient?{query}", token)
        else:  # the watch must start after the body, which the handler reads first
            sock = _raw_request(patient_server.port, "POST", "/fhir/R4/Patient/_search", token, query.encode(),
                                "application/x-www-form-urlencoded")
        try:
            assert _wait_for(lambda: _waiting_searches(database_url), APPEARS_WITHIN), \
                "the search never reached PostgreSQL"
        finally:
            sock.close()
        assert _wait_for(lambda: not _waiting_searches(database_url), GONE_WITHIN), \
            "the search kept running in PostgreSQL after its client had gone"
    # the pool's connection came back usable
    with httpx.Client(base_url=patient_server.base, headers=bearer(token), timeout=30) as http:
        r = http.get("/Patient", params={"family": "иван"})
        assert r.status_code == 200
        assert len(r.json()["entry"]) == 1
