"""Helpers of the chart's data-layer tests: requesters, and a way to run the records' functions on a real
connection with a real gate (its audit entries written), counting the statements they run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg import AsyncCursor

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
