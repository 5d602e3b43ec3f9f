"""JSON as FHIR needs it: decimals keep their precision, no NaN, fast output.

FHIR decimals are exact (``1.50`` is not ``1.5``), so incoming numbers with a fraction or
exponent are parsed as :class:`decimal.Decimal` and written back digit for digit.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson


class JsonError(ValueError):
    """The text is not JSON; ``line`` and ``column`` say where (1-based)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


_decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def loads(data: str | bytes) -> Any:
    """Parse JSON text; raise :class:`JsonError` with a position on bad input."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonError(f"the body is not valid UTF-8 (byte {e.start})") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return _decoder.decode(text)
    except json.JSONDecodeError as e:
        raise JsonError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                        e.lineno, e.colno) from None
    except (ValueError, RecursionError) as e:
        raise JsonError(f"invalid JSON: {e}") from None


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(str(obj))
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, *, indent: bool = False) -> bytes:
    """UTF-8 JSON: compact, or indented by two spaces."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_INDENT_2 if indent else None)


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode("utf-8")
