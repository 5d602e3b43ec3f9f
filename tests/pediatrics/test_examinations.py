"""Preventive examinations: a child's schedule across the change from 514н to 211н, and where each stands."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from medcard.pediatrics.examinations import (
    ExaminationStatus,
    Gap,
    RecordedExamination,
    ScheduledExamination,
    check_record,
    examination_schedule,
    examination_statuses,
)
from medcard.pediatrics.rules import Duration

CHANGE_OF_ACT = date(2025, 9, 1)
GIRL_BIRTH = date(2018, 2, 1)


def d(text: str) -> date:
    return date.fromisoformat(text)


def seen(day: str, *specialists: str, health: str | None = None, pe: str | None = None,
         tests: tuple[str, ...] = ()) -> RecordedExamination:
    return RecordedExamination(d(day), frozenset(specialists), frozenset(tests), health, pe)


def _specialists(exam: ScheduledExamination) -> list[str]:
    return [r.code for r in exam.specialists]


def _by_code(items: tuple[ExaminationStatus, ...]) -> dict[str, ExaminationStatus]:
    return {item.examination.visit.code: item for item in items}


def test_girls_schedule_follows_514n_before_the_change_and_211n_after() -> None:
    schedule = examination_schedule(GIRL_BIRTH, "female")
    exams = {e.visit.code: e for e in schedule.examinations}
    for exam in schedule.examinations:
        assert exam.act.meta.number == ("514н" if exam.due_from < CHANGE_OF_ACT else "211н"), exam.visit.code
    codes = [e.visit.code for e in schedule.examinations]
    # Newborn, 1–11 months, 12 months, 1y3m, 1y6m, 2–7 years under 514н; 8–13 years under 211н.
    assert codes[:3] == ["514n-newborn", "514n-1m", "514n-2m"]
    assert codes[20:22] == ["514n-7y", "211n-8y"]
    assert codes[-1] == "211n-13y"
    assert len(codes) == 27
    # 211н is in force to 31.08.2031; nothing is loaded after it, up to the day before the 18th birthday.
    assert schedule.gaps == (Gap(d("2031-09-01"), d("2036-01-31")),)

    expected = {
        "514n-newborn": ("2018-02-01", "2018-02-28", ["pediatrician"]),
        "514n-1m": ("2018-03-01", "2018-03-31",
                    ["pediatrician", "neurologist", "pediatric-surgeon", "ophthalmologist", "pediatric-dentist"]),
        "514n-3m": ("2018-05-01", "2018-05-31", ["pediatrician", "traumatologist-orthopedist"]),
        "514n-12m": ("2019-02-01", "2019-04-30", None),
        # The 7-year window runs past the change of act: it still follows 514н, the act of its due date.
        "514n-7y": ("2025-02-01", "2026-01-31", None),
        "211n-8y": ("2026-02-01", "2027-01-31", ["pediatrician", "pediatric-dentist"]),
        "211n-13y": ("2031-02-01", "2032-01-31",
                     ["pediatrician", "pediatric-dentist", "obstetrician-gynecologist", "ophthalmologist"]),
    }
    for code, (start, end, specialists) in expected.items():
        exam = exams[code]
        assert (exam.due_from, exam.due_until) == (d(start), d(end)), code
        if specialists is not None:
            assert _specialists(exam) == specialists, code
    assert "obstetrician-gynecologist" in _specialists(exams["514n-3y"])
    assert "pediatric-urologist-andrologist" not in _specialists(exams["514n-3y"])
    assert exams["514n-6y"].visit.extended
    assert exams["211n-10y"].visit.extended


def test_boys_schedule_has_the_urologist_instead_of_the_gynecologist() -> None:
    exams = {e.visit.code: e for e in examination_schedule(GIRL_BIRTH, "male").examinations}
    assert "pediatric-urologist-andrologist" in _specialists(exams["211n-13y"])
    assert "obstetrician-gynecologist" not in _specialists(exams["211n-13y"])


def test_an_infant_born_just_before_the_change_has_her_first_month_under_211n() -> None:
    exams = examination_schedule(d("2025-08-15"), "female", until=d("2025-12-31")).examinations
    newborn, one_month, *_ = exams
    assert (newborn.act.meta.number, one_month.act.meta.number) == ("514н", "211н")
    # 211н: at one month only the pediatrician, the surgeon and the ophthalmologist, with ophthalmoscopy.
    assert _specialists(one_month) == ["pediatrician", "pediatric-surgeon", "ophthalmologist"]
    assert "ophthalmoscopy-mydriasis" in [t.code for t in one_month.tests]
    three_months = next(e for e in exams if e.visit.code == "211n-3m")
    assert "neurologist" in _specialists(three_months)


def test_a_child_born_before_514n_has_a_gap_and_turns_eleven_on_the_day_211n_starts() -> None:
    schedule = examination_schedule(d("2014-09-01"), "male")
    assert schedule.gaps == (Gap(d("2014-09-01"), d("2017-12-31")), Gap(d("2031-09-01"), d("2032-08-31")))
    exams = {e.visit.code: e for e in schedule.examinations}
    assert exams["514n-10y"].due_from == d("2024-09-01")
    assert exams["211n-11y"].due_from == CHANGE_OF_ACT
    assert "514n-11y" not in exams
    assert "211n-10y" not in exams
    assert min(e.due_from for e in schedule.examinations) == d("2018-09-01")  # 514н's 4-year examination


def _girls_history() -> list[RecordedExamination]:
    """Every examination of her schedule to 12 years attended in full ten days into its window, except:
    none at 2 years, no dentist at 9, and at 11 a general practitioner instead of the pediatrician."""
    records = []
    for exam in examination_schedule(GIRL_BIRTH, "female", until=d("2030-12-31")).examinations:
        code, day = exam.visit.code, exam.due_from + timedelta(days=10)
        specialists = set(_specialists(exam))
        if code == "514n-2y":
            continue
        if code == "211n-9y":
            specialists.discard("pediatric-dentist")
        if code == "211n-11y":
            specialists = (specialists - {"pediatrician"}) | {"general-practitioner"}
        records.append(RecordedExamination(day, frozenset(specialists), health_group="I", pe_group="main"))
    records.append(seen("2028-03-01", "pediatrician", "pediatric-dentist", health="II", pe="preparatory"))
    return records


def test_walk_from_birth_to_seventeen() -> None:
    history = _girls_history()
    expected_by_age = {  # (done, due, overdue, not yet due) on each birthday
        0: (0, 1, 0, 26), 1: (12, 1, 0, 14), 2: (15, 1, 0, 11), 3: (15, 1, 1, 10), 6: (18, 1, 1, 7),
        8: (20, 1, 1, 5), 10: (21, 1, 2, 3), 12: (23, 1, 2, 1), 13: (24, 1, 2, 0), 14: (24, 0, 3, 0),
        17: (24, 0, 3, 0),
    }
    for age, counts in expected_by_age.items():
        on = Duration(years=age).after(GIRL_BIRTH)
        statuses = Counter(item.status for item in examination_statuses(GIRL_BIRTH, "female", history, on))
        assert (statuses["done"], statuses["due"], statuses["overdue"], statuses["not-due"]) == counts, age


def test_statuses_name_what_is_missing_and_the_groups_given() -> None:
    result = _by_code(examination_statuses(GIRL_BIRTH, "female", _girls_history(), d("2030-03-01")))
    # Due from 01.02.2020, under 514н as amended from 15.10.2019: the psychiatrist only for the risk group.
    assert (result["514n-2y"].status, result["514n-2y"].missing_specialists) == (
        "overdue", ("pediatrician", "pediatric-dentist"))
    assert (result["211n-9y"].status, result["211n-9y"].missing_specialists) == ("overdue", ("pediatric-dentist",))
    # 211н lets a general practitioner do the pediatrician's examination.
    assert (result["211n-11y"].status, result["211n-11y"].completed_on) == ("done", d("2029-02-11"))
    # Two records in the 10-year window: the later one's groups are the examination's result.
    ten = result["211n-10y"]
    assert (ten.status, ten.health_group, ten.pe_group) == ("done", "II", "preparatory")
    assert "cbc" in ten.missing_tests
    assert result["211n-12y"].status == "done"
    assert result["211n-13y"].status == "not-due"
    before_the_visit = _by_code(examination_statuses(GIRL_BIRTH, "female", _girls_history(), d("2030-02-05")))
    assert before_the_visit["211n-12y"].status == "due"


def test_general_practitioner_does_not_replace_the_pediatrician_under_514n() -> None:
    record = seen("2018-02-10", "general-practitioner")
    newborn = examination_statuses(GIRL_BIRTH, "female", [record], d("2018-02-20"))[0]
    assert (newborn.examination.visit.code, newborn.status) == ("514n-newborn", "due")


def test_window_edges() -> None:
    on_last_day = _by_code(examination_statuses(GIRL_BIRTH, "female", [], d("2018-03-31")))
    assert on_last_day["514n-1m"].status == "due"
    next_day = _by_code(examination_statuses(GIRL_BIRTH, "female", [], d("2018-04-01")))
    assert (next_day["514n-1m"].status, next_day["514n-2m"].status) == ("overdue", "due")
    # A visit outside the window does not count for it.
    late = _by_code(examination_statuses(GIRL_BIRTH, "female", [seen("2018-04-02", "pediatrician")], d("2018-04-03")))
    assert late["514n-newborn"].status == "overdue"


def test_health_and_pe_groups_are_codes_of_the_act_in_force() -> None:
    check_record(seen("2024-03-01", "pediatrician", health="III", pe="special-a"))
    with pytest.raises(ValueError, match="'VI' is not a health group of 514н"):
        check_record(seen("2024-03-01", "pediatrician", health="VI"))
    with pytest.raises(ValueError, match="'basic' is not a physical-education group of 211н"):
        examination_statuses(GIRL_BIRTH, "female", [seen("2026-03-01", "pediatrician", pe="basic")], d("2026-04-01"))
