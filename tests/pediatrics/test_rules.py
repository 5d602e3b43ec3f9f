"""The rules loader: the packaged acts, versions by date, and clear errors for malformed files."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from medcard.pediatrics.rules import (
    Duration,
    Provenance,
    RulesError,
    calendars,
    examination_acts,
    load_calendars,
    load_examination_acts,
)


def _packaged(kind: str, name: str) -> dict[str, Any]:
    text = (resources.files("medcard.pediatrics") / "data" / kind / name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _write(root: Path, kind: str, name: str, data: Any) -> Path:
    (root / kind).mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    (root / kind / name).write_text(text, encoding="utf-8")
    return root


def _later_calendar() -> dict[str, Any]:
    """A copy of 1122н that starts later, so it does not clash with the packaged file."""
    data = _packaged("calendar", "ru-1122n-2021.json")
    data.update(number="test", effective_from="2040-01-01")
    return data


def test_durations_parse_and_add_calendar_months() -> None:
    assert Duration.parse("P1Y6M") == Duration(1, 6, 0)
    assert Duration.parse("P4M15D").after(date(2024, 1, 15)) == date(2024, 5, 30)
    assert Duration.parse("P1M").after(date(2024, 1, 31)) == date(2024, 2, 29)
    assert Duration.parse("P5M15D").minus(Duration.parse("P4M15D")) == Duration(0, 1, 0)
    assert str(Duration(0, 4, 15)) == "P4M15D"
    for bad in ("P", "3 months", "P1W", "PT1H", "p1y"):
        with pytest.raises(ValueError, match="ISO 8601 duration"):
            Duration.parse(bad)


def test_packaged_versions_and_the_act_in_force_on_a_date() -> None:
    acts = examination_acts()
    assert [a.meta.number for a in acts.versions] == ["514н", "211н"]
    in_force = {day: acts.in_force(date.fromisoformat(day)) for day in ("2017-12-31", "2018-01-01", "2025-08-31",
                                                                         "2025-09-01", "2031-08-31", "2031-09-01")}
    assert {day: act.meta.number if act else None for day, act in in_force.items()} == {
        "2017-12-31": None, "2018-01-01": "514н", "2025-08-31": "514н",
        "2025-09-01": "211н", "2031-08-31": "211н", "2031-09-01": None}
    calendar = calendars().in_force(date(2024, 1, 1))
    assert calendar is not None
    assert (calendar.meta.number, calendar.meta.effective_from) == ("1122н", date(2021, 12, 20))
    assert calendars().in_force(date(2021, 12, 19)) is None


def _rows(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every object of a file that carries provenance, with a name for messages."""
    rows = [("provenance", data["provenance"])]
    for key in ("items", "catch_up", "risk_groups", "health_groups", "pe_groups", "visits"):
        rows += [(f"{key}:{row.get('code')}", row) for row in data.get(key, [])]
    for visit in data.get("visits", []):
        rows += [(f"{visit['code']}:{r['code']}", r) for r in visit["specialists"] + visit["tests"]]
    return rows


@pytest.mark.parametrize(("kind", "name", "act"), [
    ("calendar", "ru-1122n-2021.json", "1122н"),
    ("examinations", "ru-514n-2017.json", "514н"),
    ("examinations", "ru-211n-2025.json", "211н"),
])
def test_every_unverified_row_is_flagged_with_the_act_to_check(kind: str, name: str, act: str) -> None:
    data = _packaged(kind, name)
    for where, row in _rows(data):
        if row["status"] == "UNVERIFIED" or row.get("unverified_fields"):
            assert row["unverified"] is True, where
            assert act in row["note"], where
        else:
            assert row["unverified"] is False, where
            assert row["sources"], where


def test_loaded_rows_keep_their_provenance() -> None:
    calendar = calendars().versions[0]
    hepb = next(item for item in calendar.items if item.code == "hepb-v1")
    assert hepb.provenance == Provenance("V", ("a", "b"), False)
    hib = next(rule for rule in calendar.catch_up if rule.code == "hib-start-6-12m")
    assert (hib.provenance.status, hib.provenance.unverified) == ("UNVERIFIED", True)
    visit = next(v for v in examination_acts().versions[1].visits if v.code == "211n-1m")
    assert {r.code for r in visit.specialists} == {"pediatrician", "pediatric-surgeon", "ophthalmologist"}
    assert all(r.provenance.status == "V-2" for r in visit.specialists)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit of one field, by a dotted path with list indexes: ``items.0.due_age``."""
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return edit


_DELETE = object()


@pytest.mark.parametrize(("edit", "field", "problem"), [
    (_set("items.1.due_age", "1 month"), "items[1].due_age", "expected an ISO 8601 duration"),
    (_set("act", _DELETE), "act", "is required"),
    (_set("items.0.dose_numbr", 1), "items[0].dose_numbr", "is not a known field"),
    (_set("items.1.note", _DELETE), "items[1].note", "is required when unverified is true"),
    (_set("items.0.sources", ["zzz"]), "items[0].sources", "cites 'zzz'"),
    (_set("items.0.diseases", ["123"]), "items[0].diseases", "'123' is not one of the file's diseases"),
    (_set("items.0.unverified", True), "items[0].unverified", "must be false"),
    (_set("items.0.earliest_age", "P1D"), "items[0].due_age", "is before earliest_age"),
    (_set("items.0.dose", 0), "items[0].dose", "expected an integer of at least 1"),
    (_set("effective_from", "2040-02-30"), "effective_from", "expected a date YYYY-MM-DD"),
    (_set("items.2.dose", 9), "items[2].dose", "leaves a gap: its doses must be 1..5"),
    (_set("risk_groups.0.status", "maybe"), "risk_groups[0].status", "expected one of V, V-2, UNVERIFIED"),
    (_set("catch_up.0.max_age", _DELETE), "catch_up[0].max_age", "sets max_age, total_doses or both"),
    (_set("provenance.source", "a"), "provenance.source", "is not a known field"),
    (_set("items.3.unverified_fields", ["due"]), "items[3].unverified_fields", "names 'due', which is not a field"),
    (_set("amendments.0.date", "12.12.2023"), "amendments[0].date", "expected a date YYYY-MM-DD"),
    # row versions: the old pneumo-v2 (items 9) ending on the day the new one (items 10) starts
    (_set("items.9.effective_to", "2021-12-20"), "items[10].effective_from", "defined twice for the same days"),
    (_set("items.10.effective_from", _DELETE), "items[10].effective_from", "defined twice for the same days"),
    (_set("items.9.effective_from", "2022-01-01"), "items[9].effective_to", "is before effective_from"),
    (_set("catch_up.4.doses.1.item", "pneumo-v2"), "catch_up[4].doses", "'pneumo-v2' is not against every disease"),
    (_set("catch_up.4.doses.2.item", "hib-v9"), "catch_up[4].doses[2].item", "'hib-v9' is not a row"),
    (_set("catch_up.4.total_doses", 2), "catch_up[4].total_doses", "must be the number of doses listed (3)"),
    (_set("catch_up.4.doses.0.min_interval", "P1M"), "catch_up[4].doses[0].item", "the first dose of a series"),
    (_set("simultaneous.rule", "same-week"), "simultaneous.rule", "expected one of same-calendar-day"),
])
def test_malformed_calendar_names_the_file_and_the_field(tmp_path: Path, edit: Callable[[dict[str, Any]], None],
                                                        field: str, problem: str) -> None:
    data = _later_calendar()
    edit(data)
    _write(tmp_path, "calendar", "ru-broken.json", data)
    with pytest.raises(RulesError) as raised:
        load_calendars([tmp_path])
    assert (raised.value.file, raised.value.field) == ("ru-broken.json", field)
    assert problem in raised.value.problem
    assert str(raised.value).startswith(f"ru-broken.json: {field}: ")


def test_malformed_examination_file_names_the_visit_and_requirement(tmp_path: Path) -> None:
    data = _packaged("examinations", "ru-211n-2025.json")
    data.update(number="test", effective_from="2040-01-01", effective_to=None)
    data["visits"][3]["specialists"][0]["code"] = "cardiologist"
    _write(tmp_path, "examinations", "ru-broken.json", data)
    with pytest.raises(RulesError, match=r"^ru-broken.json: visits\[3\].specialists\[0\].code: 'cardiologist' is not"):
        load_examination_acts([tmp_path])


def test_a_conditional_requirement_must_say_for_whom(tmp_path: Path) -> None:
    data = _packaged("examinations", "ru-211n-2025.json")
    data.update(number="test", effective_from="2040-01-01", effective_to=None)
    data["visits"][3]["specialists"][0]["conditional"] = True
    _write(tmp_path, "examinations", "ru-broken.json", data)
    with pytest.raises(RulesError, match=r"^ru-broken.json: visits\[3\].specialists\[0\].condition_ru: is required "
                                         "when conditional is true"):
        load_examination_acts([tmp_path])


def test_versions_of_a_visit_keep_its_age(tmp_path: Path) -> None:
    data = _packaged("examinations", "ru-211n-2025.json")
    data.update(number="test", effective_from="2040-01-01", effective_to=None)
    copy = json.loads(json.dumps(data["visits"][3]))
    data["visits"][3]["effective_to"] = "2040-12-31"
    copy.update(effective_from="2041-01-01", age="P3M1D")
    data["visits"].append(copy)
    _write(tmp_path, "examinations", "ru-broken.json", data)
    with pytest.raises(RulesError, match=r"^ru-broken.json: visits\[31\].age: versions of visit '211n-3m' must have"):
        load_examination_acts([tmp_path])


@pytest.mark.parametrize(("content", "field", "problem"), [
    ("{not json", "(file)", "not valid JSON"),
    ("[]", "(top level)", "expected a JSON object"),
    (json.dumps({"format": "medcard/preventive-examinations@1"}), "format",
     "expected 'medcard/vaccination-calendar@1'"),
])
def test_unreadable_files_are_named(tmp_path: Path, content: str, field: str, problem: str) -> None:
    _write(tmp_path, "calendar", "ru-broken.json", content)
    with pytest.raises(RulesError) as raised:
        load_calendars([tmp_path])
    assert (raised.value.file, raised.value.field) == ("ru-broken.json", field)
    assert problem in raised.value.problem


def test_two_versions_cannot_start_on_the_same_day(tmp_path: Path) -> None:
    data = _later_calendar()
    data["effective_from"] = "2021-12-20"
    _write(tmp_path, "calendar", "ru-clash.json", data)
    with pytest.raises(RulesError, match=r"ru-clash.json: effective_from: 2021-12-20 is also the start of ru-1122n"):
        load_calendars([tmp_path])


def test_a_later_version_ends_an_open_ended_one(tmp_path: Path) -> None:
    versions = load_calendars([_write(tmp_path, "calendar", "ru-later.json", _later_calendar())])
    first, second = versions.versions
    assert (first.meta.effective_to, first.meta.in_force_until) == (None, date(2039, 12, 31))
    assert versions.in_force(date(2040, 1, 1)) is second
    assert versions.by_number("test") is second
