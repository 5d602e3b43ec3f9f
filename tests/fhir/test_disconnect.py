"""A request whose client has gone stops its work: the handler is cancelled, and its query in PostgreSQL.

The slow query is a real one: a search with hundreds of repetitions of ``family=``, which PostgreSQL
takes minutes to plan (the reason searches are limited to ``max_search_criteria`` criteria). The
server here allows it, so that there is a query to watch in ``pg_stat_activity``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import psycopg
import pytest

from conftest import ServerThread
from helpers import bearer, post, system_token
from medcard.config import Settings

REPETITIONS = 300  # PostgreSQL plans 80 in ~10 s; 300 take many minutes
APPEARS_WITHIN = 30.0  # seconds for the search to reach PostgreSQL
GONE_WITHIN = 20.0  # seconds for it to leave once the client is gone; it would run for minutes


@pytest.fixture
def lenient_server(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A server that lets a search have as many criteria as a client sends, and run as long as it takes
    (the statement timeout would end it too, and this test is about the client going away)."""
    lenient = settings.model_copy(update={"max_search_criteria": 10_000, "statement_timeout_seconds": 0})
    with ServerThread(database_url, lenient) as srv:
        yield srv


def _slow_searches(database_url: str) -> list[int]:
    """The server processes of medcard's running searches over names."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'medcard' AND state = 'active' "
            "AND query LIKE '%%sp_string%%' AND pid <> pg_backend_pid()").fetchall()
    return [r[0] for r in rows]


def _wait_for(condition: object, seconds: float) -> bool:
    assert callable(condition)
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
        lenient_server: ServerThread, database_url: str, how: str) -> None:
    token = system_token(database_url)
    with httpx.Client(base_url=lenient_server.base, headers=bearer(token), timeout=30) as http:
        for i in range(3):
            post(http, "/Patient", {"resourceType": "Patient", "name": [{"family": f"a{i}"}]})
    query = urlencode([("family", f"a{i}") for i in range(REPETITIONS)])
    if how == "GET":
        sock = _raw_request(lenient_server.port, "GET", f"/fhir/R4/Patient?{query}", token)
    else:  # the watch must start after the body, which the handler reads first
        sock = _raw_request(lenient_server.port, "POST", "/fhir/R4/Patient/_search", token, query.encode(),
                            "application/x-www-form-urlencoded")
    try:
        assert _wait_for(lambda: _slow_searches(database_url), APPEARS_WITHIN), "the search never reached PostgreSQL"
    finally:
        sock.close()
    assert _wait_for(lambda: not _slow_searches(database_url), GONE_WITHIN), \
        "the search kept running in PostgreSQL after its client had gone"
    # the pool's connection came back usable
    with httpx.Client(base_url=lenient_server.base, headers=bearer(token), timeout=30) as http:
        r = http.get("/Patient", params={"family": "a1"})
        assert r.status_code == 200
        assert len(r.json()["entry"]) == 1
