"""The rule rows corrected from the sources (domain.md §10, issue 18), each case built from the source's wording.

Sources, as domain.md §10 quotes them:
- Hib (methodological recommendations on 1122н, p. 3): "a child whose first Hib dose would be at 13 months
  or later gets no Hib doses"; "first dose at 6–12 months: 2 doses 1–1.5 months apart, then a revaccination
  if both were given before 13 months; none if dose 2 was at 13 months or later"; "first dose under 6 months:
  3 doses 1–1.5 months apart + revaccination".
- Pneumococcal (same, p. 4): "minimum 8 weeks between doses under 6 months; 4 weeks at 7–12 months;
  revaccination not earlier than 4–6 months after the last primary dose; starting at 12 months or later:
  2 doses ≥ 8 weeks apart; starting at 2 years or later: 1 dose".
- Simultaneous vaccination (same, p. 5): "vaccines given on the same calendar day count as simultaneous".
- 514н as amended by 396н, from 15.10.2019: at 2 years "a questionnaire of the parents screens for risk of
  mental-development disorders; the child psychiatrist sees only the risk group. Before that date, every
  child"; at 6 years "a детский эндокринолог is added". By 410н: "the ophthalmologist at 12 months applies
  to exams from 01.09.2018".
- 211н newborn: "neonatal screening is now the extended screening (36 diseases)".
The corrected rows apply from 20.12.2021 (1122н, which the recommendations explain) and from each
amendment's date; the old rows stay for the days before.
"""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources

from medcard.pediatrics.examinations import (
    ExaminationStatus,
    RecordedExamination,
    examination_schedule,
    examination_statuses,
)
from medcard.pediatrics.immunization import Child, DoseDates, ImmunizationEvent, forecast_disease
from medcard.pediatrics.rules import Duration, calendars, examination_acts
from medcard.pediatrics.vaccination_due import overdue_periods

HIB, PNEUMO = "709410003", "16814004"
DIPHTHERIA, PERTUSSIS, TETANUS, POLIO = "397430003", "27836007", "76902006", "398102009"
PENTAXIM = (DIPHTHERIA, PERTUSSIS, TETANUS, POLIO, HIB)
BIRTH = date(2024, 3, 10)
CHILD = Child(BIRTH, "female")
WEEK = timedelta(days=7)
DAY = timedelta(days=1)


def months(n: int, days: int = 0) -> date:
    """The day the child is ``n`` months (and ``days`` days) old."""
    return Duration(months=n, days=days).after(BIRTH)


def given(day: date, *diseases: str) -> ImmunizationEvent:
    return ImmunizationEvent(day, frozenset(diseases))


# --- Hib ------------------------------------------------------------------------------------------


def test_hib_a_first_dose_from_13_months_is_not_given() -> None:
    # No Hib yet: overdue (the first dose was due at 3 months) while a first dose would still come before 13 months.
    assert forecast_disease(CHILD, [], HIB, months(13) - DAY).status == "overdue"
    none = forecast_disease(CHILD, [], HIB, months(13))
    assert (none.status, none.dose_number, none.dates) == ("complete", None, None)
    assert "hib-start-13m" in (none.reason or "")


def test_hib_a_child_who_starts_at_14_months_gets_no_recommendation_and_no_overdue_period() -> None:
    fourteen = months(14)
    events = [given(fourteen, *PENTAXIM)]  # the first Hib dose, in a combination vaccine, at 14 months
    after = forecast_disease(CHILD, events, HIB, fourteen + DAY)
    assert (after.status, after.dose_number, after.dates, after.item) == ("complete", None, None, None)
    # On the worklist for Hib only while a first dose could still be given (4 to 13 months), never after.
    hib = [p for p in overdue_periods(CHILD, events) if p.disease == HIB]
    assert [(p.start, p.end) for p in hib] == [(months(4), months(13))]
    # DTP, which has no such limit, goes on: the second dose after the first.
    assert forecast_disease(CHILD, events, DIPHTHERIA, fourteen + DAY).dose_number == 2


def test_hib_started_at_6_to_12_months_revaccinated_only_if_both_doses_came_before_13_months() -> None:
    first, second = months(7), months(8, 15)  # 1.5 months apart
    before = forecast_disease(CHILD, [given(first, HIB)], HIB, first + DAY)
    # second dose: 1 month at least, 1.5 months recommended
    assert before.dates == DoseDates(months(8), months(8, 15), months(9, 15))
    both_early = forecast_disease(CHILD, [given(first, HIB), given(second, HIB)], HIB, second + DAY)
    assert (both_early.dose_number, both_early.item.code, both_early.dates.due) == (3, "hib-rv", months(18))
    late_second = months(13)  # the second dose at 13 months
    no_rv = forecast_disease(CHILD, [given(months(11, 20), HIB), given(late_second, HIB)], HIB, late_second + DAY)
    assert (no_rv.status, no_rv.dates) == ("complete", None)
    assert "hib-start-6-12m" in (no_rv.reason or "")
    # one day earlier, the second dose is still before 13 months: the revaccination follows
    just_before = late_second - DAY
    rv = forecast_disease(CHILD, [given(months(11, 20), HIB), given(just_before, HIB)], HIB, late_second)
    assert (rv.status, rv.item.code) == ("not-due", "hib-rv")


def test_hib_started_under_6_months_three_doses_a_month_apart_at_least_then_the_revaccination() -> None:
    first = months(4)
    second = forecast_disease(CHILD, [given(first, HIB)], HIB, first + DAY)
    assert (second.dose_number, second.dates.earliest, second.dates.due) == (2, months(5), months(5, 15))
    events = [given(first, HIB), given(months(5), HIB)]
    third = forecast_disease(CHILD, events, HIB, months(5) + DAY)
    assert (third.dose_number, third.dates.earliest) == (3, months(6))
    events.append(given(months(6), HIB))
    assert forecast_disease(CHILD, events, HIB, months(6) + DAY).item.code == "hib-rv"


def test_hib_before_1122n_kept_the_old_single_dose_at_one_to_five_years() -> None:
    child = Child(date(2019, 6, 1), "male")  # 13 months on 01.07.2020, under the rules before 20.12.2021
    assert forecast_disease(child, [], HIB, date(2020, 8, 1)).status == "overdue"
    assert forecast_disease(child, [], HIB, date(2021, 12, 19)).status == "overdue"
    assert forecast_disease(child, [], HIB, date(2021, 12, 20)).status == "complete"


# --- Pneumococcal ---------------------------------------------------------------------------------


def test_pneumococcal_first_dose_at_5_months_second_8_weeks_later_not_a_day_sooner() -> None:
    first = months(5)
    events = [given(first, PNEUMO)]
    minimum = first + 8 * WEEK
    short = forecast_disease(CHILD, events, PNEUMO, minimum - DAY)
    assert (short.status, short.dose_number, short.dates.earliest) == ("not-due", 2, minimum)
    assert forecast_disease(CHILD, events, PNEUMO, minimum).status == "due"
    # The revaccination: at 15 months, and not earlier than 4 months after the last primary dose.
    events.append(given(minimum, PNEUMO))
    rv = forecast_disease(CHILD, events, PNEUMO, minimum + DAY)
    assert (rv.dose_number, rv.item.code, rv.dates.earliest) == (3, "pneumo-rv", months(15))


def test_pneumococcal_first_dose_at_8_months_second_4_weeks_later_not_a_day_sooner() -> None:
    first = months(8)
    events = [given(first, PNEUMO)]
    minimum = first + 4 * WEEK
    short = forecast_disease(CHILD, events, PNEUMO, minimum - DAY)
    assert (short.status, short.dates.earliest) == ("not-due", minimum)
    assert forecast_disease(CHILD, events, PNEUMO, minimum).status == "due"
    # A second dose given late, at 13 months: the revaccination 4 months after it, not at 15 months.
    second = months(13)
    events.append(given(second, PNEUMO))
    rv = forecast_disease(CHILD, events, PNEUMO, second + DAY)
    four_months = Duration(months=4).after(second)
    assert (rv.item.code, rv.dates.earliest) == ("pneumo-rv", four_months)
    assert forecast_disease(CHILD, events, PNEUMO, four_months - DAY).status == "not-due"


def test_pneumococcal_late_starts_two_doses_from_12_months_one_from_2_years() -> None:
    first = months(14)
    events = [given(first, PNEUMO)]
    assert forecast_disease(CHILD, events, PNEUMO, first + DAY).dates.earliest == first + 8 * WEEK
    events.append(given(first + 8 * WEEK, PNEUMO))
    done = forecast_disease(CHILD, events, PNEUMO, first + 9 * WEEK)
    assert (done.status, "pneumo-start-12-24m" in (done.reason or "")) == ("complete", True)
    two_years = months(24)
    once = forecast_disease(CHILD, [given(two_years, PNEUMO)], PNEUMO, two_years + DAY)
    assert (once.status, "pneumo-start-2y" in (once.reason or "")) == ("complete", True)


# --- Simultaneous vaccination ---------------------------------------------------------------------


def test_two_records_against_one_disease_on_one_calendar_day_are_one_dose() -> None:
    day = months(3)
    twice = [given(day, *PENTAXIM), given(day, HIB)]  # a combination vaccine and a Hib vaccine, same day
    hib = forecast_disease(CHILD, twice, HIB, day + DAY)
    assert (hib.doses_given, hib.dose_number) == (1, 2)
    next_day = [given(day, *PENTAXIM), given(day + DAY, HIB)]
    assert forecast_disease(CHILD, next_day, HIB, day + 2 * DAY).doses_given == 2


# --- Preventive examinations ----------------------------------------------------------------------

AMENDMENT_396N = date(2019, 10, 15)


def seen(day: date, *specialists: str) -> RecordedExamination:
    return RecordedExamination(day, frozenset(specialists))


def _exam(items: tuple[ExaminationStatus, ...], code: str) -> ExaminationStatus:
    return next(item for item in items if item.examination.visit.code == code)


def _specialists(item: ExaminationStatus) -> dict[str, bool]:
    """Each specialist of the examination and whether it is conditional (risk group only)."""
    return {r.code: r.conditional for r in item.examination.specialists}


def test_two_year_examination_before_15_10_2019_the_psychiatrist_for_every_child() -> None:
    birth = date(2017, 8, 1)  # the 2-year window runs from 01.08.2019 to 31.07.2020, across the amendment
    day = AMENDMENT_396N - DAY
    items = examination_statuses(birth, "male", [seen(day, "pediatrician", "pediatric-dentist")], date(2020, 1, 1))
    two = _exam(items, "514n-2y")
    assert _specialists(two)["child-psychiatrist"] is False
    assert (two.status, two.missing_specialists) == ("due", ("child-psychiatrist",))
    assert "mental-development-screening" not in {t.code for t in two.examination.tests}


def test_two_year_examination_from_15_10_2019_the_questionnaire_and_the_psychiatrist_for_the_risk_group() -> None:
    birth = date(2017, 8, 1)
    records = [seen(AMENDMENT_396N, "pediatrician", "pediatric-dentist")]
    two = _exam(examination_statuses(birth, "male", records, date(2020, 1, 1)), "514n-2y")
    assert _specialists(two)["child-psychiatrist"] is True
    assert (two.status, two.missing_specialists) == ("done", ())
    assert "mental-development-screening" in {t.code for t in two.examination.tests}
    assert two.examination.visit.effective.act is not None
    assert "396н" in two.examination.visit.effective.act
    # with no examination on record yet, the one still to be done follows the rules of the day it is looked at
    pending = _exam(examination_statuses(birth, "male", [], date(2019, 10, 1)), "514n-2y")
    assert _specialists(pending)["child-psychiatrist"] is False
    pending = _exam(examination_statuses(birth, "male", [], AMENDMENT_396N), "514n-2y")
    assert _specialists(pending)["child-psychiatrist"] is True


def test_six_year_examination_from_15_10_2019_includes_the_endocrinologist() -> None:
    birth = date(2014, 1, 10)  # six on 10.01.2020
    everyone_but = ("pediatrician", "neurologist", "pediatric-surgeon", "pediatric-dentist",
                    "traumatologist-orthopedist", "ophthalmologist", "otorhinolaryngologist", "child-psychiatrist",
                    "obstetrician-gynecologist")
    six = _exam(examination_statuses(birth, "female", [seen(date(2020, 1, 20), *everyone_but)],
                                     date(2020, 2, 1)), "514n-6y")
    assert (six.status, six.missing_specialists) == ("due", ("pediatric-endocrinologist",))
    # six on 01.03.2019, examined before the amendment: no endocrinologist
    earlier = _exam(examination_statuses(date(2013, 3, 1), "female", [seen(date(2019, 3, 15), *everyone_but)],
                                         date(2019, 4, 1)), "514n-6y")
    assert (earlier.status, "pediatric-endocrinologist" in _specialists(earlier)) == ("done", False)


def test_twelve_month_ophthalmologist_from_01_09_2018() -> None:
    before = examination_schedule(date(2017, 6, 1), "male").examinations  # one year old on 01.06.2018
    after = examination_schedule(date(2017, 10, 1), "male").examinations  # one year old on 01.10.2018
    twelve = {e.visit.code: e for e in before}["514n-12m"]
    assert "ophthalmologist" not in [r.code for r in twelve.specialists]
    twelve = {e.visit.code: e for e in after}["514n-12m"]
    assert "ophthalmologist" in [r.code for r in twelve.specialists]


def test_211n_newborn_has_the_extended_neonatal_screening() -> None:
    newborn = {e.visit.code: e for e in examination_schedule(date(2026, 1, 5), "female").examinations}
    tests = [r.code for r in newborn["211n-newborn"].tests]
    assert "neonatal-screening-extended" in tests
    assert "neonatal-screening" not in tests
    assert "36" in examination_acts().by_number("211н").tests["neonatal-screening-extended"].name_ru


# --- Sources --------------------------------------------------------------------------------------


def test_no_row_cites_the_contraindications_guidance_for_an_interval() -> None:
    """МУ 3.3.1.1095-02 covers medical contraindications, not intervals: no rules file cites it."""
    data = resources.files("medcard.pediatrics") / "data"
    for folder in ("calendar", "examinations"):
        for file in (data / folder).iterdir():
            assert "1095-02" not in file.read_text(encoding="utf-8"), file.name


def test_every_corrected_row_keeps_its_old_version_and_names_its_source() -> None:
    cal = calendars().by_number("1122н")
    for code in ("pneumo-v2", "pneumo-rv", "hib-v2", "hib-v3"):
        versions = [i for i in cal.items if i.code == code]
        assert [(v.effective.effective_from, v.effective.effective_to) for v in versions] == [
            (None, date(2021, 12, 19)), (date(2021, 12, 20), None)], code
        assert versions[1].provenance.status == "V-2"
        assert "mr-1122n" in versions[1].provenance.sources
    old_rule = next(r for r in cal.catch_up if r.code == "hib-start-1-5y")
    assert (old_rule.effective.effective_to, old_rule.effective.act) == (date(2021, 12, 19), "125н")
    act = examination_acts().by_number("514н")
    for code, day in (("514n-2y", AMENDMENT_396N), ("514n-6y", AMENDMENT_396N), ("514n-12m", date(2018, 9, 1))):
        old, new = act.visit_on(code, day - DAY), act.visit_on(code, day)
        assert old is not None, code
        assert new is not None, code
        assert old is not new, code
        assert (old.effective.effective_to, new.effective.effective_from) == (day - DAY, day), code


def test_the_worklist_periods_agree_with_the_forecast_every_day_for_late_starters() -> None:
    """The stored periods change where the forecast does: at 13 months with no Hib, at a late first dose."""
    histories = {
        HIB: ([], [given(months(7), HIB), given(months(12, 20), HIB)], [given(months(11, 20), HIB),
                                                                          given(months(13), HIB)]),
        PNEUMO: ([], [given(months(8), PNEUMO)], [given(months(14), PNEUMO)], [given(months(5), PNEUMO)]),
    }
    for disease, cases in histories.items():
        for events in cases:
            periods = [p for p in overdue_periods(CHILD, events) if p.disease == disease]
            day = BIRTH
            while day < months(72):
                listed = any(p.start <= day < p.end for p in periods)
                assert listed == (forecast_disease(CHILD, events, disease, day).status == "overdue"), (disease, day)
                day += DAY
