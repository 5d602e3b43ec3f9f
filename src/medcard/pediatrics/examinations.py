"""Preventive examinations of minors: the schedule of the act in force, and where a child stands.

Pure functions over the examination acts (:mod:`medcard.pediatrics.rules`); no database.

- Each scheduled examination follows the act in force on its due date (the first day of its
  window): examinations due before 01.09.2025 follow 514н, from that day 211н (domain.md §2).
  Within the act, a row with several versions (514н as amended from 01.09.2018 and 15.10.2019)
  follows the version in force on the day the examination is done: the first examination on
  record in its window, or, with none yet, the evaluation day kept within the window. The
  schedule alone (no records) shows the version in force on the due date.
  Parts of a child's life no loaded act covers (before 514н took effect, after 211н ends) are
  reported as gaps; no schedule is made up for them.
- A recorded examination is a date, the specialists who saw the child and the tests done, and the
  health group and physical-education group given, which must be codes of the act in force that day.
- A scheduled examination is ``done`` when every required specialist (for the child's sex) saw the
  child within its window, counting the alternatives the act allows (211н: a general practitioner
  for the pediatrician); otherwise it is ``not-due`` before the window, ``due`` during it and
  ``overdue`` after it. A conditional specialist (514н from 15.10.2019: the child psychiatrist at
  2 years only for the risk group found by the parents' questionnaire) is listed but does not
  decide. Tests not recorded are listed but do not decide the status: most of the test rows are
  unverified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from medcard.pediatrics import rules
from medcard.pediatrics.rules import ChildSex, Duration, ExaminationAct, Requirement, Versions, Visit

ExaminationStatusCode = Literal["not-due", "due", "overdue", "done"]

# Preventive examinations are for minors: the schedule ends the day before the 18th birthday.
_ADULTHOOD = Duration(years=18)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class RecordedExamination:
    """An examination on record: who saw the child, which tests were done, and the groups given."""

    performed: date
    specialists: frozenset[str]
    tests: frozenset[str] = frozenset()
    health_group: str | None = None
    pe_group: str | None = None


@dataclass(frozen=True)
class ScheduledExamination:
    """One examination of a child's schedule: the act it follows, its window and what it includes."""

    act: ExaminationAct
    visit: Visit
    due_from: date
    due_until: date  # the last day of the window
    specialists: tuple[Requirement, ...]
    tests: tuple[Requirement, ...]


@dataclass(frozen=True)
class Gap:
    """A period (both days included) that no loaded act covers."""

    start: date
    end: date


@dataclass(frozen=True)
class Schedule:
    """A child's examinations, in date order, and the periods no act covers."""

    examinations: tuple[ScheduledExamination, ...]
    gaps: tuple[Gap, ...]


@dataclass(frozen=True)
class ExaminationStatus:
    """Where one scheduled examination stands on a date."""

    examination: ScheduledExamination
    status: ExaminationStatusCode
    seen_by: frozenset[str]  # required specialists who saw the child in the window
    missing_specialists: tuple[str, ...]
    missing_tests: tuple[str, ...]
    completed_on: date | None  # the day the last required specialist saw the child
    health_group: str | None
    pe_group: str | None


def _for_sex(requirements: Iterable[Requirement], sex: ChildSex) -> tuple[Requirement, ...]:
    return tuple(r for r in requirements if r.sex is None or r.sex == sex)


def _scheduled(act: ExaminationAct, visit: Visit, birth_date: date, sex: ChildSex) -> ScheduledExamination:
    return ScheduledExamination(act, visit, visit.age.after(birth_date), visit.due_to.after(birth_date) - _DAY,
                                _for_sex(visit.specialists, sex), _for_sex(visit.tests, sex))


def _gaps(acts: Versions[ExaminationAct], start: date, end: date) -> tuple[Gap, ...]:
    """The parts of [start, end] that no act is in force on."""
    gaps, day = [], start
    for act in acts.versions:
        first, last = act.meta.effective_from, act.meta.in_force_until
        if last is not None and last < day:
            continue
        if first > end:
            break
        if first > day:
            gaps.append(Gap(day, first - _DAY))
        if last is None or last >= end:
            return tuple(gaps)
        day = last + _DAY
    gaps.append(Gap(day, end))
    return tuple(gaps)


def examination_schedule(birth_date: date, sex: ChildSex, *, until: date | None = None,
                         acts: Versions[ExaminationAct] | None = None) -> Schedule:
    """The examinations due up to ``until`` (default: the day before the 18th birthday), each by its act."""
    acts = acts or rules.examination_acts()
    end = min(until or date.max, _ADULTHOOD.after(birth_date) - _DAY)
    found = [
        _scheduled(act, visit, birth_date, sex)
        for act in acts.versions
        for visit in act.visits
        if act.meta.in_force(due := visit.age.after(birth_date)) and visit.effective.covers(due) and due <= end
    ]
    found.sort(key=lambda e: e.due_from)
    return Schedule(tuple(found), _gaps(acts, birth_date, end))


def check_record(record: RecordedExamination, acts: Versions[ExaminationAct] | None = None) -> None:
    """ValueError unless the record's health group and PE group are codes of the act in force that day."""
    act = (acts or rules.examination_acts()).in_force(record.performed)
    if act is None:
        return  # no loaded act for that day: nothing to check the codes against
    for value, codes, what in ((record.health_group, act.health_groups, "health group"),
                               (record.pe_group, act.pe_groups, "physical-education group")):
        if value is not None and value not in codes:
            raise ValueError(f"{value!r} is not a {what} of {act.meta.number} ({', '.join(codes)})")


def _satisfied_by(act: ExaminationAct, specialist: str) -> frozenset[str]:
    """The codes that count for a required specialist: itself and the alternatives the act allows."""
    code = act.specialists.get(specialist)
    return frozenset((specialist, *(code.alternatives if code else ())))


def _as_done_on(exam: ScheduledExamination, window: Sequence[RecordedExamination], on: date,
                sex: ChildSex) -> ScheduledExamination:
    """The examination with the version of its row in force on the day it is done.

    That day is the first examination on record in its window; with none yet, the evaluation day, kept
    within the window (an examination still to be done follows the rules of the day it is looked at).
    """
    day = window[0].performed if window else min(max(on, exam.due_from), exam.due_until)
    visit = exam.act.visit_on(exam.visit.code, day)
    if visit is None or visit is exam.visit:
        return exam
    return replace(exam, visit=visit, specialists=_for_sex(visit.specialists, sex), tests=_for_sex(visit.tests, sex))


def _status(exam: ScheduledExamination, records: Sequence[RecordedExamination], on: date,
            sex: ChildSex) -> ExaminationStatus:
    """Done, due, overdue or not yet due, from the records within the examination's window (up to ``on``).

    A conditional specialist (only for a risk group) is listed, and seen or not, but does not decide.
    """
    window = sorted((r for r in records if exam.due_from <= r.performed <= min(exam.due_until, on)),
                    key=lambda r: r.performed)
    exam = _as_done_on(exam, window, on, sex)
    seen: dict[str, date] = {}
    for record in window:
        for requirement in exam.specialists:
            if requirement.code not in seen and _satisfied_by(exam.act, requirement.code) & record.specialists:
                seen[requirement.code] = record.performed
    required = [r for r in exam.specialists if not r.conditional]
    missing = tuple(r.code for r in required if r.code not in seen)
    done_tests = {test for record in window for test in record.tests}
    # An examination with no specialist for this child (none in the data) is never "done" by default.
    if required and not missing:
        status: ExaminationStatusCode = "done"
    elif on < exam.due_from:
        status = "not-due"
    else:
        status = "due" if on <= exam.due_until else "overdue"
    return ExaminationStatus(
        examination=exam,
        status=status,
        seen_by=frozenset(seen),
        missing_specialists=missing,
        missing_tests=tuple(t.code for t in exam.tests if t.code not in done_tests),
        completed_on=max(seen[r.code] for r in required) if status == "done" else None,
        health_group=next((r.health_group for r in reversed(window) if r.health_group), None),
        pe_group=next((r.pe_group for r in reversed(window) if r.pe_group), None),
    )


def examination_statuses(birth_date: date, sex: ChildSex, records: Iterable[RecordedExamination], on: date, *,
                         acts: Versions[ExaminationAct] | None = None) -> tuple[ExaminationStatus, ...]:
    """Where every examination of the child's schedule (to age 18) stands on ``on``."""
    acts = acts or rules.examination_acts()
    records = tuple(records)
    for record in records:
        check_record(record, acts)
    schedule = examination_schedule(birth_date, sex, acts=acts)
    return tuple(_status(exam, records, on, sex) for exam in schedule.examinations)
