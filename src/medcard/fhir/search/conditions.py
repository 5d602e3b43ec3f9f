"""Value conditions: one strategy per search parameter type.

Each function turns one search value (``ge2024-03``, ``http://loinc.org|8302-2``, ``иван``)
into a SQL condition over the index table row ``i`` of its parameter type, binding every value.
The prefixes and modifiers follow FHIR R4 search (https://hl7.org/fhir/R4/search.html).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from medcard.core.errors import BadRequest
from medcard.core.time import CLINIC_TZ, today_moscow
from medcard.fhir.search.index import MAX_INDEXED_STRING
from medcard.fhir.search.params import SearchParam
from medcard.fhir.search.values import MAX_TIME, MIN_TIME, date_range, decimal_range, fold
from medcard.fhir.validation import decimal_problem

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


Visibility = Callable[["SqlBuilder", str, str], str]


class SqlBuilder:
    """Hands out named placeholders for bound values, so SQL can be assembled in any order."""

    def __init__(self, visible: Visibility | None = None) -> None:
        self.params: dict[str, Any] = {}
        # The access policy's condition on ``resource`` rows (type, alias) -> SQL, applied to every
        # subquery that reads resources (chains, _has); None: no restriction.
        self.visible = visible

    def restrict(self, rtype: str, alias: str) -> str:
        """`` AND <what the requester may see>`` for rows of ``alias``, or nothing."""
        return f" AND {self.visible(self, rtype, alias)}" if self.visible is not None else ""

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"


def unescape(value: str) -> str:
    """Undo the search escapes ``\\,``, ``\\|``, ``\\$`` and ``\\\\``."""
    return value.replace("\\,", ",").replace("\\|", "|").replace("\\$", "$").replace("\\\\", "\\")


def split_token(value: str) -> tuple[str | None, str]:
    """``system|code`` -> (system, code); a bare code -> (None, code); ``|code`` -> ("", code)."""
    i = 0
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == "|":
            return unescape(value[:i]), unescape(value[i + 1:])
        i += 1
    return None, unescape(value)


def value_condition(p: SearchParam, modifier: str | None, value: str, b: SqlBuilder) -> str:
    kind = p.type
    if kind == "token":
        return _token_condition(value, modifier, b)
    if kind == "string":
        return _string_condition(value, modifier, b)
    if kind == "reference":
        return _reference_condition(p, value, modifier, b)
    if kind == "date":
        return date_condition(value, b, "i.low", "i.high")
    if kind == "number":
        prefix, number = _prefixed(value)
        return _number_condition(prefix, _decimal(number, p.code), b, "i.value")
    if kind == "quantity":
        return _quantity_condition(p, value, b)
    if kind == "uri":
        return _uri_condition(value, modifier, b)
    raise BadRequest(f"search parameter type {kind} is not supported", code="not-supported")


def _token_condition(value: str, modifier: str | None, b: SqlBuilder) -> str:
    if modifier == "text":
        text = _folded(unescape(value))
        return (f"(i.text LIKE {b.bind(_like_prefix(text))} "
                f"OR i.text LIKE {b.bind('% ' + _like_escape(text) + '%')})")
    system, code = split_token(value)
    if system is None:
        return f"i.code = {b.bind(code)}"
    if system == "":
        return f"(i.system IS NULL AND i.code = {b.bind(code)})"
    if code == "":
        return f"i.system = {b.bind(system)}"
    return f"(i.system = {b.bind(system)} AND i.code = {b.bind(code)})"


def _string_condition(value: str, modifier: str | None, b: SqlBuilder) -> str:
    text = unescape(value)
    if modifier == "exact":
        return f"i.exact = {b.bind(text)}"
    folded = _folded(text)
    if modifier == "contains":
        return f"i.value LIKE {b.bind('%' + _like_escape(folded) + '%')}"
    return f"i.value LIKE {b.bind(_like_prefix(folded))}"


def _reference_condition(p: SearchParam, value: str, modifier: str | None, b: SqlBuilder) -> str:
    ref = unescape(value)
    if ref.startswith(("http://", "https://", "urn:")):
        return f"i.url = {b.bind(ref)}"
    ref = ref.split("/_history/")[0]
    parts = ref.split("/")
    if len(parts) == 2:
        return f"(i.target_type = {b.bind(parts[0])} AND i.target_id = {b.bind(parts[1])})"
    if len(parts) != 1:
        raise BadRequest(f"'{value}' is not a reference (expected Type/id, id or a URL) for '{p.code}'")
    if modifier is not None:
        return f"(i.target_type = {b.bind(modifier)} AND i.target_id = {b.bind(ref)})"
    return f"i.target_id = {b.bind(ref)}"


def _uri_condition(value: str, modifier: str | None, b: SqlBuilder) -> str:
    uri = unescape(value)
    if modifier == "below":
        return f"i.value LIKE {b.bind(_like_prefix(uri))}"
    if modifier == "above":
        # "%%" is a literal % for psycopg: the stored URI, LIKE-escaped, as a prefix of the value
        return f"{b.bind(uri)} LIKE (replace(replace(i.value, '%%', '\\%%'), '_', '\\_') || '%%')"
    return f"i.value = {b.bind(uri)}"


def _prefixed(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and not value[:2].isdigit():
        return value[:2], value[2:]
    return "eq", value


def _decimal(text: str, code: str) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise BadRequest(f"'{_clip(text)}' is not a number (search parameter '{code}')") from None
    problem = decimal_problem(number)  # what no stored value can be, PostgreSQL's numeric may not hold
    if problem is not None:
        raise BadRequest(f"{problem} (search parameter '{code}')")
    return number


def _folded(text: str) -> str:
    """A string search value as the index keeps strings: folded, and cut where the index cuts them."""
    return fold(text[:MAX_INDEXED_STRING])[:MAX_INDEXED_STRING]


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _number_condition(prefix: str, number: Decimal, b: SqlBuilder, column: str) -> str:
    low, high = decimal_range(number)
    if prefix == "eq":
        return f"({column} >= {b.bind(low)} AND {column} < {b.bind(high)})"
    if prefix == "ne":
        return f"({column} < {b.bind(low)} OR {column} >= {b.bind(high)})"
    if prefix in ("gt", "sa"):
        return f"{column} > {b.bind(number)}"
    if prefix in ("lt", "eb"):
        return f"{column} < {b.bind(number)}"
    if prefix == "ge":
        return f"{column} >= {b.bind(number)}"
    if prefix == "le":
        return f"{column} <= {b.bind(number)}"
    margin = abs(number) / 10  # ap: within 10 %
    return f"({column} >= {b.bind(number - margin)} AND {column} <= {b.bind(number + margin)})"


def _quantity_condition(p: SearchParam, value: str, b: SqlBuilder) -> str:
    prefix, rest = _prefixed(value)
    number, _, unit = rest.partition("|")
    condition = _number_condition(prefix, _decimal(number, p.code), b, "i.value")
    if unit:
        system, _, code = unit.partition("|")
        if code:
            if system:
                condition += f" AND i.system = {b.bind(unescape(system))}"
            condition += f" AND i.code = {b.bind(unescape(code))}"
        elif system:
            condition += f" AND i.code = {b.bind(unescape(system))}"  # number|unit shorthand
    return f"({condition})"


def date_condition(value: str, b: SqlBuilder, low_col: str, high_col: str) -> str:
    prefix, text = _prefixed(value)
    rng = date_range(text)
    if rng is None:
        raise BadRequest(f"'{_clip(text)}' is not a FHIR date or dateTime (e.g. 2024, 2024-03-01, "
                         "2024-03-01T10:00:00+03:00)")
    low, high = rng
    contained = f"({low_col} >= {b.bind(low)} AND {high_col} <= {b.bind(high)})"
    if prefix == "eq":
        return contained
    if prefix == "ne":
        return f"NOT {contained}"
    if prefix == "gt":
        return f"{high_col} > {b.bind(high)}"
    if prefix == "lt":
        return f"{low_col} < {b.bind(low)}"
    if prefix == "ge":
        return f"({high_col} > {b.bind(high)} OR {contained})"
    if prefix == "le":
        return f"({low_col} < {b.bind(low)} OR {contained})"
    if prefix == "sa":
        return f"{low_col} >= {b.bind(high)}"
    if prefix == "eb":
        return f"{high_col} <= {b.bind(low)}"
    # ap: within 10 % of the distance to now, reckoned from the start of the clinics' today (a day is the
    # least margin anyway, and tests can fix the day: core/time.py)
    now = datetime.combine(today_moscow(), time(), CLINIC_TZ)
    margin = max(abs(now - low) / 10, timedelta(days=1))
    upper = high + margin if MAX_TIME - high > margin else MAX_TIME  # near the ends of time: clamped
    lower = low - margin if low - MIN_TIME > margin else MIN_TIME
    return f"({low_col} < {b.bind(upper)} AND {high_col} > {b.bind(lower)})"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(text: str) -> str:
    return _like_escape(text) + "%"
