"""COPY text as the bulk importer's workers write it, read back by a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from helpers import run_db
from medcard.core import copytext

NASTY = ["plain", "tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N", "\\.", "ё и \u2028 и 😀",
         "ends with backslash\\", "'quotes' \"double\""]


def test_values_round_trip_through_copy(database_url: str) -> None:
    rows: list[tuple[Any, ...]] = [
        (text, None, datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC), Decimal("1.50"), date(2013, 5, 1), True)
        for text in NASTY
    ]
    rows.append(("offset", "x", datetime(2020, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=3))), Decimal("-0.001"),
                 date(1, 1, 1), False))
    rows.append(("extremes", "", datetime(1, 1, 1, tzinfo=UTC), Decimal("12345678901234567890.5"), date(9999, 12, 31),
                 False))
    block = copytext.rows(copytext.text("head\\") + "\t", rows)  # a head column encoded, as the store does

    async def work(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
        await conn.execute("CREATE TEMP TABLE t (h text, a text, b text, c timestamptz, d numeric, e date, f bool)")
        async with conn.cursor() as cur:
            async with cur.copy("COPY t FROM STDIN") as copy:
                await copy.write(block)
            await cur.execute("SELECT * FROM t")
            return await cur.fetchall()

    back = run_db(database_url, work)
    assert [row[0] for row in back] == ["head\\"] * len(rows)
    assert [row[1:] for row in back] == rows  # the same instants, digits, dates and strings


def test_naive_timestamps_and_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        copytext.value(datetime(2020, 1, 1))
    with pytest.raises(TypeError, match="set"):
        copytext.value({1})


def test_bytes_as_bytea_hex() -> None:
    assert copytext.value(b"\x00\xff") == "\\\\x00ff"
