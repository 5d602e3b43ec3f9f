"""Strict reading of one rules file: every field checked, every problem named by file and field.

Used by the loader in :mod:`medcard.pediatrics.rules`; nothing else reads the JSON files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from importlib.resources.abc import Traversable
from itertools import pairwise
from typing import Any, NoReturn

from medcard.pediatrics.rules_model import (
    ActMeta,
    Amendment,
    Calendar,
    CalendarItem,
    CatchUpRule,
    Code,
    Disease,
    Duration,
    Effective,
    ExaminationAct,
    Provenance,
    Requirement,
    RiskGroup,
    SchemeDose,
    Sex,
    Simultaneous,
    Source,
    Status,
    Visit,
)

CALENDAR_FORMAT = "medcard/vaccination-calendar@1"
EXAMINATIONS_FORMAT = "medcard/preventive-examinations@1"
STATUSES = ("V", "V-2", "UNVERIFIED")
SEXES = ("female", "male")

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class RulesError(ValueError):
    """A rules file is malformed; the message names the file, the field and what is wrong."""

    def __init__(self, file: str, field_path: str, problem: str) -> None:
        super().__init__(f"{file}: {field_path}: {problem}")
        self.file = file
        self.field = field_path
        self.problem = problem


# --- Reading JSON strictly ----------------------------------------------------------------------


@dataclass
class _Node:
    """A JSON object being read: every access is checked, and unknown keys are errors."""

    file: str
    path: str
    data: dict[str, Any]
    seen: set[str] = field(default_factory=set)

    def fail(self, key: str | None, problem: str) -> NoReturn:
        raise RulesError(self.file, self._at(key), problem)

    def _at(self, key: str | None) -> str:
        if key is None:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else key

    def _value(self, key: str, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.fail(key, "is required")
            return None
        return self.data[key]

    def text(self, key: str) -> str:
        value = self._value(key, True)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self._value(key, False) is None else self.text(key)

    def choice(self, key: str, options: Sequence[str]) -> str:
        value = self.text(key)
        if value not in options:
            self.fail(key, f"expected one of {', '.join(options)}, got {value!r}")
        return value

    def status(self, key: str) -> Status:
        value = self.choice(key, STATUSES)
        return "V" if value == "V" else "V-2" if value == "V-2" else "UNVERIFIED"

    def opt_sex(self, key: str) -> Sex | None:
        if self._value(key, False) is None:
            return None
        return "female" if self.choice(key, SEXES) == "female" else "male"

    def day(self, key: str) -> date:
        value = self.text(key)
        if _DAY.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass  # 2021-02-30: the same message as any other bad date
        self.fail(key, f"expected a date YYYY-MM-DD, got {value!r}")

    def opt_day(self, key: str) -> date | None:
        return None if self._value(key, False) is None else self.day(key)

    def duration(self, key: str) -> Duration:
        try:
            return Duration.parse(self.text(key))
        except ValueError as error:
            self.fail(key, str(error))

    def opt_duration(self, key: str) -> Duration | None:
        return None if self._value(key, False) is None else self.duration(key)

    def integer(self, key: str, minimum: int = 1) -> int:
        value = self._value(key, True)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(key, f"expected an integer of at least {minimum}, got {value!r}")
        return value

    def opt_integer(self, key: str, minimum: int = 1) -> int | None:
        return None if self._value(key, False) is None else self.integer(key, minimum)

    def flag(self, key: str, default: bool | None = None) -> bool:
        value = self._value(key, default is None)
        if value is None and default is not None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {value!r}")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._value(key, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(key, f"expected a list of non-empty strings, got {value!r}")
        if len(set(value)) != len(value):
            self.fail(key, "lists a value twice")
        return tuple(value)

    def child(self, key: str) -> _Node:
        value = self._value(key, True)
        if not isinstance(value, dict):
            self.fail(key, f"expected an object, got {type(value).__name__}")
        return _Node(self.file, self._at(key), value)

    def children(self, key: str, *, required: bool = True) -> list[_Node]:
        value = self._value(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, f"expected a list of objects, got {type(value).__name__}")
        nodes = []
        for index, entry in enumerate(value):
            if not isinstance(entry, dict):
                self.fail(f"{key}[{index}]", f"expected an object, got {type(entry).__name__}")
            nodes.append(_Node(self.file, f"{self._at(key)}[{index}]", entry))
        return nodes

    def close(self) -> None:
        """Unknown keys are errors: a misspelt field must not be silently ignored."""
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            others = f" (nor are {', '.join(unknown[1:])})" if unknown[1:] else ""
            self.fail(unknown[0], "is not a known field" + others)


def _provenance(node: _Node, sources: Mapping[str, Source], row: Mapping[str, Any] | None = None) -> Provenance:
    """Read a row's status, sources, unverified flag and note, and check they agree.

    ``row`` is the object whose fields ``unverified_fields`` names, when it is not ``node`` itself
    (a file's header keeps its provenance in a nested object).
    """
    status = node.status("status")
    cited = node.texts("sources")
    for key in cited:
        if key not in sources:
            node.fail("sources", f"cites {key!r}, which is not in the file's sources")
    unverified = node.flag("unverified")
    fields = node.texts("unverified_fields")
    note = node.opt_text("note")
    expected = status == "UNVERIFIED" or bool(fields)
    if unverified != expected:
        reason = "status is UNVERIFIED or unverified_fields is not empty" if expected else "nothing is unverified"
        node.fail("unverified", f"must be {str(expected).lower()}: {reason}")
    if unverified and note is None:
        node.fail("note", "is required when unverified is true: name the act and annex to check")
    if status != "UNVERIFIED" and not cited:
        node.fail("sources", f"a {status} row must cite at least one source")
    for name in fields:
        if name not in (node.data if row is None else row):
            node.fail("unverified_fields", f"names {name!r}, which is not a field of this row")
    return Provenance(status, cited, unverified, fields, note)


def _sources(node: _Node) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    for entry in node.children("sources"):
        key = entry.text("key")
        if key in sources:
            entry.fail("key", f"source {key!r} is listed twice")
        sources[key] = Source(key, entry.text("title"), entry.opt_text("url"), entry.status("status"))
        entry.close()
    return sources


def _meta(node: _Node, key: str) -> ActMeta:
    """The act's header; ``provenance`` there covers the act's number, date and period."""
    sources = _sources(node)
    start, end = node.day("effective_from"), node.opt_day("effective_to")
    if end is not None and end < start:
        node.fail("effective_to", f"{end} is before effective_from {start}")
    header = node.child("provenance")
    provenance = _provenance(header, sources, node.data)
    header.close()
    return ActMeta(
        key=key,
        file=node.file,
        act=node.text("act"),
        number=node.text("number"),
        signed=node.day("date"),
        effective_from=start,
        effective_to=end,
        in_force_until=end,
        sources=sources,
        provenance=provenance,
    )


def _amendment(node: _Node, sources: Mapping[str, Source]) -> Amendment:
    amendment = Amendment(node.text("number"), node.day("date"), node.day("effective_from"),
                          node.opt_day("effective_to"), node.text("summary"), _provenance(node, sources))
    node.close()
    return amendment


def _unique(nodes: Iterable[tuple[_Node, str]], what: str) -> None:
    seen: set[str] = set()
    for node, code in nodes:
        if code in seen:
            node.fail("code", f"{what} {code!r} is defined twice")
        seen.add(code)


def _effective(node: _Node) -> Effective:
    """A row version's period within its act (``effective_from``, ``effective_to``) and the act it comes from."""
    effective = Effective(node.opt_day("effective_from"), node.opt_day("effective_to"), node.opt_text("act"))
    start, end = effective.effective_from, effective.effective_to
    if start is not None and end is not None and end < start:
        node.fail("effective_to", f"{end} is before effective_from {start}")
    return effective


def _versions_apart(rows: Sequence[tuple[_Node, Any]], what: str) -> None:
    """Rows of one code are versions: their periods must not overlap (a gap is allowed: the row is not in force)."""
    by_code: dict[str, list[tuple[_Node, Any]]] = {}
    for node, row in rows:
        by_code.setdefault(row.code, []).append((node, row))
    for code, versions in by_code.items():
        ordered = sorted(versions, key=lambda v: v[1].effective.effective_from or date.min)
        for (_, earlier), (node, later) in pairwise(ordered):
            end, start = earlier.effective.effective_to, later.effective.effective_from
            if end is None or start is None or start <= end:
                node.fail("effective_from", f"{what} {code!r} is defined twice for the same days: each version "
                                            "needs effective dates, the earlier ending before the later starts")

def _code(entry: _Node, sources: Mapping[str, Source], with_provenance: bool) -> Code:
    alternatives = entry.texts("alternatives")
    if alternatives or with_provenance or "status" in entry.data:
        provenance: Provenance | None = _provenance(entry, sources)
    else:
        provenance = None
    code = Code(entry.text("code"), entry.text("name_ru"), provenance, entry.opt_text("nsi"), alternatives)
    entry.close()
    return code


def _codes(node: _Node, key: str, sources: Mapping[str, Source], *, with_provenance: bool = False) -> dict[str, Code]:
    """A code list: codes with Russian names, NSI codes if known, and provenance where they carry a rule."""
    entries = node.children(key)
    _unique(((e, e.text("code")) for e in entries), "code")
    codes = {entry.text("code"): _code(entry, sources, with_provenance) for entry in entries}
    for entry, code in zip(entries, codes.values(), strict=True):
        for other in code.alternatives:
            if other == code.code or other not in codes:
                entry.fail("alternatives", f"{other!r} is not another code of {key}")
    return codes


# --- Calendar files -----------------------------------------------------------------------------


def _diseases(node: _Node) -> dict[str, Disease]:
    diseases = {}
    for entry in node.children("diseases"):
        code = entry.text("snomed")
        if not code.isdigit():
            entry.fail("snomed", f"expected a SNOMED CT concept id (digits), got {code!r}")
        if code in diseases:
            entry.fail("snomed", f"disease {code} is listed twice")
        diseases[code] = Disease(code, entry.text("display"), entry.text("name_ru"))
        entry.close()
    return diseases


def _risk_groups(node: _Node, sources: Mapping[str, Source]) -> dict[str, RiskGroup]:
    groups = {}
    for entry in node.children("risk_groups"):
        code = entry.text("code")
        if code in groups:
            entry.fail("code", f"risk group {code!r} is defined twice")
        groups[code] = RiskGroup(code, entry.text("name_ru"), _provenance(entry, sources))
        entry.close()
    return groups


def _known(node: _Node, key: str, values: Iterable[str], known: Mapping[str, object], what: str) -> frozenset[str]:
    for value in values:
        if value not in known:
            node.fail(key, f"{value!r} is not one of the file's {what}")
    return frozenset(values)


def _check_ages(node: _Node, item: CalendarItem) -> None:
    ages = (("earliest_age", item.earliest_age), ("due_age", item.due_age), ("overdue_age", item.overdue_age))
    for (name_a, a), (name_b, b) in pairwise(ages):
        if a.approx_days() > b.approx_days():
            node.fail(name_b, f"{b} is before {name_a} {a}")
    if item.due_age.approx_days() == item.overdue_age.approx_days():
        node.fail("overdue_age", "must be later than due_age")


def _item(node: _Node, diseases: Mapping[str, Disease], groups: Mapping[str, RiskGroup],
          sources: Mapping[str, Source]) -> CalendarItem:
    """One calendar row, with its references to diseases and risk groups checked."""
    item = CalendarItem(
        code=node.text("code"),
        label_ru=node.text("label_ru"),
        diseases=_known(node, "diseases", node.texts("diseases"), diseases, "diseases"),
        dose=node.integer("dose"),
        kind="revaccination" if node.choice("kind", ("vaccination", "revaccination")) == "revaccination"
        else "vaccination",
        earliest_age=node.duration("earliest_age"),
        due_age=node.duration("due_age"),
        overdue_age=node.duration("overdue_age"),
        min_interval=node.opt_duration("min_interval"),
        interval=node.opt_duration("interval"),
        recurring_every=node.opt_duration("recurring_every"),
        risk_groups=_known(node, "risk_groups", node.texts("risk_groups"), groups, "risk groups"),
        not_for_risk_groups=_known(node, "not_for_risk_groups", node.texts("not_for_risk_groups"), groups,
                                   "risk groups"),
        sex=node.opt_sex("sex"),
        vaccine_ru=node.opt_text("vaccine_ru"),
        condition_ru=node.opt_text("condition_ru"),
        provenance=_provenance(node, sources),
        effective=_effective(node),
    )
    if not item.diseases:
        node.fail("diseases", "must name at least one disease")
    _check_ages(node, item)
    if item.min_interval and item.interval and item.min_interval.approx_days() > item.interval.approx_days():
        node.fail("interval", f"{item.interval} is shorter than min_interval {item.min_interval}")
    node.close()
    return item


def _scheme_doses(node: _Node, items: Mapping[str, CalendarItem]) -> tuple[SchemeDose, ...]:
    """A catch-up series' doses: each names a calendar row of the rule's diseases."""
    doses = []
    for index, entry in enumerate(node.children("doses", required=False)):
        code = entry.text("item")
        if code not in items:
            entry.fail("item", f"{code!r} is not a row of the calendar's items")
        dose = SchemeDose(code, entry.opt_duration("min_interval"), entry.opt_duration("interval"),
                          entry.opt_duration("only_if_previous_before"))
        if index == 0 and (dose.min_interval or dose.interval or dose.only_if_previous_before):
            entry.fail("item", "the first dose of a series has no interval and no condition on a previous dose")
        entry.close()
        doses.append(dose)
    return tuple(doses)


def _rule(node: _Node, diseases: Mapping[str, Disease], items: Mapping[str, CalendarItem],
          sources: Mapping[str, Source]) -> CatchUpRule:
    doses = _scheme_doses(node, items)
    rule = CatchUpRule(
        code=node.text("code"),
        label_ru=node.text("label_ru"),
        diseases=_known(node, "diseases", node.texts("diseases"), diseases, "diseases"),
        sex=node.opt_sex("sex"),
        first_dose_age_from=node.opt_duration("first_dose_age_from"),
        first_dose_age_to=node.opt_duration("first_dose_age_to"),
        max_age=node.opt_duration("max_age"),
        total_doses=node.opt_integer("total_doses", minimum=0),
        min_interval=node.opt_duration("min_interval"),
        interval=node.opt_duration("interval"),
        provenance=_provenance(node, sources),
        doses=doses,
        effective=_effective(node),
    )
    if not rule.diseases:
        node.fail("diseases", "must name at least one disease")
    if (rule.first_dose_age_from is None) != (rule.first_dose_age_to is None):
        node.fail("first_dose_age_to", "first_dose_age_from and first_dose_age_to go together")
    if rule.max_age is None and rule.total_doses is None:
        node.fail("max_age", "a catch-up rule sets max_age, total_doses or both")
    if doses and rule.total_doses != len(doses):
        node.fail("total_doses", f"must be the number of doses listed ({len(doses)})")
    for dose in doses:
        if not items[dose.item].diseases >= rule.diseases:
            node.fail("doses", f"row {dose.item!r} is not against every disease of the rule")
    node.close()
    return rule


def _simultaneous(node: _Node, sources: Mapping[str, Source]) -> Simultaneous | None:
    """Which vaccinations count as given at once (optional)."""
    if node.data.get("simultaneous") is None:
        node.seen.add("simultaneous")
        return None
    entry = node.child("simultaneous")
    entry.choice("rule", ("same-calendar-day",))
    found = Simultaneous("same-calendar-day", _provenance(entry, sources))
    entry.close()
    return found


def _check_series(nodes: Sequence[_Node], items: Sequence[CalendarItem]) -> None:
    """Each disease's doses are numbered 1..n with no gap, and a recurring row is the last."""
    for disease in sorted({d for item in items for d in item.diseases}):
        rows = [(node, item) for node, item in zip(nodes, items, strict=True) if disease in item.diseases]
        count = len({item.dose for _, item in rows})
        for node, item in rows:
            if item.dose > count:
                node.fail("dose", f"dose {item.dose} of disease {disease} leaves a gap: its doses must be 1..{count}")
            if item.recurring_every and item.dose != count:
                node.fail("recurring_every", f"a recurring row must be the last dose of disease {disease} ({count})")


def _parse_calendar(node: _Node, key: str) -> Calendar:
    meta = _meta(node, key)
    diseases = _diseases(node)
    groups = _risk_groups(node, meta.sources)
    defaults = node.child("defaults")
    default_min_interval = defaults.duration("min_interval")
    default_provenance = _provenance(defaults, meta.sources)
    defaults.close()
    item_nodes = node.children("items")
    items = tuple(_item(n, diseases, groups, meta.sources) for n in item_nodes)
    _versions_apart(list(zip(item_nodes, items, strict=True)), "item")
    _check_series(item_nodes, items)
    rule_nodes = node.children("catch_up", required=False)
    by_code = {item.code: item for item in items}
    rules = tuple(_rule(n, diseases, by_code, meta.sources) for n in rule_nodes)
    _versions_apart(list(zip(rule_nodes, rules, strict=True)), "catch-up rule")
    amendments = tuple(_amendment(n, meta.sources) for n in node.children("amendments", required=False))
    calendar = Calendar(meta, diseases, groups, default_min_interval, default_provenance, items, rules,
                        amendments, node.texts("not_modeled"), _simultaneous(node, meta.sources))
    _skip_documentation(node)
    node.close()
    return calendar


# --- Examination files --------------------------------------------------------------------------


def _requirements(node: _Node, key: str, names: Mapping[str, Code], sources: Mapping[str, Source]) -> tuple[
        Requirement, ...]:
    found = []
    for entry in node.children(key):
        code = entry.text("code")
        if code not in names:
            entry.fail("code", f"{code!r} is not in the file's {key}")
        requirement = Requirement(code, names[code].name_ru, entry.opt_sex("sex"), entry.opt_text("condition_ru"),
                                  _provenance(entry, sources), entry.flag("conditional", default=False))
        if requirement.conditional and requirement.condition_ru is None:
            entry.fail("condition_ru", "is required when conditional is true: say which children it is for")
        entry.close()
        found.append(requirement)
    codes = [(r.code, r.sex) for r in found]
    if len(set(codes)) != len(codes):
        node.fail(key, "lists a requirement twice")
    return tuple(found)


def _visit(node: _Node, act: ExaminationAct) -> Visit:
    sources = act.meta.sources
    visit = Visit(
        code=node.text("code"),
        label_ru=node.text("label_ru"),
        age=node.duration("age"),
        due_to=node.duration("due_to"),
        extended=node.flag("extended", default=False),
        specialists=_requirements(node, "specialists", act.specialists, sources),
        tests=_requirements(node, "tests", act.tests, sources),
        provenance=_provenance(node, sources),
        effective=_effective(node),
    )
    if visit.due_to.approx_days() <= visit.age.approx_days():
        node.fail("due_to", f"{visit.due_to} is not after age {visit.age}")
    node.close()
    return visit


def _parse_examinations(node: _Node, key: str) -> ExaminationAct:
    meta = _meta(node, key)
    act = ExaminationAct(
        meta=meta,
        specialists=_codes(node, "specialists", meta.sources),
        tests=_codes(node, "tests", meta.sources),
        health_groups=_codes(node, "health_groups", meta.sources, with_provenance=True),
        pe_groups=_codes(node, "pe_groups", meta.sources, with_provenance=True),
        visits=(),
    )
    visit_nodes = node.children("visits")
    read = [_visit(n, act) for n in visit_nodes]
    pairs = list(zip(visit_nodes, read, strict=True))
    _versions_apart(pairs, "visit")
    for n, visit in pairs:
        first = next(v for v in read if v.code == visit.code)
        if (visit.age, visit.due_to) != (first.age, first.due_to):
            n.fail("age", f"versions of visit {visit.code!r} must have the same age and due_to")
    visits = tuple(sorted(read, key=lambda v: (v.age.approx_days(), v.effective.effective_from or date.min)))
    _skip_documentation(node)
    node.close()
    return replace(act, visits=visits)


def _skip_documentation(node: _Node) -> None:
    """``format`` was checked on opening; ``description`` is for readers only."""
    for key in ("format", "description"):
        node.seen.add(key)


_Parser = Callable[[_Node, str], Any]
_KINDS: dict[str, tuple[str, _Parser]] = {
    "calendar": (CALENDAR_FORMAT, _parse_calendar),
    "examinations": (EXAMINATIONS_FORMAT, _parse_examinations),
}


def read_rules_file(file: Traversable, kind: str) -> Any:
    """Parse one file of ``kind``; :class:`RulesError` names the file and field of any problem."""
    name = file.name
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RulesError(name, "(file)", f"not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise RulesError(name, "(top level)", "expected a JSON object")
    expected_format, parse = _KINDS[kind]
    node = _Node(name, "", data)
    if node.text("format") != expected_format:
        node.fail("format", f"expected {expected_format!r} in the {kind} folder, got {data['format']!r}")
    return parse(node, name.removesuffix(".json"))
