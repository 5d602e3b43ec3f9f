"""Running a search: criteria, sort and page to SQL; rows, includes and links to a searchset Bundle.

Pages are cut by keyset on (sort values, id), so ``next`` and ``previous`` links stay correct
while resources are written and a deep page costs what the first one does. A search makes a
fixed number of queries: the page, the total when asked for, and one per ``_include`` /
``_revinclude`` round.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from psycopg import AsyncConnection

from medcard.core import jsonutil
from medcard.core.errors import BadRequest, Issue
from medcard.fhir import bundles, paging
from medcard.fhir.search import limits
from medcard.fhir.search.conditions import SqlBuilder, Visibility, unescape
from medcard.fhir.search.params import registry
from medcard.fhir.search.phonetic import (
    closest_name,
    patient_score,
    plain_dates,
    ranked_matches,
    scores_by_patient,
    search_keys,
)
from medcard.fhir.search.query import Criterion, ParsedQuery, parse, rows_of, where_clause
from medcard.fhir.search.subset import SUMMARY_MODES, select_elements, summarize
from medcard.fhir.validation import decimal_problem

CONTROL = ("_count", "_cursor", "_format", "_pretty", "_total", "_sort", "_include", "_revinclude",
           "_summary", "_elements", "_type")
MAX_INCLUDED = 1000
MAX_ITERATIONS = 3
_SORT_TYPES = {"date": "timestamptz", "number": "numeric", "quantity": "numeric"}


@dataclass(frozen=True)
class SearchRequest:
    resource_type: str  # "*" for every type of a compartment
    pairs: list[tuple[str, str]]
    base: str  # .../fhir/R4
    default_count: int = 50
    max_count: int = 1000
    strict: bool = False
    compartment: tuple[str, str] | None = None  # ("Patient", id)
    types: tuple[str, ...] = ()  # the types "*" stands for
    # The access policy's condition on every resource row the search reads (None: unrestricted),
    # and a callback told (type, id, patient) of every resource the result shows.
    visible: Visibility | None = None
    shown: Callable[[tuple[str, str, str | None]], None] | None = None

    def __post_init__(self) -> None:
        # Refused before anything reads the parameters (the access check reads the patient searched for).
        limits.check_text(self.pairs)


@dataclass(frozen=True)
class SortKey:
    sql: str  # an expression over r
    descending: bool
    sql_type: str  # for binding keyset values back


@dataclass
class _Plan:
    where: str
    b: SqlBuilder
    keys: list[SortKey]
    count: int
    cursor: tuple[str, list[Any]] | None  # ("n" | "p", keyset) of the page asked for
    warnings: list[Issue] = field(default_factory=list)
    scored: bool = False  # the first sort key is a relevance score (phonetic search)
    source: str = "resource r"  # what the page reads: resource, or resource joined to a ranked driver


@dataclass
class _Page:
    rows: list[tuple[str, str, str, str | None]]  # (type, id, content, patient)
    keys: list[list[Any]]  # the keyset of each row
    scores: list[float | None]
    more_after: bool
    more_before: bool


async def search(conn: AsyncConnection, req: SearchRequest) -> str:
    """A page of matches as searchset Bundle JSON text."""
    parsed, plan = _plan(req)
    summary = parsed.control.get("_summary", ["false"])[-1]
    if summary not in SUMMARY_MODES:
        raise BadRequest(f"_summary must be one of {', '.join(SUMMARY_MODES)}")
    if summary == "count" or plan.count == 0:  # _count=0 asks for the total alone, as _summary=count does
        return bundles.bundle("searchset", [], total=await _count(conn, plan), links=[("self", _url(req, None))])
    page = await _page(conn, plan)
    total = await _total(conn, plan, parsed, len(page.rows), page.more_after, page.more_before)
    entries = [_entry(req, rtype, rid, content, summary, parsed, score)
               for (rtype, rid, content, _), score in zip(page.rows, page.scores, strict=True)]
    included = await _includes(conn, req, parsed, [(r[0], r[1]) for r in page.rows], plan.warnings)
    entries += [bundles.entry(full_url=f"{req.base}/{t}/{i}", content=_shaped(c, summary, None),
                              search_mode="include") for t, i, c, _ in included]
    if req.shown is not None:
        for t, i, _, p in page.rows + included:
            req.shown((t, i, p))
    if plan.warnings:
        outcome = {"resourceType": "OperationOutcome", "issue": [w.to_fhir() for w in plan.warnings]}
        entries.append(bundles.entry(content=jsonutil.dumps_str(outcome), search_mode="outcome"))
    return bundles.bundle("searchset", entries, total=total, links=_links(req, plan, page))


# planning ----------------------------------------------------------------------


def _plan(req: SearchRequest) -> tuple[ParsedQuery, _Plan]:
    if req.resource_type == "*":
        parsed = _parse_any_type(req)
    else:
        parsed = parse(req.resource_type, req.pairs, control_names=CONTROL)
    warnings = _unknown(req, parsed)
    _check_includes(parsed)
    b = SqlBuilder(req.visible)
    patient = req.compartment[1] if req.compartment else _single_patient(parsed.criteria)
    conds = ["NOT r.deleted"]
    if req.visible is not None:
        conds.append(req.visible(b, req.resource_type, "r"))
    if req.resource_type == "*":
        conds.append(f"r.resource_type = ANY({b.bind(list(req.types))})")
    else:
        conds.append(f"r.resource_type = {b.bind(req.resource_type)}")
    if req.compartment is not None:
        pid = b.bind(req.compartment[1])
        conds.append(f"(r.patient_id = {pid} OR r.id IN (SELECT c.resource_id FROM resource_compartment c "
                     f"WHERE c.patient_id = {pid} AND c.resource_type = r.resource_type))")
    driver = _phonetic_driver(req, parsed, b)
    criteria = [c for c in parsed.criteria if driver is None or c is not driver[1]]
    conds.append(where_clause(criteria, b, patient=patient))
    keys, scored = _sort_keys(req, parsed, b, driver is not None)
    cursor = None
    if "_cursor" in parsed.control:
        raw = paging.decode(parsed.control["_cursor"][-1])
        if len(raw) != 2 or raw[0] not in ("n", "p") or not isinstance(raw[1], list) or len(raw[1]) != len(keys):
            raise BadRequest("the paging token does not fit this search (was the link edited?)")
        cursor = (str(raw[0]), _keyset_values(keys, raw[1]))
    return parsed, _Plan(" AND ".join(conds), b, keys, _page_size(req, parsed), cursor, warnings, scored,
                         driver[0] if driver is not None else "resource r")


def _keyset_values(keys: list[SortKey], values: list[Any]) -> list[Any]:
    """The keyset of a paging token as values of its keys' types (an edited token is 400, not a database error)."""
    out: list[Any] = []
    try:
        for key, value in zip(keys, values, strict=True):
            if value is None:
                out.append(None)
            elif key.sql_type == "timestamptz":
                out.append(datetime.fromisoformat(value))
            elif key.sql_type == "numeric":
                number = Decimal(str(value))
                if decimal_problem(number) is not None:
                    raise ValueError(number)
                out.append(number)
            elif key.sql_type == "float8":
                score = float(value)
                if not math.isfinite(score):
                    raise ValueError(score)
                out.append(score)
            elif isinstance(value, str):
                out.append(value)
            else:
                raise TypeError(value)
    except (ValueError, TypeError, ArithmeticError):
        raise BadRequest("the paging token does not fit this search (was the link edited?)") from None
    return out


def _parse_any_type(req: SearchRequest) -> ParsedQuery:
    """A search over every type of a compartment takes only parameters common to all resources."""
    parsed = ParsedQuery()
    common: list[tuple[str, str]] = []
    for name, value in req.pairs:
        base = name.split(":", 1)[0]
        if base in CONTROL:
            parsed.control.setdefault(base, []).append(value)
        elif base in ("_content", "_text", "_id", "_lastUpdated"):
            common.append((name, value))
        else:
            parsed.unknown.append(name)
    parsed.criteria = parse("Patient", common).criteria
    return parsed


def _check_includes(parsed: ParsedQuery) -> None:
    """Each ``_include`` and ``_revinclude`` value is a query per round: they count against the criteria limit."""
    count = 0
    for name in ("_include", "_revinclude"):
        for raw in parsed.control.get(name, []):
            count += len(raw.split(","))
            limits.check_count(name, count, "_include and _revinclude values")


def _unknown(req: SearchRequest, parsed: ParsedQuery) -> list[Issue]:
    if not parsed.unknown:
        return []
    what = req.resource_type if req.resource_type != "*" else "a search over all types"
    if req.strict:
        raise BadRequest(f"unknown search parameter(s) for {what}: {', '.join(parsed.unknown)}",
                         [Issue(f"unknown search parameter '{n}' for {what}", code="not-supported")
                          for n in parsed.unknown])
    return [Issue(f"search parameter '{n}' is not supported for {what} and was ignored",
                  code="not-supported", severity="warning") for n in parsed.unknown]


def _single_patient(criteria: list[Criterion]) -> str | None:
    """The patient a search is confined to by a ``patient``/``subject`` criterion, if exactly one."""
    for c in criteria:
        p = c.param
        if p is None or p.type != "reference" or c.chain or c.has or c.modifier or len(c.values) != 1:
            continue
        if p.code in ("patient", "subject") and c.values[0].startswith("Patient/"):
            return unescape(c.values[0]).split("/")[1]
    return None


def _page_size(req: SearchRequest, parsed: ParsedQuery) -> int:
    raw = parsed.control.get("_count", [str(req.default_count)])[-1]
    if not raw.isdigit():
        raise BadRequest(f"_count must be a non-negative integer, not {raw!r}")
    return min(int(raw), req.max_count)


def _sort_keys(req: SearchRequest, parsed: ParsedQuery, b: SqlBuilder, driven: bool = False
               ) -> tuple[list[SortKey], bool]:
    """The sort keys (ending with type and id, so the order is total) and whether the first is a score."""
    keys: list[SortKey] = []
    for spec in (s.strip() for raw in parsed.control.get("_sort", []) for s in raw.split(",")):
        if not spec:
            continue
        limits.check_count("_sort", len(keys) + 1, "sort keys")
        descending = spec.startswith("-")
        keys.append(_sort_key(req, spec.lstrip("-"), descending, b))
    if driven:  # the driver's own columns: the keyset condition of a page then reaches into it
        return [SortKey("ph.score", True, "float8"), SortKey("'Patient'::text", False, "text"),
                SortKey("ph.patient_id", False, "text")], True
    scored = False
    if not keys:
        score = _phonetic_score(parsed.criteria, b)
        if score is not None:
            keys.append(SortKey(score, True, "float8"))
            scored = True
    keys.append(SortKey("r.resource_type", False, "text"))
    keys.append(SortKey("r.id", False, "text"))
    return keys, scored


def _sort_key(req: SearchRequest, code: str, descending: bool, b: SqlBuilder) -> SortKey:
    if code == "_id":
        return SortKey("r.id", descending, "text")
    if code == "_lastUpdated":
        return SortKey("r.last_updated", descending, "timestamptz")
    if req.resource_type == "*":
        raise BadRequest(f"_sort={code} needs a single resource type")
    p = registry().get(req.resource_type, code)
    if p is None or (p.path is None and not p.rows_of):
        raise BadRequest(f"{req.resource_type} cannot be sorted by '{code}'")
    table = {"token": "sp_token", "string": "sp_string", "date": "sp_date", "number": "sp_number",
             "quantity": "sp_quantity", "reference": "sp_reference", "uri": "sp_uri"}[p.type]
    agg = "max" if descending else "min"
    column = {"token": "i.code", "string": "i.value", "number": "i.value", "quantity": "i.value", "uri": "i.value",
              "reference": "coalesce(i.target_type || '/' || i.target_id, i.url)",
              "date": "i.high" if descending else "i.low"}[p.type]
    sql = (f"(SELECT {agg}({column}) FROM {table} i WHERE i.resource_type = r.resource_type "
           f"AND i.resource_id = r.id AND {rows_of(p, b)})")
    return SortKey(sql, descending, _SORT_TYPES.get(p.type, "text"))


def _phonetic_score(criteria: list[Criterion], b: SqlBuilder) -> str | None:
    """Registrars see the closest-sounding surnames first: the similarity of a patient's closest skeleton.

    With a birth date the matches are few and each is scored by its own lookup rows; on the surname
    alone they are thousands, and every matching skeleton is scored once for all its patients.
    """
    for c in criteria:
        if c.param is not None and c.param.resource_type == "Patient" and c.param.code == "phonetic":
            keys = [b.bind(k) for k in search_keys(unescape(v) for v in c.values)]
            if not keys:
                return None
            if _born_on(criteria):
                return patient_score("r.id", keys)
            return f"({scores_by_patient(keys)} ->> r.id)::float8"
    return None


def _phonetic_driver(req: SearchRequest, parsed: ParsedQuery, b: SqlBuilder) -> tuple[str, Criterion] | None:
    """A surname-only search drives its page: patients in the order shown, read until the page is full.

    Without it every match (thousands for a common surname) is read from ``resource`` to be ranked.
    Returns the FROM clause (``ph`` joined to ``resource r``) and the criterion it answers; None
    when the search is sorted otherwise, narrowed to a birth date (few matches), or not over Patients.
    """
    if req.resource_type != "Patient" or req.compartment is not None or parsed.control.get("_sort"):
        return None
    if _born_on(parsed.criteria):
        return None
    for c in parsed.criteria:
        if c.param is not None and c.param.resource_type == "Patient" and c.param.code == "phonetic" \
                and c.modifier is None and not c.chain and c.has is None:
            keys = [b.bind(k) for k in search_keys(unescape(v) for v in c.values)]
            if not keys:
                return None  # the criterion itself is refused
            return (f"({ranked_matches(keys)}) ph JOIN resource r ON r.resource_type = 'Patient' "
                    f"AND r.id = ph.patient_id AND {closest_name(keys, 'ph')}"), c
    return None


def _born_on(criteria: list[Criterion]) -> bool:
    """Whether a plain ``birthdate=YYYY-MM-DD`` narrows the search to patients born on given days."""
    return any(c.param is not None and c.param.resource_type == "Patient" and c.param.code == "birthdate"
               and c.modifier is None and not c.chain and c.has is None and plain_dates(c.values)
               for c in criteria)


# running -------------------------------------------------------------------------


def _after(keys: list[SortKey], values: list[Any], b: SqlBuilder, backwards: bool) -> str:
    """Rows after (or before) the given keyset in the sort order; NULL sort values sort last."""
    if not keys:
        return "FALSE"
    key, rest = keys[0], keys[1:]
    value = values[0]
    descending = key.descending != backwards
    op = "<" if descending else ">"
    tail = _after(rest, values[1:], b, backwards) if rest else "FALSE"
    nulls_last = not backwards
    if value is None:
        if nulls_last:
            return f"({key.sql} IS NULL AND {tail})"
        return f"({key.sql} IS NOT NULL OR ({key.sql} IS NULL AND {tail}))"
    bound = f"{b.bind(value)}::{key.sql_type}"
    null_side = f" OR {key.sql} IS NULL" if nulls_last else ""
    return f"({key.sql} {op} {bound}{null_side} OR ({key.sql} = {bound} AND {tail}))"


def _order(keys: list[SortKey], backwards: bool) -> str:
    parts = []
    for key in keys:
        descending = key.descending != backwards
        parts.append(f"{key.sql} {'DESC' if descending else 'ASC'} NULLS {'FIRST' if backwards else 'LAST'}")
    return ", ".join(parts)


async def _page(conn: AsyncConnection, plan: _Plan) -> _Page:
    """The rows of the page asked for, and whether there are rows after and before it."""
    backwards = plan.cursor is not None and plan.cursor[0] == "p"
    where = plan.where
    if plan.cursor is not None:
        where += " AND " + _after(plan.keys, plan.cursor[1], plan.b, backwards)
    selected = ", ".join(f"{k.sql} AS k{i}" for i, k in enumerate(plan.keys))
    sql = (f"SELECT r.resource_type, r.id, r.content, r.patient_id, {selected} FROM {plan.source} WHERE {where} "
           f"ORDER BY {_order(plan.keys, backwards)} LIMIT {plan.count + 1}")
    cur = await conn.execute(sql, plan.b.params)
    fetched = await cur.fetchall()
    beyond = len(fetched) > plan.count
    fetched = fetched[: plan.count]
    if backwards:
        fetched.reverse()
    keys = [list(row[4:]) for row in fetched]
    scores = [float(k[0]) if plan.scored and k[0] is not None else None for k in keys]
    rows = [(r[0], r[1], r[2], r[3]) for r in fetched]
    if backwards:
        return _Page(rows, keys, scores, more_after=True, more_before=beyond)
    return _Page(rows, keys, scores, more_after=beyond, more_before=plan.cursor is not None)


async def _count(conn: AsyncConnection, plan: _Plan) -> int:
    cur = await conn.execute(f"SELECT count(*) FROM {plan.source} WHERE {plan.where}", plan.b.params)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _total(conn: AsyncConnection, plan: _Plan, parsed: ParsedQuery, shown: int, more_after: bool,
                 more_before: bool) -> int | None:
    mode = parsed.control.get("_total", ["auto"])[-1]
    if mode not in ("auto", "none", "estimate", "accurate"):
        raise BadRequest("_total must be none, estimate or accurate")
    if mode == "none":
        return None
    if not more_after and not more_before:
        return shown
    if mode == "accurate":
        return await _count(conn, plan)
    if mode == "estimate":
        cur = await conn.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {plan.source} WHERE {plan.where}",
                                 plan.b.params)
        row = await cur.fetchone()
        return int(row[0][0]["Plan"]["Plan Rows"]) if row else None
    return None


def _keyset(values: list[Any]) -> list[Any]:
    out = []
    for v in values:
        if isinstance(v, datetime):
            out.append(v.isoformat())
        elif isinstance(v, Decimal):
            out.append(str(v))
        else:
            out.append(v)
    return out


def _links(req: SearchRequest, plan: _Plan, page: _Page) -> list[tuple[str, str]]:
    current = paging.encode([plan.cursor[0], _keyset(plan.cursor[1])]) if plan.cursor is not None else None
    links = [("self", _url(req, current))]
    if plan.cursor is not None:
        links.append(("first", _url(req, None)))
    if page.more_before and page.keys:
        links.append(("previous", _url(req, paging.encode(["p", _keyset(page.keys[0])]))))
    if page.more_after and page.keys:
        links.append(("next", _url(req, paging.encode(["n", _keyset(page.keys[-1])]))))
    return links


def _url(req: SearchRequest, cursor: str | None) -> str:
    pairs = [(k, v) for k, v in req.pairs if k not in ("_cursor", "_format", "_pretty")]
    if cursor:
        pairs.append(("_cursor", cursor))
    path = req.resource_type
    if req.compartment:
        path = f"{req.compartment[0]}/{req.compartment[1]}/{req.resource_type}"
    query = urlencode(pairs)
    return f"{req.base}/{path}" + (f"?{query}" if query else "")


# entries -----------------------------------------------------------------------


def _shaped(content: str, summary: str, elements: list[str] | None) -> str:
    """The stored JSON as is, or cut down by _summary / _elements."""
    if summary == "false" and not elements:
        return content
    resource = jsonutil.loads(content)
    if elements:
        resource = select_elements(resource, elements)
    if summary != "false":
        resource = summarize(resource, summary)
    return jsonutil.dumps_str(resource)


def _entry(req: SearchRequest, rtype: str, rid: str, content: str, summary: str, parsed: ParsedQuery,
           score: float | None) -> str:
    elements = [e.strip() for raw in parsed.control.get("_elements", []) for e in raw.split(",") if e.strip()]
    return bundles.entry(full_url=f"{req.base}/{rtype}/{rid}", content=_shaped(content, summary, elements or None),
                         search_mode="match", search_score=score)


# _include and _revinclude ------------------------------------------------------------


@dataclass(frozen=True)
class _Include:
    source: str  # the type whose references are followed (or that refers, for _revinclude)
    param: str  # a reference parameter of source, or "*"
    target: str | None
    iterate: bool
    reverse: bool


def _include_specs(parsed: ParsedQuery, req: SearchRequest, warnings: list[Issue]) -> list[_Include]:
    specs = []
    for name, reverse in (("_include", False), ("_revinclude", True)):
        for raw in parsed.control.get(name, []):
            for value in raw.split(","):
                spec = _include_spec(value.strip(), reverse, req)
                if spec is None:
                    message = f"{name}={value} names no reference parameter of a known type; it was ignored"
                    if req.strict:
                        raise BadRequest(message, code="not-supported")
                    warnings.append(Issue(message, code="not-supported", severity="warning"))
                else:
                    specs.append(spec)
    return specs


def _include_spec(value: str, reverse: bool, req: SearchRequest) -> _Include | None:
    iterate = False
    if value.endswith(":iterate") or value.endswith(":recurse"):
        iterate, value = True, value.rsplit(":", 1)[0]
    if value == "*":
        return _Include(req.resource_type, "*", None, iterate, reverse)
    parts = value.split(":")
    if len(parts) not in (2, 3):
        return None
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if code == "*":
        known = source in registry().spec.resource_type_names
        return _Include(source, "*", target, iterate, reverse) if known else None
    p = registry().get(source, code)
    if p is None or p.type != "reference":
        return None
    return _Include(source, code, target, iterate, reverse)


async def _includes(conn: AsyncConnection, req: SearchRequest, parsed: ParsedQuery,
                    matches: list[tuple[str, str]], warnings: list[Issue]) -> list[tuple[str, str, str, str | None]]:
    specs = _include_specs(parsed, req, warnings)
    if not specs or not matches:
        return []
    seen = set(matches)
    found: list[tuple[str, str, str, str | None]] = []
    frontier = matches
    for round_ in range(MAX_ITERATIONS + 1):
        active = [s for s in specs if round_ == 0 or s.iterate]
        new: list[tuple[str, str, str, str | None]] = []
        for spec in active:
            for row in await _follow(conn, req, spec, frontier):
                key = (row[0], row[1])
                if key not in seen and len(found) + len(new) < MAX_INCLUDED:
                    seen.add(key)
                    new.append(row)
        if not new:
            break
        found += new
        frontier = [(t, i) for t, i, _, _ in new]
        if len(found) >= MAX_INCLUDED:
            warnings.append(Issue(f"only the first {MAX_INCLUDED} included resources are returned",
                                  code="too-costly", severity="warning"))
            break
    return found


async def _follow(conn: AsyncConnection, req: SearchRequest, spec: _Include,
                  frontier: list[tuple[str, str]]) -> list[tuple[str, str, str, str | None]]:
    b = SqlBuilder(req.visible)
    if not spec.reverse:
        ids = [i for t, i in frontier if t == spec.source]
        if not ids:
            return []
        cond = ""
        if spec.param != "*":
            p = registry().get(spec.source, spec.param)
            assert p is not None
            cond = f" AND {rows_of(p, b)}"
        if spec.target:
            cond += f" AND i.target_type = {b.bind(spec.target)}"
        sql = (f"SELECT DISTINCT r.resource_type, r.id, r.content, r.patient_id FROM sp_reference i JOIN resource r "
               f"ON r.resource_type = i.target_type AND r.id = i.target_id WHERE i.resource_type = "
               f"{b.bind(spec.source)} AND i.resource_id = ANY({b.bind(ids)}){cond} AND NOT r.deleted"
               f"{b.restrict('*', 'r')}")
    else:
        by_type: dict[str, list[str]] = {}
        for t, i in frontier:
            by_type.setdefault(t, []).append(i)
        cond = ""
        if spec.param != "*":
            p = registry().get(spec.source, spec.param)
            assert p is not None
            cond = f" AND {rows_of(p, b)}"
        targets = " OR ".join(f"(i.target_type = {b.bind(t)} AND i.target_id = ANY({b.bind(v)}))"
                              for t, v in by_type.items())
        sql = (f"SELECT DISTINCT r.resource_type, r.id, r.content, r.patient_id FROM sp_reference i JOIN resource r "
               f"ON r.resource_type = i.resource_type AND r.id = i.resource_id WHERE i.resource_type = "
               f"{b.bind(spec.source)}{cond} AND ({targets}) AND NOT r.deleted{b.restrict(spec.source, 'r')}")
    cur = await conn.execute(sql + f" LIMIT {MAX_INCLUDED}", b.params)
    return [(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]
