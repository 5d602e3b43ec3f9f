"""The z-scores shown while a measurement is typed come from the WHO references (pediatrics/growth.py)."""

from __future__ import annotations

from datetime import date

import pytest

from medcard.pediatrics import growth
from medcard.records.visit import Child
from medcard.records.vitals import scores

TODAY = date(2026, 11, 26)
GIRL = Child("p", date(2025, 11, 26), "female", None)  # one year old (365 days)


def test_each_measurement_gets_its_who_z_score() -> None:
    found = {s.indicator: s for s in scores({"weight": ["8,9"], "height": ["74"], "head": ["45"]}, GIRL, TODAY)}
    assert set(found) == {"weight-for-age", "height-for-age", "weight-for-height", "head-circumference-for-age"}
    assert found["weight-for-age"].z == pytest.approx(growth.zscore("weight-for-age", "female", 365, 8.9))
    assert found["height-for-age"].label == "Длина тела к возрасту"  # lying, under 2 years
    assert found["weight-for-age"].z_text == f"{found['weight-for-age'].z:+.1f}".replace(".", ",").replace("-", "−")


def test_bmi_for_age_replaces_weight_for_height_from_five_years() -> None:
    boy = Child("p", date(2019, 5, 1), "male", None)
    found = {s.indicator for s in scores({"weight": ["25"], "height": ["125"]}, boy, TODAY)}
    assert found == {"weight-for-age", "height-for-age", "bmi-for-age"}


def test_a_far_off_value_asks_to_be_checked_and_a_low_one_is_named() -> None:
    heavy = scores({"weight": ["30"]}, GIRL, TODAY)[0]
    assert heavy.alert
    assert heavy.remark.startswith("проверьте значение")
    short = {s.indicator: s for s in scores({"height": ["66"]}, GIRL, TODAY)}["height-for-age"]
    assert short.alert
    assert short.remark in ("низкорослость", "выраженная низкорослость")


def test_values_not_numbers_or_out_of_range_are_left_out() -> None:
    assert scores({"weight": ["abc"], "height": ["900"], "head": [""]}, GIRL, TODAY) == []


def test_the_visit_date_typed_sets_the_age() -> None:
    earlier = scores({"weight": ["8,9"], "date": ["2026-05-26"]}, GIRL, TODAY)[0]
    assert earlier.z == pytest.approx(growth.zscore("weight-for-age", "female", 181, 8.9))
