"""JSON as FHIR needs it: decimals keep their precision, no NaN, text that can be stored, fast output.

FHIR decimals are exact (``1.50`` is not ``1.5``), so incoming numbers with a fraction or
exponent are parsed as :class:`decimal.Decimal` and written back digit for digit.

JSON can carry two things no text in medcard can hold: the character U+0000 (PostgreSQL's text
refuses it) and lone UTF-16 surrogates (``"\\ud800"``: not Unicode characters, so they cannot be
written as UTF-8). Both are refused here, where JSON enters, with the place they were found.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson


class JsonError(ValueError):
    """The text is not JSON, or holds text medcard cannot keep.

    ``line`` and ``column`` say where (1-based) a syntax error is; ``path`` says which value holds
    unstorable text, as FHIRPath when the document is a resource (``Patient.name[0].family``),
    else from ``$`` (``$[0].value``).
    """

    def __init__(self, message: str, line: int = 0, column: int = 0, path: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.path = path


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


_INT64_MIN, _INT64_END = -(2**63), 2**63


def _long_int(text: str) -> int | Decimal:
    # Python makes no int of more than 4,300 digits (a guard against its quadratic cost); such a number
    # is still JSON, and as a Decimal validation can say which element holds it.
    return int(text) if len(text) <= 4300 else Decimal(text)


_decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
# For the rare document the first refuses for a long integer (a Python call per integer costs time).
_long_int_decoder = json.JSONDecoder(parse_float=Decimal, parse_int=_long_int, parse_constant=_reject_constant)
# Only escapes make U+0000 or a surrogate in JSON text that is valid UTF-8 (a raw control character
# in a string is a syntax error), so a document without them needs no walk.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


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
        data = _decode(text)
    except json.JSONDecodeError as e:
        raise JsonError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                        e.lineno, e.colno) from None
    except (ValueError, RecursionError) as e:
        raise JsonError(f"invalid JSON: {e}") from None
    if "\\" in text and _SUSPECT_ESCAPE.search(text):  # one character is found fast: most JSON has no escape
        _check_text(data)
    return data


def _decode(text: str) -> Any:
    try:
        return _decoder.decode(text)
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer of thousands of digits (or NaN: refused again)
        return _long_int_decoder.decode(text)


def _check_text(data: Any) -> None:
    """Raise :class:`JsonError` at the first string (or object key) holding U+0000 or a lone surrogate."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            _check_string(value, data, path, "")
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, data, path, f"the name of an element in {_location(data, path)}")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))


def _check_string(text: str, root: Any, path: tuple[str | int, ...], what: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    char = found.group()
    kind = "U+0000 (NUL)" if char == "\x00" else f"a lone surrogate U+{ord(char):04X} (not a Unicode character)"
    where = _location(root, path)
    raise JsonError(f"{what or 'the string at ' + where} holds {kind}, which medcard cannot store",
                    path=where)


def _location(root: Any, path: tuple[str | int, ...]) -> str:
    """FHIRPath of a value in a resource (``Patient.name[0]``), else a path from ``$``."""
    rtype = root.get("resourceType") if isinstance(root, dict) else None
    out = rtype if isinstance(rtype, str) and rtype.isidentifier() else "$"
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}"
    return out


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(str(obj))
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, *, indent: bool = False) -> bytes:
    """UTF-8 JSON: compact, or indented by two spaces. Integers beyond 64 bits are written as they are."""
    option = orjson.OPT_INDENT_2 if indent else None
    try:
        return orjson.dumps(obj, default=_default, option=option)
    except TypeError:  # orjson writes no int beyond 64 bits (nor calls `default` for one)
        return orjson.dumps(_long_ints_written(obj), default=_default, option=option)


def _long_ints_written(obj: Any) -> Any:
    """``obj`` with every int beyond 64 bits as its digits (a JSON fragment)."""
    if isinstance(obj, dict):
        return {k: _long_ints_written(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_long_ints_written(v) for v in obj]
    if isinstance(obj, int) and not isinstance(obj, bool) and not _INT64_MIN <= obj < _INT64_END:
        return orjson.Fragment(str(obj))
    return obj


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode("utf-8")
