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


@pytest.mark.parametrize(("text", "where", "what"), [
    ('{"resourceType": "Patient", "name": [{"family": "a\\u0000b"}]}', "Patient.name[0].family", "U+0000"),
    ('{"resourceType": "Patient", "gender": "\\ud800"}', "Patient.gender", "surrogate U+D800"),
    ('{"resourceType": "Patient", "gender": "x\\udc00"}', "Patient.gender", "surrogate U+DC00"),
    ('{"resourceType": "Patient", "gen\\u0000der": "male"}', "Patient", "U+0000"),
    ('[{"op": "add", "path": "/name", "value": ["\\ud83d"]}]', "$[0].value[0]", "surrogate U+D83D"),
])
def test_text_that_cannot_be_stored_is_refused_with_its_place(text: str, where: str, what: str) -> None:
    with pytest.raises(jsonutil.JsonError) as raised:
        jsonutil.loads(text.encode())
    assert raised.value.path == where
    assert what in str(raised.value)


def test_escapes_that_make_real_characters_are_kept() -> None:
    # a surrogate pair is one character; an escaped backslash before u0000 is plain text
    data = jsonutil.loads(b'{"a": "\\ud83d\\ude00", "b": "\\\\u0000", "c": "\\u00e9"}')
    assert data == {"a": "\U0001f600", "b": "\\u0000", "c": "é"}


def test_integers_beyond_64_bits_stay_exact_and_can_be_written_back() -> None:
    data = jsonutil.loads(b'[99999999999999999999, 9223372036854775807, -9223372036854775808, 7]')
    assert data == [Decimal("99999999999999999999"), 2**63 - 1, -(2**63), 7]
    assert jsonutil.dumps(data) == b"[99999999999999999999,9223372036854775807,-9223372036854775808,7]"


def test_an_integer_of_thousands_of_digits_is_a_number_not_an_error() -> None:
    assert jsonutil.loads(b"1" * 5000) == Decimal("1" * 5000)
