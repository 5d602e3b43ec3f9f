"""Vaccination forecast: where a child stands, disease by disease, on the national calendar.

Pure functions over the calendar data (:mod:`medcard.pediatrics.rules`); no database. For each
target disease, on an evaluation date:

- Doses given: the completed events that target the disease, in date order, up to that date; a
  combination vaccine counts for each of its diseases. A recorded dose number replaces the count.
  Vaccinations on the same calendar day are simultaneous (the calendar's ``simultaneous`` rule):
  two records against one disease on one day are one dose.
- The next dose follows the calendar version in force on the date it falls due. A version is cut
  where one of its rows changes (a row corrected from 20.12.2021 keeps its old version before);
  the pieces are tried oldest first, and one gives the dose when, by its own rows, the dose falls
  due before it stops being in force; a dose a newer piece adds, that would have fallen due before
  it started, is due on its first day. The oldest loaded version also covers earlier dates, as no
  older act (125н) is loaded.
- Its dates: earliest is the later of birth + earliest age and last dose + minimum interval; due is
  the later of birth + due age and last dose + interval; overdue keeps the row's window (overdue
  age minus due age) after the due date, so a late starter is not overdue the day a dose falls due.
- Catch-up rules of the calendar, those in force on the evaluation date (what a late child is given
  now): an age after which no dose is given, and series by the age at the first dose (or, with no
  dose yet, the age on the day the first dose would be given): a shorter series, the rows and
  intervals of each dose, a revaccination only if the dose before it came before an age, or no
  dose at all (Hib: none for a first dose from 13 months).
- Not-done events after the last dose: a refusal is recorded and changes nothing (the dose stays
  due or overdue); a medical exemption makes the disease ``contraindicated`` until it ends (with
  no end, for good), and the dose falls due again no earlier than the day after.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Literal

from medcard.pediatrics import rules
from medcard.pediatrics.rules import Calendar, CalendarItem, CatchUpRule, ChildSex, Disease, SchemeDose, Versions

Status = Literal["not-due", "due", "overdue", "complete", "contraindicated"]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
FORECAST_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/immunization-recommendation-status"
# R4's code system has no "not yet due": medcard's own code says so instead of a misleading "due".
MEDCARD_FORECAST_STATUS_SYSTEM = "urn:medcard:code-system:forecast-status"
_DATE_CRITERIA = (
    ("earliest", "30981-5", "Earliest date to give"),
    ("due", "30980-7", "Date vaccine due"),
    ("overdue", "59778-1", "Date when overdue for immunization"),
)


@dataclass(frozen=True)
class Child:
    """What the calendar needs to know of a child; risk groups are codes of the calendar's ``risk_groups``."""

    birth_date: date
    sex: ChildSex
    risk_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ImmunizationEvent:
    """A vaccination given, or not given and why (refusal, or a medical exemption with its end if any)."""

    occurred: date
    diseases: frozenset[str]
    status: Literal["completed", "not-done"] = "completed"
    dose_number: int | None = None
    reason: Literal["refusal", "medical-exemption"] | None = None
    exemption_until: date | None = None
    reference: str | None = None  # e.g. "Immunization/123", cited by the FHIR recommendation

    def __post_init__(self) -> None:
        problem = _event_problem(self)
        if problem is not None:
            raise ValueError(problem)


def _event_problem(event: ImmunizationEvent) -> str | None:
    """Why an event is inconsistent, or None."""
    if not event.diseases:
        return "an immunization event targets at least one disease"
    if event.status == "completed" and event.reason is not None:
        return "a completed vaccination has no not-done reason"
    if event.status == "not-done" and event.reason is None:
        return "a vaccination not done needs its reason: refusal or medical-exemption"
    if event.exemption_until is not None and event.reason != "medical-exemption":
        return "only a medical exemption has an end date"
    if event.exemption_until is not None and event.exemption_until < event.occurred:
        return f"the exemption ends ({event.exemption_until}) before it starts ({event.occurred})"
    if event.dose_number is not None and event.dose_number < 1:
        return f"dose numbers start at 1, not {event.dose_number}"
    return None


@dataclass(frozen=True)
class DoseDates:
    """When the next dose may first be given, falls due, and becomes overdue."""

    earliest: date
    due: date
    overdue: date


@dataclass(frozen=True)
class Forecast:
    """Where a child stands for one disease on the evaluation date."""

    disease: Disease
    status: Status
    doses_given: int
    dose_number: int | None = None
    dates: DoseDates | None = None
    item: CalendarItem | None = None
    calendar: str | None = None  # number of the act the next dose follows, e.g. "1122н"
    refusals: tuple[date, ...] = ()
    contraindicated_until: date | None = None  # None while contraindicated: for good
    reason: str | None = None
    supporting: tuple[str, ...] = ()


@dataclass(frozen=True)
class _History:
    """What the events say about one disease up to the evaluation date."""

    count: int
    first: date | None
    last: date | None
    references: tuple[str, ...]
    refusals: tuple[date, ...]
    exemptions: tuple[ImmunizationEvent, ...]


@dataclass(frozen=True)
class _Plan:
    item: CalendarItem
    dates: DoseDates
    calendar: Calendar


@dataclass(frozen=True)
class _Scheme:
    """The catch-up series a child follows, and its entry for the next dose if it lists its doses."""

    rule: CatchUpRule
    dose: SchemeDose | None


_NOTHING_YET = _History(0, None, None, (), (), ())


def _history(events: Iterable[ImmunizationEvent], disease: str, on: date, same_day: bool = False) -> _History:
    """Doses given (combination vaccines count for each disease) and the not-done events since the last.

    ``same_day``: vaccinations on one calendar day are simultaneous (1122н recommendations), so two
    records against one disease on one day are one dose, not two doses of a series.
    """
    relevant = sorted((e for e in events if disease in e.diseases and e.occurred <= on), key=lambda e: e.occurred)
    if not relevant:
        return _NOTHING_YET
    count, first, last, references = 0, None, None, []
    for event in (e for e in relevant if e.status == "completed"):
        if not (same_day and event.occurred == last and event.dose_number is None):
            count = event.dose_number or count + 1
        first, last = first or event.occurred, event.occurred
        if event.reference:
            references.append(event.reference)
    pending = [e for e in relevant if e.status == "not-done" and (last is None or e.occurred > last)]
    return _History(
        count, first, last, tuple(references),
        refusals=tuple(e.occurred for e in pending if e.reason == "refusal"),
        exemptions=tuple(e for e in pending if e.reason == "medical-exemption"),
    )


def _item_for_dose(items: Sequence[CalendarItem], dose: int) -> CalendarItem | None:
    """The row of this dose number, or the recurring row that repeats after it; None past the series' end."""
    exact = [item for item in items if item.dose == dose]
    if len(exact) > 1:
        codes = ", ".join(item.code for item in exact)
        raise ValueError(f"calendar rows {codes} all apply to dose {dose} of this child: fix their risk groups")
    if exact:
        return exact[0]
    return next((i for i in items if i.recurring_every is not None and i.dose < dose), None)


def _status(dates: DoseDates, on: date) -> Status:
    if on < dates.due:
        return "not-due"
    return "due" if on < dates.overdue else "overdue"


def _diseases(calendars: Versions[Calendar]) -> dict[str, Disease]:
    """Every disease any version schedules, in the order the versions list them (newer names win)."""
    found: dict[str, Disease] = {}
    for cal in calendars.versions:
        found.update(cal.diseases)
    return found


def _check_child(calendars: Versions[Calendar], child: Child) -> None:
    known = {code for cal in calendars.versions for code in cal.risk_groups}
    unknown = sorted(child.risk_groups - known)
    if unknown:
        raise ValueError(f"unknown risk group {unknown[0]!r}; the calendar knows {', '.join(sorted(known))}")


@dataclass(frozen=True)
class _Version:
    """One calendar version, over days on which the same version of each of its rows is in force,
    as it applies to one child and disease."""

    calendar: Calendar
    start: date | None  # its first day; None: the oldest, which also covers the days before any act
    until: date | None  # its last day; None: open
    items: tuple[CalendarItem, ...]  # the disease's rows for the child's sex and risk groups
    catch_up: tuple[CatchUpRule, ...]  # the disease's catch-up rules for the child's sex
    limit: tuple[date, str] | None  # the first day no dose is given any more, and the rule saying so


def _spans(calendars: Versions[Calendar], disease: str) -> list[tuple[Calendar, date | None, date | None, date]]:
    """Each version cut where a row of the disease changes: (calendar, first day, last day, a day to pick its
    rows on). Only the disease's rows cut: a piece more is a forecast more for each day of a walk."""
    spans = []
    for index, cal in enumerate(calendars.versions):
        start = None if index == 0 else cal.meta.effective_from
        end = cal.meta.in_force_until
        cuts = [day for day in cal.row_changes(disease)
                if (start is None or day > start) and (end is None or day <= end)]
        starts: list[date | None] = [start, *cuts]
        for first, following in zip(starts, [*cuts, None], strict=True):
            last = end if following is None else following - timedelta(days=1)
            pick = first if first is not None else last if last is not None else cal.meta.effective_from
            spans.append((cal, first, last, pick))
    return spans


class DiseaseForecaster:
    """Forecasts of one child for one disease (SNOMED CT code), on any dates and histories.

    What does not depend on the date (the child's rows of each calendar version, catch-up rules,
    age limits, the dates of each row by age) is worked out once: a walk over a child's life asks
    for many dates (:mod:`medcard.pediatrics.vaccination_due`).
    """

    def __init__(self, child: Child, disease: str, calendars: Versions[Calendar] | None = None) -> None:
        calendars = calendars or rules.calendars()
        _check_child(calendars, child)
        info = _diseases(calendars).get(disease)
        if info is None:
            raise ValueError(f"no calendar version schedules disease {disease}")
        self.child = child
        self.disease = disease
        self.info = info
        self.versions = tuple(self._version(*span) for span in _spans(calendars, disease))
        self.same_day = any(cal.simultaneous is not None for cal in calendars.versions)
        self._by_age: dict[int, tuple[CalendarItem, tuple[date, date, date]]] = {}  # id(row) -> row, its dates
        self._rolls: dict[tuple[rules.Duration, date], list[date]] = {}

    def _version(self, cal: Calendar, start: date | None, until: date | None, pick: date) -> _Version:
        child, disease, birth = self.child, self.disease, self.child.birth_date
        items = tuple(i for i in cal.items_on(pick)
                      if disease in i.diseases and i.applies_to(child.sex, child.risk_groups))
        catch_up = tuple(r for r in cal.catch_up_on(pick) if disease in r.diseases and r.sex in (None, child.sex))
        # the most permissive rule wins
        limits = [(rule.max_age.after(birth), rule.code) for rule in catch_up if rule.max_age is not None]
        return _Version(cal, start, until, items, catch_up, max(limits) if limits else None)

    def _version_on(self, on: date) -> _Version:
        """The version in force on ``on`` (the oldest for days before any)."""
        if len(self.versions) == 1:
            return self.versions[0]
        return next((v for v in reversed(self.versions) if v.start is None or v.start <= on), self.versions[0])

    def by_age(self, item: CalendarItem) -> tuple[date, date, date]:
        """A row's earliest, due and overdue dates by the child's age alone."""
        cached = self._by_age.get(id(item))  # keyed by identity (hashing a row is dear), checked below
        if cached is not None and cached[0] is item:
            return cached[1]
        birth = self.child.birth_date
        found = (item.earliest_age.after(birth), item.due_age.after(birth), item.overdue_age.after(birth))
        self._by_age[id(item)] = (item, found)
        return found

    def rolls(self, every: rules.Duration, start: date, beyond: date) -> list[date]:
        """``start``, ``start + every``, ``start + 2 every``... (each from the one before) past ``beyond``.

        The list is the forecaster's own cache, shared by later calls: read it, do not change it.
        """
        found = self._rolls.get((every, start))
        if found is None:
            found = self._rolls[(every, start)] = [start]
        while found[-1] <= beyond:
            found.append(every.after(found[-1]))
        return found

    def roll_forward(self, due: date, every: rules.Duration, on: date) -> date:
        """A yearly (recurring) dose missed for a whole period falls due again in the current period."""
        dates = self.rolls(every, due, on)
        return dates[max(bisect_right(dates, on) - 1, 0)]

    def on(self, events: Iterable[ImmunizationEvent], on: date) -> Forecast:
        """Where the child stands for the disease on ``on``, with these events on record."""
        history = _history(events, self.disease, on, self.same_day)
        found = self._next_dose(history, on)
        if isinstance(found, str):
            return Forecast(self.info, "complete", history.count, reason=found, supporting=history.references,
                            refusals=history.refusals)
        active, until, dates = self._exemption_state(found, history.exemptions, on)
        return Forecast(
            disease=self.info,
            status="contraindicated" if active else _status(dates, on),
            doses_given=history.count,
            dose_number=history.count + 1,
            dates=None if active and until is None else dates,
            item=found.item,
            calendar=found.calendar.meta.number,
            refusals=history.refusals,
            contraindicated_until=until,
            reason="medical exemption" if active else None,
            supporting=history.references,
        )

    def _scheme(self, rules_now: _Version, first: date, dose: int) -> _Scheme | None:
        """The catch-up series that applies by the child's age at the first dose, if any."""
        birth = self.child.birth_date
        for rule in rules_now.catch_up:
            if rule.first_dose_age_from and rule.first_dose_age_to and (
                    rule.first_dose_age_from.after(birth) <= first < rule.first_dose_age_to.after(birth)):
                return _Scheme(rule, rule.doses[dose - 1] if dose <= len(rule.doses) else None)
        return None

    def _overdue(self, item: CalendarItem, due: date) -> date:
        """When a dose due on ``due`` becomes overdue: the row's window (overdue age - due age) after it.

        On schedule it is exactly birth + overdue age; a dose that falls due later keeps the window in
        calendar months and years where it can (P2M - P1M is a month, not 28 or 31 days).
        """
        _, on_schedule, overdue = self.by_age(item)
        if due == on_schedule:
            return overdue
        window = item.overdue_age.minus(item.due_age)
        if window is not None:
            return window.after(due)
        return due + (overdue - on_schedule)

    def _not_before(self, item: CalendarItem, dates: DoseDates, day: date) -> DoseDates:
        """The dates moved so that the dose falls due no earlier than ``day``, keeping its window."""
        if dates.due >= day:
            return dates
        return DoseDates(max(dates.earliest, day), day, self._overdue(item, day))

    def _dates(self, cal: Calendar, item: CalendarItem, scheme: _Scheme | None, last: date | None,
               on: date) -> DoseDates:
        """Earliest, due and overdue dates of a dose by the row's ages and the interval from the last dose.

        The intervals are the row's, unless the catch-up series gives its own (for this dose, or for all).
        """
        min_interval, interval = item.min_interval, item.interval
        if scheme is not None and (scheme.rule.min_interval or scheme.rule.interval):
            min_interval, interval = scheme.rule.min_interval, scheme.rule.interval
        if scheme is not None and scheme.dose is not None and (scheme.dose.min_interval or scheme.dose.interval):
            min_interval, interval = scheme.dose.min_interval, scheme.dose.interval
        earliest, due, _ = self.by_age(item)
        if last is not None:
            shortest = min_interval or interval or cal.default_min_interval
            earliest = max(earliest, shortest.after(last))
            due = max(due, (interval or shortest).after(last))
        if item.recurring_every is not None:
            due = self.roll_forward(due, item.recurring_every, on)
        return DoseDates(earliest, due, self._overdue(item, due))

    def _plan(self, version: _Version, rules_now: _Version, history: _History, on: date) -> _Plan | str:
        """The next dose under one calendar version, or why that version gives none.

        The rows are ``version``'s; the catch-up rules (series by the age at the first dose, age limits)
        are those in force on ``on`` (``rules_now``): they say what a late child is given now. With no
        dose yet, the series is chosen by the day the first dose would be given.
        """
        cal, number = version.calendar, version.calendar.meta.number
        dose = history.count + 1
        item = _item_for_dose(version.items, dose)
        if item is None:
            return f"the series is complete under {number}"
        scheme = None
        if rules_now.catch_up:
            scheme = self._scheme(rules_now, history.first or max(on, self.by_age(item)[0]), dose)
        if scheme is not None and scheme.rule.total_doses is not None and dose > scheme.rule.total_doses:
            if scheme.rule.total_doses == 0:
                return f"no dose is given for a first dose at this age ({number}, catch-up rule {scheme.rule.code})"
            return f"the series is complete under {number}, catch-up rule {scheme.rule.code}"
        if scheme is not None and scheme.dose is not None:
            item = next((i for i in version.items if i.code == scheme.dose.item), item)
            condition = scheme.dose.only_if_previous_before
            if condition is not None and history.last is not None and history.last >= condition.after(
                    self.child.birth_date):
                return (f"the series is complete under {number}, catch-up rule {scheme.rule.code}: "
                        f"the previous dose was given from age {condition} on")
        dates = self._dates(cal, item, scheme, history.last, on)
        limit = rules_now.limit
        if limit is not None and max(dates.earliest, on) >= limit[0]:
            return f"no dose is given from {limit[0]} on ({number}, catch-up rule {limit[1]})"
        return _Plan(item, dates, cal)

    def _next_dose(self, history: _History, on: date) -> _Plan | str:
        """The next dose under the calendar version in force on the date it falls due, or why there is none."""
        reason = f"no calendar version schedules disease {self.disease}"
        rules_now = self._version_on(on)
        for version in self.versions:
            found = self._plan(version, rules_now, history, on)
            if isinstance(found, str):
                reason = found
                continue
            if version.start is not None and found.dates.due < version.start:
                found = replace(found, dates=self._not_before(found.item, found.dates, version.start))
            if version.until is None or found.dates.due <= version.until:
                return found
        return reason

    def _exemption_state(self, plan: _Plan, exemptions: Sequence[ImmunizationEvent],
                         on: date) -> tuple[bool, date | None, DoseDates]:
        """Whether an exemption is in force on ``on``, until when, and the dates once the last one ends."""
        active = [e for e in exemptions if e.exemption_until is None or e.exemption_until >= on]
        if any(e.exemption_until is None for e in active):
            return True, None, plan.dates
        ends = [e.exemption_until for e in exemptions if e.exemption_until is not None]
        dates = plan.dates
        if ends:
            dates = self._not_before(plan.item, dates, max(ends) + timedelta(days=1))
        return bool(active), max(ends) if active else None, dates


def forecast_disease(child: Child, events: Iterable[ImmunizationEvent], disease: str, on: date,
                     calendars: Versions[Calendar] | None = None) -> Forecast:
    """Where ``child`` stands for one disease (SNOMED CT code) on ``on``."""
    return DiseaseForecaster(child, disease, calendars).on(events, on)


def forecast(child: Child, events: Iterable[ImmunizationEvent], on: date,
             calendars: Versions[Calendar] | None = None) -> tuple[Forecast, ...]:
    """Where ``child`` stands on ``on`` for every disease of the calendar, in the calendar's order."""
    calendars = calendars or rules.calendars()
    events = tuple(events)
    return tuple(forecast_disease(child, events, disease, on, calendars) for disease in _diseases(calendars))


# --- FHIR ---------------------------------------------------------------------------------------


def _forecast_status(status: Status) -> dict[str, Any]:
    if status == "not-due":
        coding = {"system": MEDCARD_FORECAST_STATUS_SYSTEM, "code": "not-due", "display": "Not yet due"}
    else:
        coding = {"system": FORECAST_STATUS_SYSTEM, "code": status, "display": status.capitalize()}
    return {"coding": [coding]}


def _reasons(item: Forecast) -> list[dict[str, str]]:
    """Why the status is what it is, as text: refusals on record, an exemption, a completed series."""
    reasons = [{"text": f"Отказ от прививки {day.isoformat()}"} for day in item.refusals]
    if item.status == "contraindicated":
        until = item.contraindicated_until
        text = f"Медицинский отвод до {until.isoformat()}" if until else "Постоянный медицинский отвод"
        reasons.append({"text": text})
    elif item.status == "complete" and item.reason:
        reasons.append({"text": item.reason})
    return reasons


def _recommendation(item: Forecast) -> dict[str, Any]:
    """One ``ImmunizationRecommendation.recommendation``: one disease's forecast."""
    disease = item.disease
    entry: dict[str, Any] = {
        "targetDisease": {"coding": [{"system": SNOMED, "code": disease.snomed, "display": disease.display}],
                          "text": disease.name_ru},
        "forecastStatus": _forecast_status(item.status),
    }
    if item.item is not None:
        entry["description"] = item.item.label_ru
        if item.item.vaccine_ru:
            entry["vaccineCode"] = [{"text": item.item.vaccine_ru}]
    if item.calendar is not None:
        entry["series"] = f"Национальный календарь профилактических прививок ({item.calendar})"
    if reasons := _reasons(item):
        entry["forecastReason"] = reasons
    if item.dose_number is not None:
        entry["doseNumberPositiveInt"] = item.dose_number
    if item.dates is not None:
        entry["dateCriterion"] = [
            {"code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
             "value": getattr(item.dates, name).isoformat()}
            for name, code, display in _DATE_CRITERIA
        ]
    if item.supporting:
        entry["supportingImmunization"] = [{"reference": reference} for reference in item.supporting]
    return entry


def immunization_recommendation(patient_reference: str, forecasts: Sequence[Forecast], on: date) -> dict[str, Any]:
    """The forecasts as a FHIR R4 ImmunizationRecommendation for ``patient_reference`` (``Patient/<id>``)."""
    if not forecasts:
        raise ValueError("an ImmunizationRecommendation needs at least one recommendation")
    return {
        "resourceType": "ImmunizationRecommendation",
        "patient": {"reference": patient_reference},
        "date": on.isoformat(),
        "recommendation": [_recommendation(item) for item in forecasts],
    }
