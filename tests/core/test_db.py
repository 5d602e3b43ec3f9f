"""The connection pool: the statement timeout of API requests, and what is left without it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg.errors import QueryCanceled

from conftest import ServerThread
from helpers import bearer, created_id, post, system_token
from medcard.config import Settings
from medcard.core.db import Database


def test_the_statement_timeout_stops_a_slow_statement_and_bulk_pools_have_none(database_url: str) -> None:
    async def run() -> None:
        limited = Database(database_url, min_size=1, max_size=1, statement_timeout=0.2)
        unlimited = Database(database_url, min_size=1, max_size=1)  # what jobs, import and export use
        await limited.open()
        await unlimited.open()
        try:
            async with limited.connection() as conn:
                with pytest.raises(QueryCanceled):
                    await conn.execute("SELECT pg_sleep(3)")
            async with limited.connection() as conn:  # the connection is still good, and still limited
                assert await (await conn.execute("SHOW statement_timeout")).fetchone() == ("200ms",)
            async with unlimited.connection() as conn:
                await conn.execute("SELECT pg_sleep(0.5)")
                assert await (await conn.execute("SHOW statement_timeout")).fetchone() == ("0",)
        finally:
            await limited.close()
            await unlimited.close()

    asyncio.run(run())


@pytest.fixture
def impatient_server(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A server whose statements may run for one second."""
    with ServerThread(database_url, settings.model_copy(update={"statement_timeout_seconds": 1.0})) as srv:
        yield srv


def test_a_request_stopped_by_the_statement_timeout_is_a_400_too_costly(
        database_url: str, impatient_server: ServerThread) -> None:
    with httpx.Client(base_url=impatient_server.base, timeout=30,
                      headers=bearer(system_token(database_url))) as http:
        patient = created_id(post(http, "/Patient", {"resourceType": "Patient", "gender": "female"}))
        # A real slow statement: the read waits for a lock that another session holds.
        with psycopg.connect(database_url) as blocker:
            blocker.execute("LOCK TABLE resource IN ACCESS EXCLUSIVE MODE")
            try:
                stopped = http.get(f"/Patient/{patient}")
            finally:
                blocker.rollback()
        assert stopped.status_code == 400, stopped.text
        issue = stopped.json()["issue"][0]
        assert issue["code"] == "too-costly"
        assert "1 s" in issue["diagnostics"]
        assert http.get(f"/Patient/{patient}").status_code == 200  # the server and its pool are fine
