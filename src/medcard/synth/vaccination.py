"""A synthetic child's vaccinations, planned with the national calendar's forecast.

The plan asks :func:`medcard.pediatrics.immunization.forecast` where the child stands, visits on
the date the next dose falls due plus the family's habitual delay, and gives every dose whose
earliest date has come; so no dose is ever given before the calendar allows it. Families differ:
most are punctual, some relaxed, a few refuse (PATOBJ) for a while or for good and then catch up,
and some children get a medical exemption (MEDPREC) for a few weeks or, rarely, for good. A dose
given after it became overdue carries the tag ``urn:medcard:code-system:synth|delayed`` and a note.
Influenza is given in autumn to some children, no sooner than the forecast allows.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, NamedTuple

from medcard.pediatrics.immunization import Child, Forecast, ImmunizationEvent, forecast, forecast_disease
from medcard.pediatrics.rules import calendars

FLU = "6142004"
PERTUSSIS = "27836007"
_MAX_VISITS = 400


class Vaccine(NamedTuple):
    code: str  # in urn:medcard:code-system:vaccine
    products: tuple[str, ...]
    route: str  # v3-RouteOfAdministration
    dose_ml: float


# Vaccines by calendar row (data/calendar/*.json item codes); "penta" is the combination used
# when DTP, polio and Hib fall on one day.
VACCINES = {
    "hepb": Vaccine("hepb", ("Регевак В (вакцина против гепатита B рекомбинантная)",
                             "Энджерикс В (вакцина против гепатита B рекомбинантная)"), "IM", 0.5),
    "bcg-m": Vaccine("bcg-m", ("БЦЖ-М (вакцина туберкулёзная для щадящей первичной иммунизации)",), "IDINJ", 0.05),
    "bcg": Vaccine("bcg", ("БЦЖ (вакцина туберкулёзная)",), "IDINJ", 0.1),
    "pcv": Vaccine("pcv13", ("Превенар 13 (вакцина пневмококковая полисахаридная конъюгированная адсорбированная)",),
                   "IM", 0.5),
    "dtp": Vaccine("dtp", ("АКДС (вакцина коклюшно-дифтерийно-столбнячная адсорбированная)",
                           "Инфанрикс (вакцина для профилактики дифтерии, столбняка и коклюша)"), "IM", 0.5),
    "ads-m": Vaccine("ads-m", ("АДС-М (анатоксин дифтерийно-столбнячный с уменьшенным содержанием антигенов)",),
                     "IM", 0.5),
    "ipv": Vaccine("ipv", ("Полимилекс (вакцина для профилактики полиомиелита инактивированная)",
                           "Имовакс Полио (вакцина для профилактики полиомиелита инактивированная)"), "IM", 0.5),
    "bopv": Vaccine("bopv", ("бОПВ (вакцина полиомиелитная пероральная бивалентная живая)",), "PO", 0.2),
    "hib": Vaccine("hib", ("Хиберикс (вакцина для профилактики гемофильной инфекции типа b конъюгированная)",
                           "Акт-ХИБ (вакцина для профилактики гемофильной инфекции типа b конъюгированная)"), "IM",
                   0.5),
    "penta": Vaccine("dtap-ipv-hib", ("Пентаксим (вакцина для профилактики дифтерии, столбняка, коклюша, "
                                      "полиомиелита и гемофильной инфекции)",), "IM", 0.5),
    "mmr": Vaccine("mmr", ("Вактривир (вакцина против кори, паротита и краснухи живая)",
                           "Приорикс (вакцина против кори, краснухи и паротита живая)"), "SC", 0.5),
    "flu": Vaccine("flu", ("Ультрикс Квадри (вакцина гриппозная четырёхвалентная инактивированная расщеплённая)",
                           "Совигрипп (вакцина гриппозная трёхвалентная инактивированная субъединичная)",
                           "Флю-М (вакцина гриппозная инактивированная расщеплённая)"), "IM", 0.5),
}
# Calendar row code -> vaccine; a row's own vaccine_ru (ИПВ, ОПВ, АДС-М, БЦЖ) is honoured through this table.
ROW_VACCINE = {
    "hepb-v1": "hepb", "hepb-v2": "hepb", "hepb-v3": "hepb", "hepb-risk-v3": "hepb", "hepb-risk-v4": "hepb",
    "tb-v1-bcgm": "bcg-m", "tb-v1-bcg": "bcg", "tb-rv": "bcg",
    "pneumo-v1": "pcv", "pneumo-v2": "pcv", "pneumo-rv": "pcv",
    "dtp-v1": "dtp", "dtp-v2": "dtp", "dtp-v3": "dtp", "dtp-rv1": "dtp", "dt-rv2": "ads-m", "dt-rv3": "ads-m",
    "dt-adult": "ads-m",
    "polio-v1": "ipv", "polio-v2": "ipv", "polio-v3": "ipv", "polio-rv1": "ipv", "polio-rv2": "bopv",
    "polio-rv2-ipv": "ipv", "polio-rv3": "bopv", "polio-rv3-ipv": "ipv",
    "hib-v1": "hib", "hib-v2": "hib", "hib-v3": "hib", "hib-rv": "hib",
    "mmr-v1": "mmr", "mmr-rv": "mmr", "flu": "flu",
}
# How families keep to the calendar: (share, delay in days after the due date: low, high).
HABITS = {"punctual": (0.74, 0, 10), "relaxed": (0.17, 5, 50), "late-start": (0.05, 0, 20),
          "refuser": (0.025, 0, 10), "selective": (0.015, 0, 14)}
EXEMPTION_CHANCE = 0.07
PERMANENT_EXEMPTION_CHANCE = 0.004
FLU_CHANCE = 0.4
BCG_REVACCINATED = 0.3  # only tuberculin-negative children are revaccinated


@dataclass(frozen=True, slots=True)
class Dose:
    """One vaccination event of the plan: given, refused or exempted, for the diseases of one vaccine."""

    day: date
    vaccine: str  # key of VACCINES
    rows: tuple[str, ...]  # calendar rows it satisfies
    diseases: tuple[str, ...]  # SNOMED CT, in calendar order
    dose_number: int  # position in the series, revaccinations included (the dose not done, for a refusal)
    status: Literal["completed", "not-done"] = "completed"
    reason: Literal["refusal", "medical-exemption"] | None = None
    exemption_until: date | None = None
    delayed: bool = False


@dataclass(slots=True)
class _State:
    events: list[ImmunizationEvent] = field(default_factory=list)
    doses: list[Dose] = field(default_factory=list)
    blocked: dict[str, date] = field(default_factory=dict)  # disease -> refused until (date.max: for good)


def _open_day(day: date) -> date:
    """Polyclinics are closed on Sundays: the next Monday (never earlier, so no dose moves before its date)."""
    return day + timedelta(days=1) if day.weekday() == 6 else day


class VaccinationPlan:
    """Plans a child's vaccinations from birth to ``today``."""

    def __init__(self, rng: random.Random, child: Child, today: date, *, combined: bool) -> None:
        self.rng, self.child, self.today, self.combined = rng, child, today, combined
        shares = [share for share, _, _ in HABITS.values()]
        self.habit = rng.choices(list(HABITS), shares)[0]
        self.exemption_at = rng.uniform(0.2, 8) if rng.random() < EXEMPTION_CHANCE else None
        self.permanent = rng.random() < PERMANENT_EXEMPTION_CHANCE
        self.late_start = child.birth_date + timedelta(days=int(rng.uniform(1, 4) * 365.25))
        self.selective = rng.choice((("14189004", "36989005", "36653000"), ("16814004",), (FLU,)))
        self.bcg_rv = rng.random() < BCG_REVACCINATED
        self.calendars = calendars()

    def plan(self) -> list[Dose]:
        """The doses, refusals and exemptions in date order."""
        state = _State()
        cursor = self.child.birth_date
        for _ in range(_MAX_VISITS):
            visit = self._next_visit(state, cursor)
            if visit is None or visit > self.today:
                break
            self._visit(state, visit)
            cursor = visit + timedelta(days=1)
        self._flu(state)
        return sorted(state.doses, key=lambda d: (d.day, d.vaccine))

    def _is_blocked(self, state: _State, disease: str, day: date) -> bool:
        if disease == "56717001" and not self.bcg_rv and any(
                disease in e.diseases for e in state.events if e.status == "completed"):
            return True  # tuberculin-positive: no revaccination
        return state.blocked.get(disease, date.min) > day

    def _next_visit(self, state: _State, cursor: date) -> date | None:
        found = forecast(self.child, state.events, cursor, self.calendars)
        dues = [max(f.dates.due, cursor, state.blocked.get(f.disease.snomed, date.min))
                for f in found
                if f.dates is not None and f.status != "complete" and f.disease.snomed != FLU
                and not self._is_blocked(state, f.disease.snomed, date.max - timedelta(days=1))]
        if not dues:
            return None
        due = min(dues)
        _, low, high = HABITS[self.habit]
        age_days = (due - self.child.birth_date).days
        if age_days < 8:  # in the maternity hospital, which works every day
            return due if age_days == 0 else due + timedelta(days=self.rng.randint(0, 3))
        delay = self.rng.randint(low, high)
        if self.rng.random() < 0.04:
            delay += self.rng.randint(30, 120)  # ill, away, or the family put it off
        return _open_day(due + timedelta(days=delay))

    def _visit(self, state: _State, day: date) -> None:
        found = [f for f in forecast(self.child, state.events, day, self.calendars)
                 if f.disease.snomed != FLU and f.dates is not None and f.item is not None
                 and f.status != "complete" and f.dates.earliest <= day and f.dates.due <= day]
        if not found:
            return
        newborn = (day - self.child.birth_date).days <= 7  # maternity-hospital doses: even refusers mostly agree
        if self.habit == "refuser" and not newborn:
            self._not_done(state, day, found, "refusal")
            for f in found:
                state.blocked[f.disease.snomed] = date.max
            return
        if self.habit == "late-start" and day < self.late_start and not newborn:
            self._not_done(state, day, found, "refusal")
            for f in found:
                state.blocked[f.disease.snomed] = self.late_start
            return
        if self.habit == "selective":
            chosen = [f for f in found if f.disease.snomed in self.selective]
            if chosen:
                self._not_done(state, day, chosen, "refusal")
                for f in chosen:
                    state.blocked[f.disease.snomed] = date.max
                found = [f for f in found if f not in chosen]
        if self.exemption_at is not None and (day - self.child.birth_date).days > self.exemption_at * 365.25:
            self.exemption_at = None
            self._not_done(state, day, found, "medical-exemption")
            return
        if self.permanent and any(f.disease.snomed == PERTUSSIS for f in found) and \
                found[0].dates is not None and (day - self.child.birth_date).days > 120:
            self.permanent = False
            self._not_done(state, day, [f for f in found if f.disease.snomed == PERTUSSIS], "medical-exemption",
                           permanent=True)
            found = [f for f in found if f.disease.snomed != PERTUSSIS]
        self._give(state, day, [f for f in found if not self._is_blocked(state, f.disease.snomed, day)])

    def _groups(self, found: list[Forecast]) -> dict[str, list[Forecast]]:
        """Forecasts grouped by the vaccine that covers them (one Immunization each)."""
        groups: dict[str, list[Forecast]] = defaultdict(list)
        for f in found:
            assert f.item is not None
            groups[ROW_VACCINE.get(f.item.code, f.item.code) + "|" + f.item.code].append(f)
        rows = {key.split("|")[1] for key in groups}
        if self.combined:
            for dtp, polio, hib in (("dtp-v1", "polio-v1", "hib-v1"), ("dtp-v2", "polio-v2", "hib-v2"),
                                    ("dtp-v3", "polio-v3", "hib-v3"), ("dtp-rv1", "polio-rv1", "hib-rv")):
                numbers = {f.dose_number for key in (f"dtp|{dtp}", f"ipv|{polio}", f"hib|{hib}")
                           for f in groups.get(key, ())}
                if {dtp, polio, hib} <= rows and len(numbers) == 1:
                    merged = [*groups.pop(f"dtp|{dtp}"), *groups.pop(f"ipv|{polio}"), *groups.pop(f"hib|{hib}")]
                    groups[f"penta|{dtp}"] = merged
        return groups

    def _give(self, state: _State, day: date, found: list[Forecast]) -> None:
        for key, items in self._groups(found).items():
            vaccine = key.split("|")[0]
            diseases = tuple(f.disease.snomed for f in items)
            delayed = any(f.dates is not None and day >= f.dates.overdue for f in items)
            numbers = {f.dose_number for f in items}
            dose = Dose(day, vaccine, tuple(sorted({f.item.code for f in items if f.item})), diseases,
                        _number(numbers), delayed=delayed)
            state.doses.append(dose)
            for f in items:
                state.events.append(ImmunizationEvent(day, frozenset({f.disease.snomed}), dose_number=f.dose_number))

    def _not_done(self, state: _State, day: date, found: list[Forecast],
                  reason: Literal["refusal", "medical-exemption"], *, permanent: bool = False) -> None:
        until = None
        if reason == "medical-exemption" and not permanent:
            until = day + timedelta(days=self.rng.randint(14, 90))
        for key, items in self._groups(found).items():
            diseases = tuple(f.disease.snomed for f in items)
            state.doses.append(Dose(day, key.split("|")[0], tuple(sorted({f.item.code for f in items if f.item})),
                                    diseases, _number({f.dose_number for f in items}), "not-done", reason, until))
            state.events.append(ImmunizationEvent(day, frozenset(diseases), status="not-done", reason=reason,
                                                  exemption_until=until))

    def _flu(self, state: _State) -> None:
        """Seasonal influenza vaccination in October-November, when the forecast allows it."""
        blocked = self.habit == "refuser" or (self.habit == "selective" and FLU in self.selective)
        if blocked:
            return
        for season in range(self.child.birth_date.year, self.today.year + 1):
            if self.rng.random() >= FLU_CHANCE:
                continue
            day = date(season, 10, 1) + timedelta(days=self.rng.randint(0, 55))
            f = forecast_disease(self.child, state.events, FLU, day, self.calendars)
            if f.dates is None or f.status == "contraindicated":
                continue
            day = _open_day(max(day, f.dates.earliest))
            if day > self.today or day.month == 12:
                continue
            number = f.dose_number or 1
            state.doses.append(Dose(day, "flu", ("flu",), (FLU,), number, delayed=day >= f.dates.overdue))
            state.events.append(ImmunizationEvent(day, frozenset({FLU}), dose_number=number))


def _number(numbers: set[int | None]) -> int:
    """The dose number of a vaccine's diseases (one row, so one number; the highest if they ever differ)."""
    return max((n for n in numbers if n is not None), default=1)
