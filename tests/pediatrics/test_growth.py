"""WHO growth z-scores, centiles, classification and centile crossings (medcard.pediatrics.growth).

Expected values here are computed by hand from rows of the WHO tables, written out as literals,
so they check the formulas and the rules independently of the module's own LMS code.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from medcard.pediatrics import growth
from medcard.pediatrics.growth import GrowthPoint, centile, centile_crossings, classify, zscore

# WHO weianthro, boys, day 0: L, M, S.
BOYS_WEIGHT_AT_BIRTH = (0.3487, 3.3464, 0.14602)
# WHO lenanthro, boys, day 0.
BOYS_LENGTH_AT_BIRTH = (1.0, 49.8842, 0.03795)
# WHO bfawho2007, girls, month 61.
GIRLS_BMI_AT_61_MONTHS = (-0.8886, 15.2441, 0.09692)


def lms_z(y: float, lms: tuple[float, float, float]) -> float:
    power, median, cv = lms
    return ((y / median) ** power - 1) / (power * cv)


def lms_value(z: float, lms: tuple[float, float, float]) -> float:
    power, median, cv = lms
    return float(median * (1 + power * cv * z) ** (1 / power))


# --- Medians, formulas -------------------------------------------------------------------------


def table_rows(name: str, sex: str) -> list[list[float]]:
    rows: list[list[float]] = growth.reference_data(name)[sex]
    return rows


@pytest.mark.parametrize("sex", ["male", "female"])
@pytest.mark.parametrize(
    ("indicator", "table"),
    [
        ("weight-for-age", "who2006_weight_for_age"),
        ("height-for-age", "who2006_length_height_for_age"),
        ("bmi-for-age", "who2006_bmi_for_age"),
        ("head-circumference-for-age", "who2006_head_circumference_for_age"),
    ],
)
def test_the_who_2006_median_of_every_day_is_z_zero(indicator: str, table: str, sex: str) -> None:
    rows = table_rows(table, sex)
    assert len(rows) == 1857
    for day, (_, median, _) in enumerate(rows):
        assert zscore(indicator, sex, day, median) == pytest.approx(0, abs=1e-9), day


@pytest.mark.parametrize("sex", ["male", "female"])
@pytest.mark.parametrize(
    ("indicator", "table", "last_month"),
    [
        ("weight-for-age", "who2007_weight_for_age", 120),
        ("height-for-age", "who2007_height_for_age", 228),
        ("bmi-for-age", "who2007_bmi_for_age", 228),
    ],
)
def test_the_who_2007_median_is_z_zero_at_whole_months(indicator: str, table: str, last_month: int, sex: str) -> None:
    rows = table_rows(table, sex)
    # 16 months are exactly 487 days (30.4375 = 487/16), so those ages fall on a table row.
    for month in range(64, last_month + 1, 16):
        median = rows[month - 61][1]
        assert zscore(indicator, sex, month * 487 // 16, median) == pytest.approx(0, abs=1e-9), month


@pytest.mark.parametrize(("sex", "table", "age"), [("male", "who2006_weight_for_length", 300),
                                                   ("female", "who2006_weight_for_height", 1000)])
def test_the_weight_for_length_and_height_medians_are_z_zero(sex: str, table: str, age: int) -> None:
    first = growth.reference_data(table)["index"]["first"]
    for i, (_, median, _) in enumerate(table_rows(table, sex)):
        height = round(first + i / 10, 1)
        assert zscore("weight-for-height", sex, age, median, height_cm=height) == pytest.approx(0, abs=1e-9)


def test_z_is_the_lms_formula_within_three() -> None:
    assert zscore("weight-for-age", "male", 0, 4.0) == pytest.approx(lms_z(4.0, BOYS_WEIGHT_AT_BIRTH), abs=1e-12)
    assert zscore("height-for-age", "male", 0, 47.0) == pytest.approx((47 / 49.8842 - 1) / 0.03795, abs=1e-12)


def test_between_table_rows_the_2007_lms_is_interpolated_linearly_by_month() -> None:
    # Day 1872 is 61.5031 months: halfway-ish between rows 61 and 62 of bfawho2007 (girls).
    row61, row62 = GIRLS_BMI_AT_61_MONTHS, (-0.9068, 15.2434, 0.09738)
    f = 1872 / 30.4375 - 61
    power, median, cv = (a + f * (b - a) for a, b in zip(row61, row62, strict=True))
    lms = (power, median, cv)
    assert zscore("bmi-for-age", "female", 1872, 17.0) == pytest.approx(lms_z(17.0, lms), abs=1e-8)


def test_between_table_rows_weight_for_length_is_interpolated_by_0_1_cm() -> None:
    # wflanthro boys 45.0 and 45.1 cm.
    low, high = (-0.3521, 2.441, 0.09182), (-0.3521, 2.4577, 0.09176)
    power, median, cv = (a + 0.35 * (b - a) for a, b in zip(low, high, strict=True))
    expected = lms_z(2.5, (power, median, cv))
    assert zscore("weight-for-height", "male", 10, 2.5, height_cm=45.035) == pytest.approx(expected, abs=1e-9)


# --- WHO restricted application beyond ±3 ------------------------------------------------------


@pytest.mark.parametrize("weight", [5.5, 6.0, 8.0])
def test_weight_above_plus_three_is_counted_in_the_2_to_3_gap(weight: float) -> None:
    sd2, sd3 = lms_value(2, BOYS_WEIGHT_AT_BIRTH), lms_value(3, BOYS_WEIGHT_AT_BIRTH)
    assert lms_z(weight, BOYS_WEIGHT_AT_BIRTH) > 3
    expected = 3 + (weight - sd3) / (sd3 - sd2)
    assert zscore("weight-for-age", "male", 0, weight) == pytest.approx(expected, abs=1e-12)
    assert expected != pytest.approx(lms_z(weight, BOYS_WEIGHT_AT_BIRTH), abs=0.01)


@pytest.mark.parametrize("weight", [1.0, 1.5, 2.0])
def test_weight_below_minus_three_is_counted_in_the_2_to_3_gap(weight: float) -> None:
    sdm2, sdm3 = lms_value(-2, BOYS_WEIGHT_AT_BIRTH), lms_value(-3, BOYS_WEIGHT_AT_BIRTH)
    assert lms_z(weight, BOYS_WEIGHT_AT_BIRTH) < -3
    expected = -3 + (weight - sdm3) / (sdm2 - sdm3)
    assert zscore("weight-for-age", "male", 0, weight) == pytest.approx(expected, abs=1e-12)


def test_bmi_of_5_to_19_years_is_restricted_too() -> None:
    bmi = 30.0
    sd2, sd3 = lms_value(2, GIRLS_BMI_AT_61_MONTHS), lms_value(3, GIRLS_BMI_AT_61_MONTHS)
    # Day 1857 is month 61.0107: close to the row but not on it, so compare loosely.
    assert zscore("bmi-for-age", "female", 1857, bmi) == pytest.approx(3 + (bmi - sd3) / (sd3 - sd2), abs=0.01)
    assert abs(lms_z(bmi, GIRLS_BMI_AT_61_MONTHS) - (3 + (bmi - sd3) / (sd3 - sd2))) > 0.5


def test_weight_for_height_beyond_three_is_restricted() -> None:
    lms = (-0.3521, 2.441, 0.09182)  # wflanthro boys 45.0 cm
    sd2, sd3 = lms_value(2, lms), lms_value(3, lms)
    assert zscore("weight-for-height", "male", 5, 4.0, height_cm=45.0) == pytest.approx(3 + (4 - sd3) / (sd3 - sd2))


@pytest.mark.parametrize(("indicator", "value", "lms"), [
    ("height-for-age", 40.0, BOYS_LENGTH_AT_BIRTH),
    ("height-for-age", 60.0, BOYS_LENGTH_AT_BIRTH),
    ("head-circumference-for-age", 28.0, (1.0, 34.4618, 0.03686)),  # hcanthro boys day 0
    ("head-circumference-for-age", 41.0, (1.0, 34.4618, 0.03686)),
])
def test_length_and_head_circumference_are_never_restricted(
    indicator: str, value: float, lms: tuple[float, ...]
) -> None:
    plain = (value / lms[1] - 1) / lms[2]
    assert abs(plain) > 3
    assert zscore(indicator, "male", 0, value) == pytest.approx(plain, abs=1e-12)


def test_restricted_z_is_continuous_at_three() -> None:
    sd3 = lms_value(3, BOYS_WEIGHT_AT_BIRTH)
    assert zscore("weight-for-age", "male", 0, sd3 * (1 + 1e-9)) == pytest.approx(3, abs=1e-6)
    assert zscore("weight-for-age", "male", 0, sd3 * (1 - 1e-9)) == pytest.approx(3, abs=1e-6)


# --- Recumbent length and standing height ------------------------------------------------------


def test_standing_height_under_two_years_gains_0_7_cm() -> None:
    standing = zscore("height-for-age", "female", 400, 75.0, recumbent=False)
    assert standing == zscore("height-for-age", "female", 400, 75.7)
    lying = zscore("height-for-age", "female", 400, 75.0, recumbent=True)
    assert lying == zscore("height-for-age", "female", 400, 75.0)


def test_recumbent_length_from_two_years_loses_0_7_cm() -> None:
    lying = zscore("height-for-age", "male", 800, 90.0, recumbent=True)
    assert lying == pytest.approx(zscore("height-for-age", "male", 800, 89.3), abs=1e-12)
    assert zscore("height-for-age", "male", 800, 90.0, recumbent=False) == zscore("height-for-age", "male", 800, 90.0)


def test_the_measuring_position_changes_at_731_days() -> None:
    assert zscore("height-for-age", "male", 730, 88.0, recumbent=True) == zscore("height-for-age", "male", 730, 88.0)
    assert zscore("height-for-age", "male", 731, 88.0, recumbent=True) == pytest.approx(
        zscore("height-for-age", "male", 731, 87.3), abs=1e-12)
    # Day 730 is read on the length table, day 731 on the height table (WHO lenanthro loh column).
    assert zscore("height-for-age", "male", 730, 87.8018) == pytest.approx(0, abs=1e-9)
    assert zscore("height-for-age", "male", 731, 87.1303) == pytest.approx(0, abs=1e-9)


def test_weight_for_height_corrects_the_height_and_picks_the_table_by_age() -> None:
    standing = zscore("weight-for-height", "male", 300, 8.0, height_cm=70.0, recumbent=False)
    assert standing == pytest.approx(zscore("weight-for-height", "male", 300, 8.0, height_cm=70.7), abs=1e-12)
    lying = zscore("weight-for-height", "male", 900, 12.0, height_cm=88.0, recumbent=True)
    assert lying == pytest.approx(zscore("weight-for-height", "male", 900, 12.0, height_cm=87.3), abs=1e-12)
    # 70 cm is in both tables; the age decides which one is read.
    assert zscore("weight-for-height", "male", 730, 8.0, height_cm=70.0) != zscore(
        "weight-for-height", "male", 731, 8.0, height_cm=70.0)


def test_bmi_measured_the_other_way_is_recomputed_from_the_corrected_height() -> None:
    weight, height = 12.0, 88.0
    measured = weight / (height / 100) ** 2
    corrected = weight / ((height - 0.7) / 100) ** 2
    z = zscore("bmi-for-age", "male", 900, measured, height_cm=height, recumbent=True)
    assert z == pytest.approx(zscore("bmi-for-age", "male", 900, corrected), abs=1e-12)
    with pytest.raises(ValueError, match="height_cm"):
        zscore("bmi-for-age", "male", 900, measured, recumbent=True)


# --- Corrected age -----------------------------------------------------------------------------


def test_a_preterm_child_is_read_at_the_corrected_age() -> None:
    # 32 weeks: 8 weeks (56 days) early.
    assert zscore("weight-for-age", "male", 100, 5.0, gestation_weeks=32) == zscore("weight-for-age", "male", 44, 5.0)
    assert growth.corrected_age_days(100, 32) == 44
    # 32 weeks and 3 days miss 53 days.
    assert growth.corrected_age_days(100, 32 + 3 / 7) == 47


def test_from_37_weeks_the_age_is_not_corrected() -> None:
    assert growth.corrected_age_days(100, 37) == 100
    assert growth.corrected_age_days(100, 36.9) == 78  # 21.7 days missing round to 22
    assert zscore("weight-for-age", "male", 100, 5.0, gestation_weeks=40) == zscore("weight-for-age", "male", 100, 5.0)


def test_the_correction_stops_at_24_months_of_corrected_age() -> None:
    # Born at 30 weeks: 70 days early. Corrected 730 days (under 24 months = 730.5 days) is corrected...
    assert growth.corrected_age_days(800, 30) == 730
    # ...and from corrected 731 days on the chronological age is used.
    assert growth.corrected_age_days(801, 30) == 801


def test_before_term_equivalent_age_the_reference_does_not_cover_the_child() -> None:
    assert growth.corrected_age_days(20, 30) is None
    assert zscore("weight-for-age", "female", 20, 1.8, gestation_weeks=30) is None
    assert growth.corrected_age_days(70, 30) == 0


@pytest.mark.parametrize("weeks", [0, -3, 46, math.nan])
def test_an_impossible_gestation_is_an_error(weeks: float) -> None:
    with pytest.raises(ValueError, match="gestation_weeks"):
        zscore("weight-for-age", "female", 20, 3.0, gestation_weeks=weeks)


# --- Coverage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("indicator", "last_day"), [
    ("weight-for-age", 3652),  # 120 months = 3652.5 days
    ("height-for-age", 6939),  # 228 months = 6939.75 days
    ("bmi-for-age", 6939),
    ("head-circumference-for-age", 1856),
])
def test_outside_the_age_range_there_is_no_z_score(indicator: str, last_day: int) -> None:
    value = {"weight-for-age": 30.0, "height-for-age": 150.0, "bmi-for-age": 18.0}.get(indicator, 50.0)
    assert zscore(indicator, "female", last_day, value) is not None
    assert zscore(indicator, "female", last_day + 1, value) is None
    assert centile(indicator, "female", last_day + 1, value) is None


def test_the_2006_standards_and_the_2007_reference_meet_without_a_gap() -> None:
    for day in (1855, 1856, 1857, 1858):
        assert zscore("height-for-age", "male", day, 110.0) is not None
    assert [s.age_days for s in growth.segments("height-for-age")] == [(0, 730), (731, 1856), (1857, 6939)]


@pytest.mark.parametrize(("age", "height", "covered"), [
    (100, 44.9, False), (100, 45.0, True), (100, 110.0, True), (100, 110.01, False),
    (800, 64.9, False), (800, 65.0, True), (800, 120.0, True), (800, 120.05, False),
    (1856, 100.0, True), (1857, 100.0, False),
])
def test_weight_for_length_and_height_cover_their_ranges(age: int, height: float, covered: bool) -> None:
    assert (zscore("weight-for-height", "male", age, 10.0, height_cm=height) is not None) is covered


# --- Errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("weight-for-length", "male", 10, 3.0), {}, "unknown growth indicator"),
    (("weight-for-age", "M", 10, 3.0), {}, "sex"),
    (("weight-for-age", "male", 10, 0.0), {}, "value must be a positive number"),
    (("weight-for-age", "male", 10, -2.0), {}, "value"),
    (("weight-for-age", "male", 10, math.nan), {}, "value"),
    (("weight-for-age", "male", 10, math.inf), {}, "value"),
    (("weight-for-age", "male", -1, 3.0), {}, "age_days"),
    (("weight-for-age", "male", 10.5, 3.0), {}, "age_days"),
    (("weight-for-age", "male", True, 3.0), {}, "age_days"),
    (("weight-for-height", "male", 10, 3.0), {}, "needs height_cm"),
    (("weight-for-height", "male", 10, 3.0), {"height_cm": 0.0}, "height_cm"),
])
def test_invalid_arguments_are_value_errors(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zscore(*args, **kwargs)


# --- Centiles ----------------------------------------------------------------------------------


def test_centile_is_the_normal_cdf_of_the_z_score() -> None:
    assert centile("height-for-age", "male", 0, 49.8842) == pytest.approx(50, abs=1e-9)
    value = lms_value(-2, BOYS_LENGTH_AT_BIRTH)
    assert centile("height-for-age", "male", 0, value) == pytest.approx(2.275, abs=0.001)
    for v in (45.0, 52.0, 56.0):
        z = zscore("height-for-age", "male", 0, v)
        assert z is not None
        assert centile("height-for-age", "male", 0, v) == pytest.approx(100 * NormalDist().cdf(z), abs=1e-12)


# --- Classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(("scores", "codes"), [
    ({"haz": -2.0}, []),
    ({"haz": -2.01}, ["stunting"]),
    ({"haz": -3.01}, ["severe-stunting"]),
    ({"whz": -2.01}, ["wasting"]),
    ({"whz": -3.5}, ["severe-wasting"]),
    ({"whz": 2.0}, []),
    ({"whz": 2.01}, ["overweight"]),
    ({"whz": 3.01}, ["obesity"]),
    ({"waz": -2.5}, ["underweight"]),
    ({"waz": -3.2}, ["severe-underweight"]),
    ({"baz": 4.0}, []),
    ({"haz": -2.5, "waz": -3.5, "whz": -2.1}, ["stunting", "wasting", "severe-underweight"]),
])
def test_under_five_cut_offs(scores: dict[str, float], codes: list[str]) -> None:
    assert classify(400, **scores) == codes
    assert classify(1826, **scores) == codes


@pytest.mark.parametrize(("scores", "codes"), [
    ({"baz": 1.0}, []),
    ({"baz": 1.01}, ["overweight"]),
    ({"baz": 2.01}, ["obesity"]),
    ({"baz": -2.01}, ["thinness"]),
    ({"baz": -3.01}, ["severe-thinness"]),
    ({"haz": -2.01}, ["stunting"]),
    ({"haz": -3.5}, ["stunting"]),
    ({"whz": 3.5, "waz": -3.5}, []),
    ({"haz": -2.5, "baz": 2.5}, ["stunting", "obesity"]),
])
def test_five_to_nineteen_cut_offs(scores: dict[str, float], codes: list[str]) -> None:
    assert classify(1827, **scores) == codes
    assert classify(6939, **scores) == codes


def test_no_classification_beyond_nineteen_years() -> None:
    assert classify(6940, haz=-4.0, baz=4.0) == []


def test_under_five_cut_offs_are_marked_unverified_in_their_data_file() -> None:
    data = growth.reference_data("classification")
    under5 = next(b for b in data["bands"] if b["band"] == "under-5")
    assert under5["unverified"] is True
    assert "UNVERIFIED" in data["note"]


def test_classify_rejects_a_non_finite_score() -> None:
    with pytest.raises(ValueError, match="haz"):
        classify(400, haz=math.nan)


# --- Centile crossings -------------------------------------------------------------------------


def z_of(c: float) -> float:
    return NormalDist().inv_cdf(c / 100)


def test_falling_across_two_major_lines_is_flagged() -> None:
    points = [GrowthPoint("weight-for-age", 100, 0.1), GrowthPoint("weight-for-age", 200, -1.0)]
    [crossing] = centile_crossings(points)
    assert crossing.lines == (50, 25)
    assert crossing.direction == "down"
    assert (crossing.from_age_days, crossing.to_age_days) == (100, 200)


def test_crossing_one_line_is_not_flagged() -> None:
    assert centile_crossings([GrowthPoint("weight-for-age", 100, 0.3), GrowthPoint("weight-for-age", 200, -0.5)]) == []


def test_a_point_on_a_line_has_not_crossed_it() -> None:
    on_50, on_9 = 0.0, z_of(9)
    assert centile_crossings([GrowthPoint("height-for-age", 1, on_50), GrowthPoint("height-for-age", 2, on_9)]) == []
    points = [GrowthPoint("height-for-age", 1, 0.01), GrowthPoint("height-for-age", 2, on_9 - 0.01)]
    [crossing] = centile_crossings(points)
    assert crossing.lines == (50, 25, 9)


def test_rising_across_the_top_lines_is_flagged_in_order() -> None:
    points = [GrowthPoint("bmi-for-age", 2000, z_of(80)), GrowthPoint("bmi-for-age", 2300, z_of(99))]
    [crossing] = centile_crossings(points)
    assert crossing.lines == (91, 98)
    assert crossing.direction == "up"


def test_crossings_compare_consecutive_measurements_of_one_indicator_in_age_order() -> None:
    points = [
        GrowthPoint("weight-for-age", 300, -1.5),
        GrowthPoint("height-for-age", 100, 0.0),
        GrowthPoint("weight-for-age", 100, 0.0),
        GrowthPoint("height-for-age", 300, -0.2),
        GrowthPoint("weight-for-age", 200, -0.8),
    ]
    # weight 0.0 -> -0.8 -> -1.5 crosses 50 and 25, then 9: one line each time; height crosses one.
    assert centile_crossings(points) == []
    points.append(GrowthPoint("weight-for-age", 400, 0.5))
    [crossing] = centile_crossings(points)
    assert (crossing.indicator, crossing.from_age_days, crossing.to_age_days) == ("weight-for-age", 300, 400)
    assert crossing.lines == (9, 25, 50)


def test_the_major_lines_are_the_uk_who_ones_from_the_data_file() -> None:
    data = growth.reference_data("centile_lines")
    assert data["major_lines"] == [0.4, 2, 9, 25, 50, 75, 91, 98, 99.6]
    assert data["min_lines_crossed"] == 2
    assert data["chart_centiles"] == [3, 15, 50, 85, 97]
