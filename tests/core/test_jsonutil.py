"""JSON as FHIR needs it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from medcard.core import jsonutil


def test_decimals_keep_their_digits() -> None:
    data = jsonutil.loads('{"a": 1.50, "b": 0.000, "c": 12, "d": -3.10e2}')
    assert data["a"] == Decimal("1.50")
    # -3.10e2 keeps its three significant digits as -310
    assert jsonutil.dumps(data) == b'{"a":1.50,"b":0.000,"c":12,"d":-310}'


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_non_numbers_are_rejected(text: str) -> None:
    with pytest.raises(jsonutil.JsonError):
        jsonutil.loads(text)


def test_errors_say_where() -> None:
    with pytest.raises(jsonutil.JsonError) as raised:
        jsonutil.loads('{\n  "a": 1,\n  "b": }')
    assert raised.value.line == 3
    assert "line 3" in str(raised.value)


def test_invalid_utf8_is_an_error_not_a_crash() -> None:
    with pytest.raises(jsonutil.JsonError, match="UTF-8"):
        jsonutil.loads(b'{"a": "\xff"}')
