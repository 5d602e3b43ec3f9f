"""Fixtures of the chart's data-layer tests: the hand-made record loaded through the FHIR API, and a
way to run the records' functions on a real connection with a real gate (its audit entries written)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import httpx
import psycopg
import pytest
from chart_data import transaction
from psycopg import AsyncCursor

from helpers import post
from medcard.access.gate import Gate
from medcard.access.requester import Requester, StaffRole

T = TypeVar("T")

SYSTEM = Requester(kind="system", name="test backend")
DOCTOR_ID = "00000000-0000-0000-0000-0000000000d1"
DOCTOR = Requester(kind="staff", name="Иванова А. П.", account_id=DOCTOR_ID,
                   roles=(StaffRole("pediatrician", "org1"),), practitioner_id="pr1")


class CountingCursor(AsyncCursor[Any]):
    """A cursor that counts the statements its connection runs (``conn.info``-free: a class counter)."""

    statements: ClassVar[list[str]] = []

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        CountingCursor.statements.append(str(query)[:60])
        return await super().execute(query, params, **kwargs)


@pytest.fixture
def record(http: httpx.Client) -> httpx.Client:
    response = post(http, "", transaction())
    assert response.status_code == 200, response.text
    return http


def run_gated(url: str, requester: Requester, work: Callable[[psycopg.AsyncConnection[Any], Gate], Awaitable[T]],
              *, count: list[int] | None = None) -> T:
    """Run ``work(conn, gate)`` on an autocommit connection, then write the gate's audit entries, as a page does.
    ``count``: receives the number of statements ``work`` ran."""
    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            gate = Gate(conn, requester)
            conn.cursor_factory = CountingCursor
            CountingCursor.statements = []
            try:
                result = await work(conn, gate)
            except Exception as error:
                conn.cursor_factory = psycopg.AsyncCursor
                await gate.flush_failed(conn, error)
                raise
            if count is not None:
                count.append(len(CountingCursor.statements))
            conn.cursor_factory = psycopg.AsyncCursor
            await gate.flush(conn)
            return result

    return asyncio.run(go())
