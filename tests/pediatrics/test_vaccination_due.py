"""The worklist's derived periods agree with the forecast itself, day by day, on random histories."""

from __future__ import annotations

import random
from datetime import date, timedelta

from medcard.pediatrics import rules
from medcard.pediatrics.immunization import Child, ImmunizationEvent, forecast
from medcard.pediatrics.vaccination_due import holders, overdue_periods, rows_for

DISEASES = sorted({d for cal in rules.calendars().versions for d in cal.diseases})
GROUPS = ("hepb-risk", "polio-ipv-only", "tb-bcg")


def random_history(rng: random.Random) -> tuple[Child, list[ImmunizationEvent]]:
    birth = date(2008, 1, 1) + timedelta(days=rng.randrange(365 * 18))
    groups = frozenset(g for g in GROUPS if rng.random() < 0.15)
    child = Child(birth, rng.choice(("male", "female")), groups)
    events = []
    for _ in range(rng.randrange(0, 25)):
        day = birth + timedelta(days=rng.randrange(0, 365 * 10))
        diseases = frozenset(rng.sample(DISEASES, rng.choice((1, 1, 3, 5))))
        kind = rng.random()
        if kind < 0.8:
            events.append(ImmunizationEvent(day, diseases))
        elif kind < 0.9:
            events.append(ImmunizationEvent(day, diseases, "not-done", reason="refusal"))
        else:
            until = None if rng.random() < 0.3 else day + timedelta(days=rng.randrange(1, 400))
            events.append(ImmunizationEvent(day, diseases, "not-done", reason="medical-exemption",
                                            exemption_until=until))
    return child, events


def test_periods_say_overdue_exactly_when_the_forecast_does() -> None:
    rng = random.Random(6)
    for _ in range(25):
        child, events = random_history(rng)
        periods = overdue_periods(child, events)
        end = child.birth_date + timedelta(days=365 * 17)
        for _ in range(40):
            day = child.birth_date + timedelta(days=rng.randrange((end - child.birth_date).days))
            expected = {f.disease.snomed for f in forecast(child, events, day) if f.status == "overdue"}
            found = {p.disease for p in periods if p.start <= day < p.end}
            assert found == expected, (child, day)


def test_periods_agree_with_the_forecast_on_every_day_around_month_ends_and_leap_days() -> None:
    """Births on 29 February and at month ends, where calendar arithmetic clips days (the yearly
    influenza dose rolls over from the clipped dates): every day of the first three years, and the
    days around each birthday to 17."""
    rng = random.Random(11)
    for birth in (date(2016, 2, 29), date(2015, 1, 31), date(2019, 8, 31), date(2020, 12, 31)):
        for with_events in (False, True):
            events = []
            if with_events:
                events = [ImmunizationEvent(birth + timedelta(days=rng.randrange(0, 900)),
                                            frozenset(rng.sample(DISEASES, 2))) for _ in range(6)]
            child = Child(birth, "female")
            periods = overdue_periods(child, events)
            days = [birth + timedelta(days=n) for n in range(3 * 366)]
            days += [rules.Duration(years=age, months=months).after(birth) + timedelta(days=shift)
                     for age in range(3, 17) for months in (0, 6) for shift in (-1, 0, 1)]
            for day in days:
                expected = {f.disease.snomed for f in forecast(child, events, day) if f.status == "overdue"}
                found = {p.disease for p in periods if p.start <= day < p.end}
                assert found == expected, (birth, with_events, day)


def test_a_child_is_listed_under_the_clinic_and_the_district_pediatrician() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "2026-08-01", "gender": "female",
               "managingOrganization": {"reference": "Organization/o1"},
               "generalPractitioner": [{"reference": "PractitionerRole/r1"}]}
    assert holders(patient) == ["Organization/o1", "PractitionerRole/r1"]
    rows = rows_for(patient, [], [])
    assert {r[1] for r in rows} == {"Organization/o1", "PractitionerRole/r1"}
    assert all(r[2] == "o1" for r in rows)
    assert rows_for({**patient, "birthDate": "2026"}, [], []) == []
