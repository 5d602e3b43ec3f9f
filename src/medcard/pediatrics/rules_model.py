"""The shapes of the pediatric rules data: durations, provenance, acts and their rows.

Read from the JSON files by :mod:`medcard.pediatrics.rules_files`; loaded, versioned and
re-exported by :mod:`medcard.pediatrics.rules`, which is what the engines import.
"""

from __future__ import annotations

import calendar as _gregorian
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Generic, Literal, Protocol, TypeVar

Status = Literal["V", "V-2", "UNVERIFIED"]
Sex = Literal["female", "male"]  # a row limited to girls or boys
ChildSex = Literal["female", "male", "other", "unknown"]  # a child's administrative gender, as FHIR has it

_DURATION = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?")


# --- Durations ----------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Duration:
    """An age or interval in calendar years, months and days (ISO 8601 ``P1Y6M``, ``P4M15D``)."""

    years: int = 0
    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        """``P1Y6M`` -> Duration(1, 6, 0); ValueError for anything else (no weeks, no times)."""
        match = _DURATION.fullmatch(text)
        if match is None or text == "P":
            raise ValueError(f"expected an ISO 8601 duration in years, months and days such as P1Y6M, got {text!r}")
        years, months, days = (int(part) if part else 0 for part in match.groups())
        return cls(years, months, days)

    def after(self, start: date) -> date:
        """The date this long after ``start``: years and months first (the 31st becomes the month's end), then days."""
        if self.months or self.years:
            month_index = start.month - 1 + self.months + 12 * self.years
            year, month = start.year + month_index // 12, month_index % 12 + 1
            day = start.day if start.day <= 28 else min(start.day, _gregorian.monthrange(year, month)[1])
            start = date(year, month, day)
        return start + timedelta(days=self.days) if self.days else start

    def minus(self, other: Duration) -> Duration | None:
        """This duration less ``other`` (P5M15D - P4M15D = P1M), or None when a part would be negative."""
        months = 12 * (self.years - other.years) + self.months - other.months
        days = self.days - other.days
        if months < 0 or days < 0:
            return None
        return Duration(months // 12, months % 12, days)

    def approx_days(self) -> float:
        """Its mean length in days (Gregorian year and month), to order durations that mix units."""
        return self.years * 365.2425 + self.months * 30.436875 + self.days

    def __str__(self) -> str:
        parts = [f"{n}{unit}" for n, unit in ((self.years, "Y"), (self.months, "M"), (self.days, "D")) if n]
        return "P" + ("".join(parts) or "0D")


# --- What every file and row shares -------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A publication a file cites, by a key its rows refer to."""

    key: str
    title: str
    url: str | None
    status: Status


@dataclass(frozen=True)
class Provenance:
    """How sure we are of a row: its domain.md marker, its sources, and what in it is unverified."""

    status: Status
    sources: tuple[str, ...]
    unverified: bool
    unverified_fields: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class ActMeta:
    """The legal act a file encodes and the period it is in force."""

    key: str
    file: str
    act: str
    number: str
    signed: date
    effective_from: date
    effective_to: date | None
    in_force_until: date | None
    sources: Mapping[str, Source]
    provenance: Provenance

    def in_force(self, on: date) -> bool:
        """Whether the act is in force on ``on`` (an earlier act ends where its successor starts)."""
        return self.effective_from <= on and (self.in_force_until is None or on <= self.in_force_until)


class Versioned(Protocol):
    """A rules file: anything with the act's metadata."""

    @property
    def meta(self) -> ActMeta: ...


V = TypeVar("V", bound=Versioned)


@dataclass(frozen=True)
class Versions(Generic[V]):
    """All loaded versions of one kind of rules, oldest first."""

    kind: str
    versions: tuple[V, ...]

    def in_force(self, on: date) -> V | None:
        """The version in force on ``on``, or None when no loaded act covers that day."""
        return next((v for v in self.versions if v.meta.in_force(on)), None)

    def by_number(self, number: str) -> V:
        """The version of the act with this number (``1122н``); KeyError when none is loaded."""
        for version in self.versions:
            if version.meta.number == number:
                return version
        raise KeyError(number)


# --- Row versions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effective:
    """The days a version of a row is in force within its act (both ends included; None: open).

    A row a later amendment or a better source changed keeps its old version for the days before
    the change: two versions of one code, the old one ending the day before the new one starts.
    ``act`` names the act the version comes from when it is not the file's act as first published
    (an amending order, or the act the file replaced).
    """

    effective_from: date | None = None
    effective_to: date | None = None
    act: str | None = None

    def covers(self, day: date) -> bool:
        """Whether this version is in force on ``day``."""
        return (self.effective_from is None or self.effective_from <= day) and (
            self.effective_to is None or day <= self.effective_to)


# --- The vaccination calendar -------------------------------------------------------------------


@dataclass(frozen=True)
class Disease:
    """A target disease: its SNOMED CT code and names."""

    snomed: str
    display: str
    name_ru: str


@dataclass(frozen=True)
class RiskGroup:
    """A group of children whose schedule differs (e.g. hepatitis B 0-1-2-12)."""

    code: str
    name_ru: str
    provenance: Provenance


@dataclass(frozen=True)
class CalendarItem:
    """One row of the calendar: one dose of a series, for each of its diseases."""

    code: str
    label_ru: str
    diseases: frozenset[str]
    dose: int
    kind: Literal["vaccination", "revaccination"]
    earliest_age: Duration
    due_age: Duration
    overdue_age: Duration
    min_interval: Duration | None
    interval: Duration | None
    recurring_every: Duration | None
    risk_groups: frozenset[str]
    not_for_risk_groups: frozenset[str]
    sex: Sex | None
    vaccine_ru: str | None
    condition_ru: str | None
    provenance: Provenance
    effective: Effective = Effective()

    def applies_to(self, sex: str, risk_groups: frozenset[str]) -> bool:
        """Whether this row is in the schedule of a child of this sex and these risk groups."""
        if self.sex is not None and self.sex != sex:
            return False
        if self.risk_groups and not self.risk_groups & risk_groups:
            return False
        return not self.not_for_risk_groups & risk_groups


@dataclass(frozen=True)
class SchemeDose:
    """One dose of a catch-up series: the calendar row it follows, and intervals that replace the row's.

    ``only_if_previous_before``: the dose is given only when the dose before it was given before
    this age (Hib: the revaccination of a series started at 6–12 months); otherwise the series is
    complete without it.
    """

    item: str
    min_interval: Duration | None = None
    interval: Duration | None = None
    only_if_previous_before: Duration | None = None


@dataclass(frozen=True)
class CatchUpRule:
    """A rule for late starters: an age limit, or a shorter series by the age at the first dose.

    ``total_doses`` 0 means no dose at all for a first dose at those ages. ``doses``, when given,
    names the calendar row of each dose of the series in order (``total_doses`` is their number).
    """

    code: str
    label_ru: str
    diseases: frozenset[str]
    sex: Sex | None
    first_dose_age_from: Duration | None
    first_dose_age_to: Duration | None
    max_age: Duration | None
    total_doses: int | None
    min_interval: Duration | None
    interval: Duration | None
    provenance: Provenance
    doses: tuple[SchemeDose, ...] = ()
    effective: Effective = Effective()


@dataclass(frozen=True)
class Amendment:
    """An act amending a calendar version, recorded for reference (e.g. 677н on COVID-19)."""

    number: str
    signed: date
    effective_from: date
    effective_to: date | None
    summary: str
    provenance: Provenance


@dataclass(frozen=True)
class Simultaneous:
    """Which vaccinations count as given at once: those on the same calendar day (the only rule known)."""

    rule: Literal["same-calendar-day"]
    provenance: Provenance


@dataclass(frozen=True)
class Calendar:
    """One version of the national vaccination calendar: every version of every row, with their periods."""

    meta: ActMeta
    diseases: Mapping[str, Disease]
    risk_groups: Mapping[str, RiskGroup]
    default_min_interval: Duration
    default_min_interval_provenance: Provenance
    items: tuple[CalendarItem, ...]
    catch_up: tuple[CatchUpRule, ...]
    amendments: tuple[Amendment, ...]
    not_modeled: tuple[str, ...]  # what of the act the data does not encode
    simultaneous: Simultaneous | None = None

    def row_changes(self, disease: str | None = None) -> tuple[date, ...]:
        """The days a version of some row (of ``disease``, if given) starts or ends (the day after its last)."""
        days: set[date] = set()
        rows: list[tuple[frozenset[str], Effective]] = [(i.diseases, i.effective) for i in self.items]
        rows += [(r.diseases, r.effective) for r in self.catch_up]
        for effective in (effective for diseases, effective in rows if disease is None or disease in diseases):
            if effective.effective_from is not None:
                days.add(effective.effective_from)
            if effective.effective_to is not None:
                days.add(effective.effective_to + timedelta(days=1))
        return tuple(sorted(days))

    def items_on(self, day: date) -> tuple[CalendarItem, ...]:
        """The rows (one version of each) in force on ``day``."""
        return tuple(item for item in self.items if item.effective.covers(day))

    def catch_up_on(self, day: date) -> tuple[CatchUpRule, ...]:
        """The catch-up rules (one version of each) in force on ``day``."""
        return tuple(rule for rule in self.catch_up if rule.effective.covers(day))


# --- Preventive examinations --------------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    """An entry of a code list (specialist, test, health group, PE group) with its Russian name.

    ``alternatives`` are other codes of the same list that satisfy it (211н: a general practitioner
    may do the pediatrician's examination); ``provenance`` is None for a plain name with no rule in it.
    """

    code: str
    name_ru: str
    provenance: Provenance | None
    nsi: str | None = None
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Requirement:
    """A specialist or test an examination includes; ``sex`` limits it to girls or boys.

    ``conditional``: only for the children ``condition_ru`` names (514н from 15.10.2019: the child
    psychiatrist at 2 years for the risk group the parents' questionnaire finds), so it is listed but
    does not decide whether the examination is done.
    """

    code: str
    name_ru: str
    sex: Sex | None
    condition_ru: str | None
    provenance: Provenance
    conditional: bool = False


@dataclass(frozen=True)
class Visit:
    """One scheduled examination age: when it is due and what it includes."""

    code: str
    label_ru: str
    age: Duration
    due_to: Duration
    extended: bool
    specialists: tuple[Requirement, ...]
    tests: tuple[Requirement, ...]
    provenance: Provenance
    effective: Effective = Effective()


@dataclass(frozen=True)
class ExaminationAct:
    """One act on preventive examinations of minors (514н, 211н)."""

    meta: ActMeta
    specialists: Mapping[str, Code]
    tests: Mapping[str, Code]
    health_groups: Mapping[str, Code]
    pe_groups: Mapping[str, Code]
    visits: tuple[Visit, ...]  # every version of every visit, by age

    def visit_on(self, code: str, day: date) -> Visit | None:
        """The version of visit ``code`` in force on ``day``, or None when none is."""
        return next((v for v in self.visits if v.code == code and v.effective.covers(day)), None)
