"""The state of the rule data at a glance: every rule row with its act, period and verification status.

A *rule row* is anything in the rules files that carries a rule and says how sure we are of it
(``status`` and ``sources``): the calendar's rows, catch-up rules, calendar-wide rules and risk
groups; each examination visit, each specialist and test it requires, and the code-list entries
that carry a rule (health and physical-education groups, a specialist's alternatives). A row with
several versions (a row changed at a date) is listed once per version.

The status is the row's marker in ``domain.md``: ``V`` is *verified* (the cited source says it),
``V-2`` *secondary* (only a secondary source: news, a copy, recommendations), ``UNVERIFIED`` no
source. A verified or secondary row may still have single fields without a source
(``unverified_fields``); the report counts those too.

Pure functions over the loaded rules; ``medcard rules report`` prints :func:`render`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from medcard.pediatrics import rules
from medcard.pediatrics.rules import ActMeta, Calendar, Effective, ExaminationAct, Provenance, Versions

STATUS_NAMES = {"V": "verified", "V-2": "secondary", "UNVERIFIED": "UNVERIFIED"}
_COLUMNS = ("kind", "code", "act", "from", "to", "status", "sources")


@dataclass(frozen=True)
class ReportRow:
    """One rule row (one version of it) as the report shows it."""

    kind: str
    code: str
    act: str
    effective_from: date | None  # None: from the start of the act's coverage (or before the act, see act)
    effective_to: date | None  # None: open
    status: str  # verified, secondary or UNVERIFIED
    unverified_fields: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Counts:
    """How many rows have each status, and how many of the verified and secondary ones have fields without a source."""

    verified: int
    secondary: int
    unverified: int
    with_unverified_fields: int

    @property
    def total(self) -> int:
        return self.verified + self.secondary + self.unverified


def _row(kind: str, code: str, meta: ActMeta, effective: Effective, provenance: Provenance) -> ReportRow:
    """A row of the act ``meta``: its own period within the act if it has one, else the act's."""
    start: date | None = effective.effective_from or meta.effective_from
    end = effective.effective_to or meta.effective_to
    if end is not None and start is not None and start > end:
        start = None  # a version for the days before the act took effect (the oldest act covers them)
    return ReportRow(kind, code, effective.act or meta.number, start, end, STATUS_NAMES[provenance.status],
                     provenance.unverified_fields, provenance.sources)


def _calendar_rows(cal: Calendar) -> Iterator[ReportRow]:
    meta, whole = cal.meta, Effective()
    for item in cal.items:
        yield _row("calendar item", item.code, meta, item.effective, item.provenance)
    for rule in cal.catch_up:
        yield _row("catch-up rule", rule.code, meta, rule.effective, rule.provenance)
    if cal.simultaneous is not None:
        yield _row("calendar rule", f"simultaneous: {cal.simultaneous.rule}", meta, whole,
                   cal.simultaneous.provenance)
    yield _row("calendar rule", f"default minimum interval {cal.default_min_interval}", meta, whole,
               cal.default_min_interval_provenance)
    for group in cal.risk_groups.values():
        yield _row("risk group", group.code, meta, whole, group.provenance)


def _examination_rows(act: ExaminationAct) -> Iterator[ReportRow]:
    meta, whole = act.meta, Effective()
    for visit in act.visits:
        yield _row("visit", visit.code, meta, visit.effective, visit.provenance)
        for kind, requirements in (("specialist", visit.specialists), ("test", visit.tests)):
            for req in requirements:
                code = f"{visit.code} {req.code}" + (f" ({req.sex})" if req.sex else "")
                yield _row(kind, code, meta, visit.effective, req.provenance)
    for kind, codes in (("specialist code", act.specialists), ("health group", act.health_groups),
                        ("PE group", act.pe_groups)):
        for entry in codes.values():
            if entry.provenance is not None:
                yield _row(kind, entry.code, meta, whole, entry.provenance)


def report_rows(calendars: Versions[Calendar] | None = None,
                acts: Versions[ExaminationAct] | None = None) -> list[ReportRow]:
    """Every rule row of the loaded calendars and examination acts, file by file in the files' order."""
    rows: list[ReportRow] = []
    for cal in (calendars or rules.calendars()).versions:
        rows += _calendar_rows(cal)
    for act in (acts or rules.examination_acts()).versions:
        rows += _examination_rows(act)
    return rows


def counts(rows: Iterable[ReportRow]) -> Counts:
    """The rows by status."""
    rows = list(rows)
    by_status = Counter(row.status for row in rows)
    partly = sum(1 for row in rows if row.status != "UNVERIFIED" and row.unverified_fields)
    return Counts(by_status["verified"], by_status["secondary"], by_status["UNVERIFIED"], partly)


def _cells(row: ReportRow) -> tuple[str, ...]:
    status = row.status + (f" (no source: {', '.join(row.unverified_fields)})" if row.status != "UNVERIFIED"
                           and row.unverified_fields else "")
    return (row.kind, row.code, row.act, row.effective_from.isoformat() if row.effective_from else "…",
            row.effective_to.isoformat() if row.effective_to else "…", status, ", ".join(row.sources) or "—")


def summary(total: Counts) -> str:
    """The counts in one line."""
    return (f"{total.total} rule rows: {total.verified} verified, {total.secondary} secondary source, "
            f"{total.unverified} UNVERIFIED; {total.with_unverified_fields} of the verified and secondary "
            "rows have fields without a source")


def render(rows: Sequence[ReportRow], shown: Sequence[ReportRow] | None = None) -> str:
    """A text table of ``shown`` (default: every row), tab-separated, and the counts of all ``rows``."""
    lines = ["\t".join(_COLUMNS)]
    lines += ["\t".join(_cells(row)) for row in (rows if shown is None else shown)]
    lines.append("")
    lines.append(summary(counts(rows)))
    return "\n".join(lines) + "\n"
