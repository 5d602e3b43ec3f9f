"""Search criteria: parsing a query against the registry, and compiling it to SQL.

A query (``code=http://loinc.org|8302-2&date=ge2024-01&subject:Patient.name=иван``) becomes a
list of :class:`Criterion`, each compiled into one ``r.id IN (...)`` sub-select on the index
table of its parameter's type (see :mod:`medcard.fhir.search.conditions`), ANDed together over
the ``resource`` table aliased ``r``. Chains (``subject:Patient.name``), reverse chains
(``_has:Observation:patient:code``), full text (``_content``, ``_text``) and the registrars'
fuzzy name search (Patient ``phonetic``) are criteria too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from medcard.core.errors import BadRequest, Issue
from medcard.fhir.search import limits
from medcard.fhir.search.conditions import SqlBuilder, date_condition, split_token, unescape, value_condition
from medcard.fhir.search.params import Registry, SearchParam, registry
from medcard.fhir.search.phonetic import matching_patients, plain_dates, search_keys

MODIFIERS = {
    "token": {"not", "text", "missing"},
    "string": {"exact", "contains", "missing"},
    "reference": {"missing"},  # plus a resource type, e.g. subject:Patient
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "uri": {"below", "above", "missing"},
}
TABLES = {"token": "sp_token", "string": "sp_string", "date": "sp_date", "number": "sp_number",
          "quantity": "sp_quantity", "reference": "sp_reference", "uri": "sp_uri"}
TEXT_PARAMS = {"_content": "content", "_text": "narrative"}


@dataclass(frozen=True, slots=True)
class Criterion:
    """One parameter occurrence: ``param[:modifier]=v1,v2`` (the values are ORed).

    ``chain``: for ``ref:Type.param=v``, (target type, criterion) for each target type (one level).
    ``has``: for ``_has:Type:ref:param=v``, the criterion on the referring type.
    ``text``: ``content`` or ``narrative`` for ``_content`` / ``_text``.
    ``name``: the parameter as the query wrote it (``subject:Patient.name``), for messages.
    """

    param: SearchParam | None
    modifier: str | None
    values: tuple[str, ...]
    chain: tuple[tuple[str, Criterion], ...] = ()
    has: Criterion | None = None
    text: str | None = None
    name: str = ""

    @property
    def parts(self) -> int:
        """How many criteria this one counts as: itself and the parts of a chain or ``_has``."""
        if self.has is not None:
            return 1 + self.has.parts
        if self.chain:
            return 1 + max(inner.parts for _, inner in self.chain)
        return 1


@dataclass
class ParsedQuery:
    criteria: list[Criterion] = field(default_factory=list)
    control: dict[str, list[str]] = field(default_factory=dict)  # _count, _sort, ...
    unknown: list[str] = field(default_factory=list)


def split_values(raw: str) -> tuple[str, ...]:
    """Split an OR list at commas not escaped with a backslash (escapes are kept for later)."""
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


# parsing ---------------------------------------------------------------------


class _Unknown(Exception):
    """A parameter name the registry does not know (reported, or refused when strict)."""


def parse(resource_type: str, pairs: Iterable[tuple[str, str]], reg: Registry | None = None,
          *, control_names: Iterable[str] = ()) -> ParsedQuery:
    """Sort query parameters into criteria, control parameters and unknown names.

    400 for text no value can hold, and beyond the search limits (:mod:`medcard.fhir.search.limits`).
    """
    reg = reg or registry()
    control = set(control_names)
    pairs = list(pairs)
    limits.check_text(pairs)
    out = ParsedQuery()
    counted = 0
    for name, raw in pairs:
        base, _, modifier = name.partition(":")
        if base in control:
            if modifier in ("iterate", "recurse"):  # _include:iterate=... travels with its value
                raw = f"{raw}:iterate"
            out.control.setdefault(base, []).append(raw)
            continue
        values = split_values(raw)
        if not values:
            raise BadRequest(f"search parameter '{name}' has no value")
        limits.check_values(name, values)
        try:
            criterion = _criterion(reg, resource_type, name, values)
        except _Unknown:
            out.unknown.append(name)
            continue
        counted += criterion.parts
        limits.check_count(name, counted, "criteria (each repetition of a parameter and each part of a "
                           "chained or _has parameter counts)")
        out.criteria.append(criterion)
    return out


def _criterion(reg: Registry, rtype: str, name: str, values: tuple[str, ...]) -> Criterion:
    if name in TEXT_PARAMS:
        return Criterion(None, None, values, text=TEXT_PARAMS[name], name=name)
    if name.startswith("_has:"):
        return _has(reg, rtype, name, values)
    if "." in name:
        return _chain(reg, rtype, name, values)
    code, _, modifier = name.partition(":")
    param = reg.get(rtype, code)
    if param is None:
        raise _Unknown(name)
    mod = modifier or None
    if mod is not None and not _modifier_ok(param, mod, reg):
        raise BadRequest(f"modifier ':{mod}' is not supported on the {param.type} parameter '{code}'",
                         code="not-supported")
    if mod == "missing" and values[0] not in ("true", "false"):
        raise BadRequest(f"'{name}' takes true or false")
    return Criterion(param, mod, values, name=name)


def _chain(reg: Registry, rtype: str, name: str, values: tuple[str, ...]) -> Criterion:
    """``subject:Patient.name=x`` or ``patient.name=x``: one level of chaining."""
    head, _, rest = name.partition(".")
    code, _, target = head.partition(":")
    param = reg.get(rtype, code)
    if param is None or param.type != "reference":
        raise _Unknown(name)
    if "." in rest.split(":")[0]:
        raise BadRequest(f"'{name}' chains more than one level; medcard supports one", code="not-supported")
    targets = (target,) if target else param.targets
    inner = []
    for target_type in targets:
        try:
            inner.append((target_type, _criterion(reg, target_type, rest, values)))
        except (_Unknown, BadRequest):
            continue
    if not inner:
        raise _Unknown(name)
    return Criterion(param, None, values, chain=tuple(inner), name=name)


def _has(reg: Registry, rtype: str, name: str, values: tuple[str, ...]) -> Criterion:
    """``_has:Observation:patient:code=x``: resources that Observations with code x point at via patient."""
    parts = name.split(":", 3)
    if len(parts) != 4:
        raise BadRequest(f"'{name}' must read _has:Type:reference-parameter:parameter")
    _, source_type, ref_code, rest = parts
    ref = reg.get(source_type, ref_code)
    if ref is None or ref.type != "reference" or (ref.targets and rtype not in ref.targets):
        raise _Unknown(name)
    if rest.startswith("_has:"):
        raise BadRequest("nested _has is not supported", code="not-supported")
    return Criterion(ref, None, values, has=_criterion(reg, source_type, rest, values), name=name)


def _modifier_ok(param: SearchParam, modifier: str, reg: Registry) -> bool:
    if modifier in MODIFIERS.get(param.type, set()):
        return True
    return param.type == "reference" and modifier in reg.spec.resource_type_names


# compiling -------------------------------------------------------------------


def where_clause(criteria: list[Criterion], b: SqlBuilder, alias: str = "r",
                 patient: str | None = None) -> str:
    """The AND of every criterion as SQL over ``resource`` aliased ``alias``.

    ``patient``: the one record the search is confined to, if known; index lookups then use it.
    """
    criteria = list(criteria)
    parts = []
    combined = _phonetic_with_birth_date(criteria, b, alias)
    if combined is not None:
        parts.append(combined[0])
        criteria = [c for c in criteria if c not in combined[1]]
    parts += [_compile(c, b, alias, patient) for c in criteria]
    return " AND ".join(parts) if parts else "TRUE"


def _phonetic_with_birth_date(criteria: list[Criterion], b: SqlBuilder, alias: str
                              ) -> tuple[str, tuple[Criterion, Criterion]] | None:
    """A registrar's "surname sounds like X, born on D" as one lookup on the (birth_date, family) index."""
    phonetic = next((c for c in criteria if c.param is not None and c.param.resource_type == "Patient"
                     and c.param.code == "phonetic" and not c.chain and c.has is None), None)
    birth = next((c for c in criteria if c.param is not None and c.param.resource_type == "Patient"
                  and c.param.code == "birthdate" and c.modifier is None and not c.chain and c.has is None), None)
    if phonetic is None or birth is None:
        return None
    sql = phonetic_birth_condition(phonetic, birth, b, alias)
    return (sql, (phonetic, birth)) if sql is not None else None


def _compile(c: Criterion, b: SqlBuilder, alias: str, patient: str | None) -> str:
    if c.text is not None:
        return _text_condition(c, b, alias, patient)
    p = c.param
    assert p is not None
    if c.has is not None:
        return _has_condition(c, p, b, alias)
    if c.chain:
        return _chain_condition(c, p, b, alias)
    if p.code == "_id":
        return f"{alias}.id = ANY({b.bind([unescape(v) for v in c.values])})"
    if p.code == "_lastUpdated":
        ors = [date_condition(v, b, f"{alias}.last_updated",
                              f"({alias}.last_updated + interval '1 millisecond')") for v in c.values]
        return "(" + " OR ".join(ors) + ")"
    if p.resource_type == "Patient" and p.code == "phonetic":
        return _phonetic_condition(c, b, alias)
    table = TABLES[p.type]
    if c.modifier == "missing":
        sub = (f"SELECT 1 FROM {table} i WHERE i.resource_type = {alias}.resource_type "
               f"AND i.resource_id = {alias}.id AND {rows_of(p, b)}")
        return f"{'NOT ' if c.values[0] == 'true' else ''}EXISTS ({sub})"
    head = f"SELECT i.resource_id FROM {table} i WHERE i.resource_type = {b.bind(p.resource_type)} AND {rows_of(p, b)}"
    if patient is not None and p.type in ("token", "reference", "date"):
        head += f" AND i.patient_id = {b.bind(patient)}"
    ors = [value_condition(p, c.modifier, v, b) for v in c.values]
    negate = p.type == "token" and c.modifier == "not"
    return f"{alias}.id {'NOT IN' if negate else 'IN'} ({head} AND (" + " OR ".join(ors) + "))"


def rows_of(p: SearchParam, b: SqlBuilder) -> str:
    """The index rows of a parameter: its own, or those of the parameters it restates."""
    conditions = []
    for code, target in p.rows_of:
        if target is None:
            conditions.append(f"i.param = {b.bind(code)}")
        else:
            conditions.append(f"(i.param = {b.bind(code)} AND i.target_type = {b.bind(target)})")
    return conditions[0] if len(conditions) == 1 else "(" + " OR ".join(conditions) + ")"


def _chain_condition(c: Criterion, p: SearchParam, b: SqlBuilder, alias: str) -> str:
    targets = []
    for ttype, inner in c.chain:
        sub = (f"SELECT r2.id FROM resource r2 WHERE r2.resource_type = {b.bind(ttype)} AND NOT r2.deleted "
               f"AND {_compile(inner, b, 'r2', None)}{b.restrict(ttype, 'r2')}")
        targets.append(f"(i.target_type = {b.bind(ttype)} AND i.target_id IN ({sub}))")
    return (f"{alias}.id IN (SELECT i.resource_id FROM sp_reference i WHERE i.resource_type = "
            f"{b.bind(p.resource_type)} AND {rows_of(p, b)} AND (" + " OR ".join(targets) + "))")


def _has_condition(c: Criterion, ref: SearchParam, b: SqlBuilder, alias: str) -> str:
    assert c.has is not None
    source = ref.resource_type
    sub = (f"SELECT r2.id FROM resource r2 WHERE r2.resource_type = {b.bind(source)} AND NOT r2.deleted "
           f"AND {_compile(c.has, b, 'r2', None)}{b.restrict(source, 'r2')}")
    return (f"{alias}.id IN (SELECT i.target_id FROM sp_reference i WHERE i.resource_type = {b.bind(source)} "
            f"AND {rows_of(ref, b)} AND i.target_type = {alias}.resource_type AND i.resource_id IN ({sub}))")


def _text_condition(c: Criterion, b: SqlBuilder, alias: str, patient: str | None) -> str:
    column = c.text
    queries = " OR ".join(f"t.{column} @@ websearch_to_tsquery('russian', {b.bind(unescape(v))})"
                          for v in c.values)
    scope = f" AND t.patient_id = {b.bind(patient)}" if patient is not None else ""
    return (f"{alias}.id IN (SELECT t.resource_id FROM sp_text t WHERE t.resource_type = {alias}.resource_type"
            f"{scope} AND ({queries}))")


def _phonetic_condition(c: Criterion, b: SqlBuilder, alias: str) -> str:
    """Surnames that sound alike: skeletons within pg_trgm's threshold, found in the dictionary of skeletons."""
    keys = search_keys(unescape(v) for v in c.values)
    if not keys:
        raise BadRequest("phonetic needs a name with letters")
    return f"{alias}.id IN ({matching_patients([b.bind(k) for k in keys])})"


def phonetic_birth_condition(phonetic: Criterion, birthdate: Criterion, b: SqlBuilder, alias: str) -> str | None:
    """The combined condition, or None when the birth dates are not plain full dates."""
    dates = plain_dates(birthdate.values)
    keys = search_keys(unescape(v) for v in phonetic.values)
    if not keys or not dates:
        return None
    return f"{alias}.id IN ({matching_patients([b.bind(k) for k in keys], b.bind(dates))})"


def strict_criteria(resource_type: str, query: str, reg: Registry | None = None) -> list[Criterion]:
    """Criteria of a conditional operation: every parameter must be known (else 400)."""
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


__all__ = ["Criterion", "ParsedQuery", "SqlBuilder", "parse", "rows_of", "split_token", "strict_criteria",
           "where_clause"]
