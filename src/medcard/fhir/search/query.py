"""Search criteria to SQL: one strategy per parameter type.

A query string (``code=http://loinc.org|8302-2&date=ge2024-01``) is parsed against the
registry into :class:`Criterion` objects, then compiled into a WHERE clause over the
``resource`` table (alias ``r``) with one ``r.id IN (...)`` sub-select per criterion on the
index table of the parameter's type. Every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from medcard.core.errors import BadRequest, Issue
from medcard.fhir.search.params import Registry, SearchParam, registry
from medcard.fhir.search.values import date_range, decimal_range, fold

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MODIFIERS = {
    "token": {"not", "text", "missing", "exact"},
    "string": {"exact", "contains", "missing"},
    "reference": {"missing"},  # plus a resource type, e.g. subject:Patient
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "uri": {"below", "above", "missing"},
}
_TABLE = {"token": "sp_token", "string": "sp_string", "date": "sp_date", "number": "sp_number",
          "quantity": "sp_quantity", "reference": "sp_reference", "uri": "sp_uri"}


@dataclass(frozen=True, slots=True)
class Criterion:
    """One parameter occurrence: ``param[:modifier]=v1,v2`` (the values are ORed)."""

    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]


@dataclass
class ParsedQuery:
    criteria: list[Criterion] = field(default_factory=list)
    control: dict[str, list[str]] = field(default_factory=dict)  # _count, _sort, ...
    unknown: list[str] = field(default_factory=list)


def split_values(raw: str) -> tuple[str, ...]:
    """Split an OR list at commas not escaped with a backslash; unescape ``\\,``, ``\\|``, ``\\$``."""
    out, current, i = [], [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in ",|$\\":
            current.append("\\" + raw[i + 1])
            i += 2
            continue
        if ch == ",":
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    out.append("".join(current))
    return tuple(v for v in out if v != "")


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\|", "|").replace("\\$", "$").replace("\\\\", "\\")


def _split_token(value: str) -> tuple[str | None, str]:
    """``system|code`` -> (system, code); a bare code -> (None, code); ``|code`` -> ("", code)."""
    i = 0
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == "|":
            return _unescape(value[:i]), _unescape(value[i + 1:])
        i += 1
    return None, _unescape(value)


def parse(resource_type: str, pairs: Iterable[tuple[str, str]], reg: Registry | None = None,
          *, control_names: Iterable[str] = ()) -> ParsedQuery:
    """Sort query parameters into criteria, control parameters and unknown names."""
    reg = reg or registry()
    control = set(control_names)
    out = ParsedQuery()
    for name, raw in pairs:
        base, _, modifier = name.partition(":")
        if base in control:
            out.control.setdefault(base, []).append(raw)
            continue
        param = reg.get(resource_type, base)
        if param is None:
            out.unknown.append(name)
            continue
        mod = modifier or None
        if mod is not None and not _modifier_ok(param, mod, reg):
            raise BadRequest(f"modifier ':{mod}' is not supported on the {param.type} parameter '{base}'",
                             code="not-supported")
        values = split_values(raw)
        if not values:
            raise BadRequest(f"search parameter '{name}' has no value")
        out.criteria.append(Criterion(param, mod, values))
    return out


def _modifier_ok(param: SearchParam, modifier: str, reg: Registry) -> bool:
    if modifier in MODIFIERS.get(param.type, set()):
        return True
    return param.type == "reference" and modifier in reg.spec.resource_types


class SqlBuilder:
    """Hands out named placeholders for bound values, so SQL can be assembled in any order."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"


def where_clause(criteria: list[Criterion], b: SqlBuilder, alias: str = "r") -> str:
    """The AND of every criterion as SQL over ``resource`` aliased ``alias``."""
    parts = [_criterion(c, b, alias) for c in criteria]
    return " AND ".join(parts) if parts else "TRUE"


def _criterion(c: Criterion, b: SqlBuilder, alias: str) -> str:
    p = c.param
    if p.code == "_id":
        return f"{alias}.id = ANY({b.bind(list(map(_unescape, c.values)))})"
    if p.code == "_lastUpdated":
        ors = [_date_condition(v, b, f"{alias}.last_updated",
                               f"({alias}.last_updated + interval '1 millisecond')") for v in c.values]
        return "(" + " OR ".join(ors) + ")"
    table = _TABLE[p.type]
    if c.modifier == "missing":
        missing = c.values[0] == "true"
        sub = (f"SELECT 1 FROM {table} i WHERE i.resource_type = {alias}.resource_type "
               f"AND i.resource_id = {alias}.id AND {_rows_of(p, b)}")
        return f"{'NOT ' if missing else ''}EXISTS ({sub})"
    head = (f"SELECT i.resource_id FROM {table} i WHERE i.resource_type = {b.bind(p.resource_type)} "
            f"AND {_rows_of(p, b)}")
    ors = [_value_condition(p, c.modifier, v, b) for v in c.values]
    negate = p.type == "token" and c.modifier == "not"
    sub = f"{head} AND (" + " OR ".join(ors) + ")"
    return f"{alias}.id {'NOT IN' if negate else 'IN'} ({sub})"


def _rows_of(p: SearchParam, b: SqlBuilder) -> str:
    """The index rows of a parameter: its own, or those of the parameters it restates."""
    conditions = []
    for code, target in p.rows_of:
        if target is None:
            conditions.append(f"i.param = {b.bind(code)}")
        else:
            conditions.append(f"(i.param = {b.bind(code)} AND i.target_type = {b.bind(target)})")
    return conditions[0] if len(conditions) == 1 else "(" + " OR ".join(conditions) + ")"


def _value_condition(p: SearchParam, modifier: str | None, value: str, b: SqlBuilder) -> str:
    kind = p.type
    if kind == "token":
        return _token_condition(value, modifier, b)
    if kind == "string":
        return _string_condition(value, modifier, b)
    if kind == "reference":
        return _reference_condition(p, value, modifier, b)
    if kind == "date":
        return _date_condition(value, b, "i.low", "i.high")
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
        text = fold(_unescape(value))
        return (f"(i.text LIKE {b.bind(_like_prefix(text))} "
                f"OR i.text LIKE {b.bind('% ' + _like_escape(text) + '%')})")
    system, code = _split_token(value)
    if system is None:
        return f"i.code = {b.bind(code)}"
    if system == "":
        return f"(i.system IS NULL AND i.code = {b.bind(code)})"
    if code == "":
        return f"i.system = {b.bind(system)}"
    return f"(i.system = {b.bind(system)} AND i.code = {b.bind(code)})"


def _string_condition(value: str, modifier: str | None, b: SqlBuilder) -> str:
    text = _unescape(value)
    if modifier == "exact":
        return f"i.exact = {b.bind(text)}"
    folded = fold(text)
    if modifier == "contains":
        return f"i.value LIKE {b.bind('%' + _like_escape(folded) + '%')}"
    return f"i.value LIKE {b.bind(_like_prefix(folded))}"


def _reference_condition(p: SearchParam, value: str, modifier: str | None, b: SqlBuilder) -> str:
    ref = _unescape(value)
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
    uri = _unescape(value)
    if modifier == "below":
        return f"i.value LIKE {b.bind(_like_prefix(uri))}"
    if modifier == "above":
        return f"{b.bind(uri)} LIKE (replace(replace(i.value, '%', '\\%'), '_', '\\_') || '%')"
    return f"i.value = {b.bind(uri)}"


def _prefixed(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and not value[:2].isdigit():
        return value[:2], value[2:]
    return "eq", value


def _decimal(text: str, code: str) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise BadRequest(f"'{text}' is not a number (search parameter '{code}')") from None
    if not number.is_finite():
        raise BadRequest(f"'{text}' is not a finite number (search parameter '{code}')")
    return number


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
                condition += f" AND i.system = {b.bind(_unescape(system))}"
            condition += f" AND i.code = {b.bind(_unescape(code))}"
        elif system:
            condition += f" AND i.code = {b.bind(_unescape(system))}"  # number|unit shorthand
    return f"({condition})"


def _date_condition(value: str, b: SqlBuilder, low_col: str, high_col: str) -> str:
    prefix, text = _prefixed(value)
    rng = date_range(text)
    if rng is None:
        raise BadRequest(f"'{text}' is not a FHIR date or dateTime (e.g. 2024, 2024-03-01, "
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
    now = datetime.now(UTC)
    margin = max(abs(now - low) / 10, timedelta(days=1))  # ap: within 10 % of the distance to now
    return f"({low_col} < {b.bind(high + margin)} AND {high_col} > {b.bind(low - margin)})"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_prefix(text: str) -> str:
    return _like_escape(text) + "%"


def strict_criteria(resource_type: str, query: str, reg: Registry | None = None) -> list[Criterion]:
    """Criteria of a conditional operation: every parameter must be known (else 400)."""
    from urllib.parse import parse_qsl

    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        raise BadRequest(f"the condition on {resource_type} has no search parameters")
    parsed = parse(resource_type, pairs, reg)
    if parsed.unknown:
        raise BadRequest(
            f"unknown search parameter(s) for {resource_type}: {', '.join(parsed.unknown)}",
            [Issue(f"unknown search parameter '{n}' for {resource_type}", code="not-supported")
             for n in parsed.unknown],
        )
    return parsed.criteria
