"""The vaccination forecast on hand-built histories: every expected status and date worked out from 1122н's rows."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from medcard.fhir.validation import validation_issues
from medcard.pediatrics.immunization import (
    Child,
    DoseDates,
    Forecast,
    ImmunizationEvent,
    forecast,
    forecast_disease,
    immunization_recommendation,
)
from medcard.pediatrics.rules import Calendar, Duration, Versions, load_calendars

HEPB, TB, PNEUMO = "66071002", "56717001", "16814004"
DIPHTHERIA, PERTUSSIS, TETANUS = "397430003", "27836007", "76902006"
POLIO, HIB, FLU = "398102009", "709410003", "6142004"
MEASLES, MUMPS, RUBELLA = "14189004", "36989005", "36653000"
PENTAXIM = (DIPHTHERIA, PERTUSSIS, TETANUS, POLIO, HIB)  # DTaP-IPV/Hib, one injection for five diseases
MMR = (MEASLES, MUMPS, RUBELLA)
DT = (DIPHTHERIA, TETANUS)


def d(text: str) -> date:
    return date.fromisoformat(text)


def given(day: str, *diseases: str, dose: int | None = None, ref: str | None = None) -> ImmunizationEvent:
    return ImmunizationEvent(d(day), frozenset(diseases), dose_number=dose, reference=ref)


def refused(day: str, *diseases: str) -> ImmunizationEvent:
    return ImmunizationEvent(d(day), frozenset(diseases), status="not-done", reason="refusal")


def exempted(day: str, *diseases: str, until: str | None = None) -> ImmunizationEvent:
    return ImmunizationEvent(d(day), frozenset(diseases), status="not-done", reason="medical-exemption",
                             exemption_until=d(until) if until else None)


def dates(earliest: str, due: str, overdue: str) -> DoseDates:
    return DoseDates(d(earliest), d(due), d(overdue))


def by_disease(child: Child, events: list[ImmunizationEvent], on: str) -> dict[str, Forecast]:
    return {item.disease.snomed: item for item in forecast(child, events, d(on))}


# A girl born 15.01.2024, vaccinated on the day of every row of the calendar, to 20 months.
GIRL = Child(d("2024-01-15"), "female")
ON_TIME = [
    given("2024-01-15", HEPB),
    given("2024-01-19", TB),
    given("2024-02-15", HEPB),
    given("2024-03-15", PNEUMO),
    given("2024-04-15", *PENTAXIM),
    given("2024-05-30", *PENTAXIM),
    given("2024-05-30", PNEUMO),
    given("2024-07-15", *PENTAXIM),
    given("2024-07-15", HEPB),
    given("2025-01-15", *MMR),
    given("2025-04-15", PNEUMO),
    given("2025-07-15", *PENTAXIM),
    given("2025-09-15", POLIO),
]


def test_on_time_child_has_finished_infant_series_and_waits_for_the_six_year_revaccinations() -> None:
    result = by_disease(GIRL, ON_TIME, "2025-10-01")
    for disease in (HEPB, PNEUMO, PERTUSSIS, HIB):
        assert result[disease].status == "complete", disease
    six_years = dates("2030-01-15", "2030-01-15", "2031-01-15")
    assert (result[MEASLES].status, result[MEASLES].dose_number, result[MEASLES].dates) == ("not-due", 2, six_years)
    assert (result[POLIO].dose_number, result[POLIO].dates, result[POLIO].item.vaccine_ru) == (6, six_years, "ОПВ")
    # 6–7 years: overdue at 8 (source b: up to 7 years 11 months).
    assert (result[DIPHTHERIA].dose_number, result[DIPHTHERIA].dates) == (5, dates("2030-01-15", "2030-01-15",
                                                                                   "2032-01-15"))
    assert result[TB].dates == dates("2030-01-15", "2030-01-15", "2032-01-15")
    assert result[TETANUS].dose_number == 5


def test_on_time_child_before_the_second_dtp_dose_is_not_yet_due() -> None:
    dtp = forecast_disease(GIRL, ON_TIME, DIPHTHERIA, d("2024-05-20"))
    # 4.5 months = 15.01 + 4 months + 15 days; 45 days after 15.04 is the same day; overdue a month later.
    assert (dtp.status, dtp.doses_given, dtp.dose_number) == ("not-due", 1, 2)
    assert dtp.dates == dates("2024-05-30", "2024-05-30", "2024-06-30")
    first_only = ON_TIME[:5]
    assert forecast_disease(GIRL, first_only, DIPHTHERIA, d("2024-06-01")).status == "due"
    assert forecast_disease(GIRL, first_only, DIPHTHERIA, d("2024-06-30")).status == "overdue"


def test_a_newborn_is_overdue_for_hepatitis_b_after_the_first_day() -> None:
    hepb = forecast_disease(GIRL, [], HEPB, d("2024-01-15"))
    assert (hepb.status, hepb.dates) == ("due", dates("2024-01-15", "2024-01-15", "2024-01-16"))
    assert forecast_disease(GIRL, [], HEPB, d("2024-01-16")).status == "overdue"
    tb = forecast_disease(GIRL, [], TB, d("2024-01-16"))
    assert (tb.status, tb.dates, tb.item.vaccine_ru) == ("not-due", dates("2024-01-18", "2024-01-18", "2024-01-23"),
                                                         "БЦЖ-М")


# A boy born 10.01.2023 whose vaccination started at 8 months.
LATE_BOY = Child(d("2023-01-10"), "male")
LATE = [given("2023-09-10", *PENTAXIM), given("2023-09-10", PNEUMO)]


def test_late_starter_gets_the_next_doses_by_interval_not_by_the_missed_ages() -> None:
    result = by_disease(LATE_BOY, LATE, "2023-09-20")
    # DTP: 45 days minimum, 1.5 months recommended after the first dose; the row's one-month window follows.
    assert (result[DIPHTHERIA].status, result[DIPHTHERIA].dates) == (
        "not-due", dates("2023-10-25", "2023-10-25", "2023-11-25"))
    # Pneumococcal started at 7–12 months: at least 4 weeks to the second dose (1122н recommendations, p. 4);
    # overdue a calendar month later (the row's window).
    assert result[PNEUMO].dates == dates("2023-10-08", "2023-10-08", "2023-11-08")
    # Hib started at 6–12 months: two doses 1–1.5 months apart (1122н recommendations, p. 3).
    assert result[HIB].dates == dates("2023-10-10", "2023-10-25", "2023-11-25")
    # Never vaccinated against hepatitis B: overdue since the day after birth.
    assert (result[HEPB].status, result[HEPB].dose_number) == ("overdue", 1)


def test_late_starter_hib_series_ends_with_the_revaccination_when_both_doses_came_before_13_months() -> None:
    events = [*LATE, given("2023-10-25", *PENTAXIM)]
    hib = forecast_disease(LATE_BOY, events, HIB, d("2023-11-01"))
    # both doses before 13 months (10.02.2024): the revaccination at 18 months (10.07.2024) follows
    assert (hib.status, hib.dose_number, hib.item.code) == ("not-due", 3, "hib-rv")
    assert hib.dates == dates("2024-07-10", "2024-07-10", "2024-08-10")
    assert forecast_disease(LATE_BOY, events, DIPHTHERIA, d("2023-11-01")).dose_number == 3


def test_hepatitis_b_catch_up_after_the_first_year_follows_zero_one_six() -> None:
    events = [given("2024-02-01", HEPB)]
    second = forecast_disease(LATE_BOY, events, HEPB, d("2024-02-02"))
    assert second.dates == dates("2024-03-01", "2024-03-01", "2024-04-01")
    third = forecast_disease(LATE_BOY, [*events, given("2024-03-01", HEPB)], HEPB, d("2024-03-02"))
    assert third.dates == dates("2024-08-01", "2024-08-01", "2024-09-01")


def test_hib_one_dose_at_one_to_five_years_is_the_old_rule_and_ends_with_1122n() -> None:
    child = Child(d("2018-01-10"), "female")
    # before 20.12.2021 the 125н footnote: a first dose at 1–5 years, once
    assert forecast_disease(child, [], HIB, d("2021-12-19")).status == "overdue"
    once = [given("2019-03-01", HIB)]
    assert "hib-start-1-5y" in (forecast_disease(child, once, HIB, d("2021-12-19")).reason or "")
    # from 20.12.2021 (1122н): no first dose at 13 months or later
    no_dose = forecast_disease(child, [], HIB, d("2021-12-20"))
    assert (no_dose.status, no_dose.dates) == ("complete", None)
    assert "hib-start-13m" in (no_dose.reason or "")


def test_refusal_is_recorded_and_the_dose_stays_overdue() -> None:
    events = [refused("2025-01-20", *MMR)]
    measles = forecast_disease(GIRL, events, MEASLES, d("2025-03-01"))
    assert (measles.status, measles.dose_number) == ("overdue", 1)
    assert measles.dates == dates("2025-01-15", "2025-01-15", "2025-02-15")
    assert measles.refusals == (d("2025-01-20"),)
    # A refusal before the last dose given is history, not a refusal of the next dose.
    later = forecast_disease(GIRL, [*events, given("2025-04-01", *MMR)], MEASLES, d("2025-04-02"))
    assert (later.refusals, later.dose_number) == ((), 2)


def test_medical_exemption_contraindicates_until_it_ends_then_the_dose_falls_due() -> None:
    events = [given("2024-04-15", *PENTAXIM), exempted("2024-05-25", *PENTAXIM, until="2024-07-31")]
    during = forecast_disease(GIRL, events, DIPHTHERIA, d("2024-06-15"))
    assert (during.status, during.contraindicated_until) == ("contraindicated", d("2024-07-31"))
    # Due again the day after the exemption; the one-month window moves with it.
    after = dates("2024-08-01", "2024-08-01", "2024-09-01")
    assert during.dates == after
    assert forecast_disease(GIRL, events, DIPHTHERIA, d("2024-08-10")).status == "due"
    assert forecast_disease(GIRL, events, DIPHTHERIA, d("2024-09-05")).status == "overdue"


def test_permanent_medical_exemption_has_no_dates() -> None:
    events = [given("2024-04-15", *PENTAXIM), exempted("2024-05-01", PERTUSSIS)]
    pertussis = forecast_disease(GIRL, events, PERTUSSIS, d("2030-01-01"))
    assert (pertussis.status, pertussis.contraindicated_until, pertussis.dates) == ("contraindicated", None, None)
    assert forecast_disease(GIRL, events, TETANUS, d("2024-05-01")).status == "not-due"


def test_hepatitis_b_risk_group_follows_zero_one_two_twelve() -> None:
    risk = Child(GIRL.birth_date, "female", frozenset({"hepb-risk"}))
    first_two = [given("2024-01-15", HEPB), given("2024-02-15", HEPB)]
    third = forecast_disease(risk, first_two, HEPB, d("2024-03-01"))
    assert (third.dose_number, third.dates, third.item.code) == (
        3, dates("2024-03-15", "2024-03-15", "2024-04-15"), "hepb-risk-v3")
    standard = forecast_disease(GIRL, first_two, HEPB, d("2024-03-01"))
    assert standard.dates == dates("2024-07-15", "2024-07-15", "2024-08-15")
    three = [*first_two, given("2024-03-15", HEPB)]
    fourth = forecast_disease(risk, three, HEPB, d("2024-04-01"))
    assert (fourth.dose_number, fourth.dates) == (4, dates("2025-01-15", "2025-01-15", "2025-02-15"))
    assert forecast_disease(GIRL, three, HEPB, d("2024-04-01")).status == "complete"
    assert forecast_disease(risk, [*three, given("2025-01-15", HEPB)], HEPB, d("2025-02-01")).status == "complete"


def test_risk_group_variants_change_the_vaccine() -> None:
    ipv_only = Child(GIRL.birth_date, "female", frozenset({"polio-ipv-only", "tb-bcg"}))
    four = [given(day, POLIO) for day in ("2024-04-15", "2024-05-30", "2024-07-15", "2025-07-15")]
    assert forecast_disease(ipv_only, four, POLIO, d("2025-08-01")).item.vaccine_ru == "ИПВ"
    assert forecast_disease(GIRL, four, POLIO, d("2025-08-01")).item.vaccine_ru == "ОПВ"
    assert forecast_disease(ipv_only, [], TB, d("2024-01-15")).item.vaccine_ru == "БЦЖ"
    with pytest.raises(ValueError, match="unknown risk group 'hepb'"):
        forecast(Child(GIRL.birth_date, "female", frozenset({"hepb"})), [], d("2024-01-15"))


# A boy born 01.03.2018, vaccinated on time to 20 months (dose numbers as recorded in his card).
SCHOOLBOY = Child(d("2018-03-01"), "male")
INFANT_SERIES = [
    given("2018-03-01", HEPB, dose=1), given("2018-04-01", HEPB, dose=2), given("2018-09-01", HEPB, dose=3),
    given("2018-03-05", TB, dose=1),
    given("2018-06-01", *PENTAXIM, dose=1), given("2018-07-16", *PENTAXIM, dose=2),
    given("2018-09-01", *PENTAXIM, dose=3),
    given("2019-09-01", *PENTAXIM, dose=4), given("2019-11-01", POLIO, dose=5),
    given("2019-03-01", *MMR, dose=1),
]


def test_six_year_revaccinations() -> None:
    result = by_disease(SCHOOLBOY, INFANT_SERIES, "2024-03-10")
    assert (result[MEASLES].status, result[MEASLES].dose_number) == ("due", 2)
    assert result[MEASLES].dates == dates("2024-03-01", "2024-03-01", "2025-03-01")
    assert (result[POLIO].status, result[POLIO].dose_number) == ("due", 6)
    assert (result[DIPHTHERIA].dose_number, result[DIPHTHERIA].item.code) == (5, "dt-rv2")
    assert result[DIPHTHERIA].dates == dates("2024-03-01", "2024-03-01", "2026-03-01")
    assert (result[TB].status, result[TB].dose_number) == ("due", 2)
    assert result[PERTUSSIS].status == "complete"  # the school-age revaccinations are diphtheria and tetanus only


def test_fourteen_year_revaccination_and_then_every_ten_years_from_eighteen() -> None:
    events = [*INFANT_SERIES, given("2024-03-05", *DT, dose=5), given("2024-03-05", *MMR, dose=2)]
    before = forecast_disease(SCHOOLBOY, events, TETANUS, d("2031-12-01"))
    assert (before.status, before.dose_number) == ("not-due", 6)
    assert before.dates == dates("2032-03-01", "2032-03-01", "2033-03-01")
    assert forecast_disease(SCHOOLBOY, events, TETANUS, d("2032-03-10")).status == "due"
    after = forecast_disease(SCHOOLBOY, [*events, given("2032-03-15", *DT)], DIPHTHERIA, d("2032-04-01"))
    # Ten years after the last revaccination (later than 18 years of age); overdue a year later.
    assert (after.status, after.dose_number, after.item.code) == ("not-due", 7, "dt-adult")
    assert after.dates == dates("2042-03-15", "2042-03-15", "2043-03-15")


def test_combination_vaccine_counts_for_each_of_its_diseases() -> None:
    result = by_disease(GIRL, [given("2024-04-15", *PENTAXIM, ref="Immunization/p1")], "2024-04-20")
    for disease in PENTAXIM:
        assert (result[disease].doses_given, result[disease].dose_number) == (1, 2), disease
        assert result[disease].supporting == ("Immunization/p1",)
    assert result[HEPB].doses_given == 0
    mmr = by_disease(GIRL, [given("2025-01-15", *MMR)], "2025-01-20")
    assert {mmr[disease].dose_number for disease in MMR} == {2}


def test_recorded_dose_number_replaces_the_count() -> None:
    polio = forecast_disease(GIRL, [given("2024-08-01", POLIO, dose=3)], POLIO, d("2024-08-02"))
    assert (polio.doses_given, polio.dose_number, polio.item.code) == (3, 4, "polio-rv1")


def test_influenza_falls_due_again_every_year() -> None:
    flu = forecast_disease(GIRL, [], FLU, d("2024-08-01"))
    assert (flu.status, flu.dates) == ("due", dates("2024-07-15", "2024-07-15", "2025-01-15"))
    after_one = forecast_disease(GIRL, [given("2024-10-01", FLU)], FLU, d("2024-11-01"))
    assert (after_one.status, after_one.dose_number, after_one.dates.due) == ("not-due", 2, d("2025-10-01"))
    # A whole year missed: the dose of the current year is due, not the one of last year.
    missed = forecast_disease(GIRL, [given("2024-10-01", FLU)], FLU, d("2026-11-01"))
    assert (missed.status, missed.dates.due) == ("due", d("2026-10-01"))


def test_events_after_the_evaluation_date_are_ignored() -> None:
    assert forecast_disease(GIRL, ON_TIME, HEPB, d("2024-01-20")).doses_given == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "not-done"}, "needs its reason"),
        ({"reason": "refusal"}, "completed vaccination has no not-done reason"),
        ({"status": "not-done", "reason": "refusal", "exemption_until": date(2025, 1, 1)}, "only a medical exemption"),
        ({"dose_number": 0}, "dose numbers start at 1"),
    ],
)
def test_inconsistent_events_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImmunizationEvent(d("2024-01-01"), frozenset({HEPB}), **kwargs)


# --- The calendar is data: a new version changes forecasts from its start, with no code change ----


def _new_version(tmp_path: Path) -> Path:
    """A copy of 1122н in force from 01.01.2030 that moves the MMR revaccination from 6 to 5 years."""
    packaged = resources.files("medcard.pediatrics") / "data" / "calendar" / "ru-1122n-2021.json"
    data = json.loads(packaged.read_text(encoding="utf-8"))
    data.update(number="9999н-test", date="2029-06-01", effective_from="2030-01-01")
    for item in data["items"]:
        if item["code"] == "mmr-rv":
            item.update(earliest_age="P5Y", due_age="P5Y", overdue_age="P6Y")
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "ru-test-2030.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return tmp_path


def _mmr_rv(birth: str, calendars: Versions[Calendar]) -> Forecast:
    """The forecast of the MMR revaccination of a girl who had the first dose on her first birthday."""
    child = Child(d(birth), "female")
    first = given(str(Duration(years=1).after(child.birth_date)), *MMR)
    return forecast_disease(child, [first], MEASLES, d("2027-01-01"), calendars)


def test_new_calendar_version_changes_doses_falling_due_from_its_start_only(tmp_path: Path) -> None:
    current, changed = load_calendars(), load_calendars([_new_version(tmp_path)])
    assert [v.meta.number for v in changed.versions] == ["1122н", "9999н-test"]
    assert changed.versions[0].meta.in_force_until == d("2029-12-31")
    # Due 01.03.2029 under 1122н, before the new version starts: unchanged.
    before = _mmr_rv("2023-03-01", changed)
    assert (before.dates, before.calendar) == (_mmr_rv("2023-03-01", current).dates, "1122н")
    assert before.dates.due == d("2029-03-01")
    # Due 01.06.2031 under 1122н, after the new version starts: the new version's five years apply.
    after = _mmr_rv("2025-06-01", changed)
    assert _mmr_rv("2025-06-01", current).dates.due == d("2031-06-01")
    assert (after.dates, after.calendar) == (dates("2030-06-01", "2030-06-01", "2031-06-01"), "9999н-test")
    # Five years falls before the new version's start, six years after it: due on its first day.
    straddling = _mmr_rv("2024-09-01", changed)
    assert (straddling.dates, straddling.calendar) == (dates("2030-01-01", "2030-01-01", "2031-01-01"), "9999н-test")


def test_new_calendar_version_leaves_other_series_alone(tmp_path: Path) -> None:
    current, changed = load_calendars(), load_calendars([_new_version(tmp_path)])
    child = Child(d("2025-06-01"), "male")
    for on in ("2025-06-01", "2027-01-01", "2031-07-01"):
        for disease in (HEPB, DIPHTHERIA, POLIO):
            assert forecast_disease(child, [], disease, d(on), changed) == forecast_disease(
                child, [], disease, d(on), current), (disease, on)


# --- FHIR -------------------------------------------------------------------------------------------


def test_recommendation_is_valid_r4_with_one_entry_per_disease() -> None:
    events = [*ON_TIME, refused("2025-09-20", FLU), exempted("2025-09-20", TB, until="2026-01-31")]
    forecasts = forecast(GIRL, events, d("2025-10-01"))
    resource = immunization_recommendation("Patient/girl", forecasts, d("2025-10-01"))
    assert validation_issues(resource) == []
    entries = {e["targetDisease"]["coding"][0]["code"]: e for e in resource["recommendation"]}
    assert len(entries) == 12
    measles = entries[MEASLES]
    assert measles["targetDisease"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert measles["doseNumberPositiveInt"] == 2
    assert [(c["code"]["coding"][0]["code"], c["value"]) for c in measles["dateCriterion"]] == [
        ("30981-5", "2030-01-15"), ("30980-7", "2030-01-15"), ("59778-1", "2031-01-15")]
    assert measles["forecastStatus"]["coding"][0]["code"] == "not-due"
    hepb = entries[HEPB]
    assert hepb["forecastStatus"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/immunization-recommendation-status",
        "code": "complete", "display": "Complete"}
    assert "dateCriterion" not in hepb
    assert entries[TB]["forecastStatus"]["coding"][0]["code"] == "contraindicated"
    assert entries[FLU]["forecastReason"] == [{"text": "Отказ от прививки 2025-09-20"}]


@pytest.mark.parametrize("on", ["2024-01-15", "2024-06-01", "2026-01-01", "2032-03-10"])
def test_recommendation_validates_at_every_age(on: str) -> None:
    resource = immunization_recommendation("Patient/1", forecast(GIRL, ON_TIME, d(on)), d(on))
    assert validation_issues(resource) == []
    assert resource["date"] == on
