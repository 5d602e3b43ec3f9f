"""Children's growth against the WHO standards: z-scores, centiles, classification, centile crossings.

The references are the WHO Child Growth Standards (2006; 0-5 years, tables by day and by 0.1 cm of
length/height) and the WHO Growth Reference (2007; 5-19 years, tables by month), both by Cole's LMS
method. Everything clinical is data in ``data/who/`` (shared/docs/domain.md §7):

- ``who200*_*.json``: the WHO LMS tables (built by ``tools/build_who_tables.py``);
- ``indicators.json``: which table serves which indicator at which age, the recumbent/standing
  rule and its 0.7 cm correction, WHO's restricted application beyond ±3 z, corrected age;
- ``classification.json``: the cut-offs of stunting, wasting, thinness and the rest;
- ``centile_lines.json``: the chart centiles and the major lines of centile crossings.

:func:`reference_data` is the one loader; this module reads those rules and never repeats them.
Ages are whole days since birth; months are days / 30.4375, as WHO's software counts them.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from statistics import NormalDist
from typing import Any, Literal

INDICATORS = ("weight-for-age", "height-for-age", "weight-for-height", "bmi-for-age", "head-circumference-for-age")
SEXES = ("male", "female")
_NORMAL = NormalDist()
# Below this |L| the LMS formulas lose precision ((y/M)^L - 1 cancels), and their L -> 0 limits are used.
_TINY_POWER = 1e-9
# Table positions are rounded to this many decimals first, so 45.3 cm is row 3 of a 45.0 + 0.1k table
# and not row 2 plus 0.9999999999.
_POSITION_DECIMALS = 6


@cache
def reference_data(name: str) -> dict[str, Any]:
    """The parsed data file ``data/who/{name}.json``, read once per process and shared: never modify it."""
    path = resources.files("medcard.pediatrics").joinpath("data", "who", f"{name}.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- The LMS method ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lms:
    """One point of an LMS reference: L (Box-Cox power), M (median) and S (coefficient of variation)."""

    power: float
    median: float
    cv: float

    def z(self, y: float) -> float:
        """The z-score of measurement ``y``: ((y/M)^L - 1) / (L·S), or ln(y/M) / S when L is 0."""
        if abs(self.power) < _TINY_POWER:
            return math.log(y / self.median) / self.cv
        return (math.pow(y / self.median, self.power) - 1) / (self.power * self.cv)

    def value(self, z: float) -> float:
        """The measurement at z-score ``z`` (the inverse): M·(1 + L·S·z)^(1/L), or M·exp(S·z) when L is 0."""
        if abs(self.power) < _TINY_POWER:
            return self.median * math.exp(self.cv * z)
        return self.median * math.pow(1 + self.power * self.cv * z, 1 / self.power)

    def restricted_z(self, y: float) -> float:
        """The z-score with WHO's restricted application beyond ±3 (weight-based indicators).

        Beyond ±3 the distance is counted in units of the 2-to-3 z gap at that side, so a skewed
        tail does not stretch extreme weights (WHO Methods and development, ch. 7; anthro R
        ``compute_zscore_adjusted``).
        """
        z = self.z(y)
        if z > 3:
            sd3 = self.value(3)
            return 3 + (y - sd3) / (sd3 - self.value(2))
        if z < -3:
            sd3 = self.value(-3)
            return -3 + (y - sd3) / (self.value(-2) - sd3)
        return z


@dataclass(frozen=True, slots=True)
class _Table:
    """One WHO LMS table, both sexes: rows evenly spaced from ``first`` by ``step``."""

    unit: str
    first: float
    step: float
    last: float
    rows: dict[str, tuple[tuple[float, float, float], ...]]

    def at(self, sex: str, x: float) -> Lms | None:
        """The LMS at ``x`` (in the table's unit), linear between rows as WHO's software does; None outside."""
        rows = self.rows[sex]
        position = round((x - self.first) / self.step, _POSITION_DECIMALS)
        i = math.floor(position)
        if i < 0 or i >= len(rows):
            return None
        fraction = position - i
        if fraction == 0:
            return Lms(*rows[i])
        if i + 1 == len(rows):
            return None
        low, high = rows[i], rows[i + 1]
        return Lms(*(a + fraction * (b - a) for a, b in zip(low, high, strict=True)))


@cache
def _table(name: str) -> _Table:
    data = reference_data(name)
    index = data["index"]
    rows = {sex: tuple((float(r[0]), float(r[1]), float(r[2])) for r in data[sex]) for sex in SEXES}
    return _Table(index["unit"], float(index["first"]), float(index["step"]), float(index["last"]), rows)


# --- Which table serves which child -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of an indicator's reference served by one table: e.g. length-for-age under 2 years."""

    id: str
    age_days: tuple[int, int]
    table: _Table

    @property
    def by_height(self) -> bool:
        """Whether the table is read by length/height (weight-for-length/height) rather than by age."""
        return self.table.unit in ("length_cm", "height_cm")

    @property
    def x_range(self) -> tuple[float, float]:
        """The first and last x the segment serves: ages in days, or lengths/heights in cm."""
        if self.by_height:
            return self.table.first, self.table.last
        return float(self.age_days[0]), float(self.age_days[1])

    @property
    def x_step(self) -> float:
        """The spacing of the table's rows on the x axis (1 day for tables by age, whose rows are by day or month)."""
        return self.table.step if self.by_height else 1.0

    def lms(self, sex: str, x: float) -> Lms | None:
        """The LMS at ``x``: age in days, or length/height in cm for a table by height."""
        if self.table.unit == "age_months":
            return self.table.at(sex, x / _rules().days_per_month)
        return self.table.at(sex, x)


@dataclass(frozen=True, slots=True)
class _Indicator:
    restricted: bool
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class _Rules:
    days_per_month: float
    standing_from_days: int
    length_minus_height_cm: float
    preterm_below_weeks: float
    term_weeks: float
    corrected_until_days: float
    indicators: dict[str, _Indicator]


def _segment(spec: dict[str, Any], days_per_month: float) -> Segment:
    """A segment whose ages are its declared range cut to what its table covers (ages by day)."""
    table = _table(spec["table"])
    low, high = spec.get("age_days", (0, math.inf))
    if table.unit == "age_days":
        low, high = max(low, table.first), min(high, table.last)
    elif table.unit == "age_months":
        low = max(low, math.ceil(table.first * days_per_month))
        high = min(high, math.floor(table.last * days_per_month))
    return Segment(spec["id"], (int(low), int(high)), table)


@cache
def _rules() -> _Rules:
    data = reference_data("indicators")
    dpm = float(data["days_per_month"])
    corrected = data["corrected_age"]
    indicators = {
        name: _Indicator(bool(spec["restricted"]), tuple(_segment(s, dpm) for s in spec["segments"]))
        for name, spec in data["indicators"].items()
    }
    return _Rules(
        days_per_month=dpm,
        standing_from_days=int(data["standing_from_days"]),
        length_minus_height_cm=float(data["length_minus_height_cm"]),
        preterm_below_weeks=float(corrected["preterm_below_weeks"]),
        term_weeks=float(corrected["term_weeks"]),
        corrected_until_days=float(corrected["until_corrected_months"]) * dpm,
        indicators=indicators,
    )


def segments(indicator: str) -> tuple[Segment, ...]:
    """The parts of an indicator's reference, youngest first (what a chart draws as separate curves)."""
    return _indicator(indicator).segments


def days_per_month() -> float:
    """The length of a month in days, as WHO's software counts ages (365.25 / 12)."""
    return _rules().days_per_month


def reference_lms(indicator: str, sex: str, age_days: int, *, height_cm: float | None = None) -> Lms | None:
    """The WHO LMS for a child of this age (and length/height, for weight-for-height); None outside the reference."""
    spec = _indicator(indicator)
    check_sex(sex)
    _check_age(age_days)
    return _lms(spec, sex, age_days, height_cm)


def _lms(spec: _Indicator, sex: str, age_days: int, height_cm: float | None) -> Lms | None:
    for segment in spec.segments:
        low, high = segment.age_days
        if low <= age_days <= high:
            if segment.by_height:
                return None if height_cm is None else segment.lms(sex, height_cm)
            return segment.lms(sex, age_days)
    return None


# --- Z-scores and centiles ----------------------------------------------------------------------


def zscore(
    indicator: str,
    sex: str,
    age_days: int,
    value: float,
    *,
    height_cm: float | None = None,
    recumbent: bool | None = None,
    gestation_weeks: float | None = None,
) -> float | None:
    """The WHO z-score of a measurement; None where the reference does not cover the child.

    ``value`` is the weight (kg) for weight-for-age and weight-for-height, the length or height (cm)
    for height-for-age, the BMI (kg/m²) for bmi-for-age and the head circumference (cm). For
    weight-for-height ``height_cm`` is the length/height; for bmi-for-age it is needed only when the
    child was not measured the usual way for the age. ``recumbent`` says how length/height was
    measured (None: the usual way, lying under 2 years and standing from 2, of the age the reference
    is read at); the other way is corrected by 0.7 cm. Indicators without a length ignore both.
    ``gestation_weeks`` under 37 corrects the age for prematurity while the corrected age is under
    24 months. Raises ValueError for an unknown indicator or sex, a negative or fractional age and a
    non-positive value.
    """
    spec = _indicator(indicator)
    check_sex(sex)
    _check_age(age_days)
    _check_positive("value", value)
    if height_cm is not None:
        _check_positive("height_cm", height_cm)
    if indicator == "weight-for-height" and height_cm is None:
        raise ValueError("weight-for-height needs height_cm, the child's length or height")
    age = corrected_age_days(age_days, gestation_weeks)
    if age is None:
        return None
    y, height = _standardised(indicator, age, value, height_cm, recumbent)
    lms = _lms(spec, sex, age, height)
    if lms is None:
        return None
    return lms.restricted_z(y) if spec.restricted else lms.z(y)


def centile(
    indicator: str,
    sex: str,
    age_days: int,
    value: float,
    *,
    height_cm: float | None = None,
    recumbent: bool | None = None,
    gestation_weeks: float | None = None,
) -> float | None:
    """The centile (0-100) of a measurement: the normal CDF of :func:`zscore`, same arguments."""
    z = zscore(
        indicator, sex, age_days, value, height_cm=height_cm, recumbent=recumbent, gestation_weeks=gestation_weeks
    )
    return None if z is None else 100 * _NORMAL.cdf(z)


def corrected_age_days(age_days: int, gestation_weeks: float | None) -> int | None:
    """The age the reference is read at: corrected for prematurity where the rules say so.

    A child born before 37 weeks is read at chronological age minus the weeks missing to 40 while
    that corrected age is under 24 months; None while the corrected age is still before term.
    """
    _check_age(age_days)
    rules = _rules()
    if gestation_weeks is None:
        return age_days
    if not (math.isfinite(gestation_weeks) and 0 < gestation_weeks <= 45):
        raise ValueError(f"gestation_weeks must be between 0 and 45, not {gestation_weeks!r}")
    if gestation_weeks >= rules.preterm_below_weeks:
        return age_days
    # Missing days round half up (32.5 weeks miss 53 days); weeks given as weeks + days/7 come out whole.
    corrected = age_days - math.floor((rules.term_weeks - gestation_weeks) * 7 + 0.5)
    if corrected >= rules.corrected_until_days:
        return age_days
    return corrected if corrected >= 0 else None


def _length_correction(age_days: int, recumbent: bool | None) -> float:
    """What to add to a length/height measured the other way than the reference's for this age."""
    rules = _rules()
    expected_recumbent = age_days < rules.standing_from_days
    if recumbent is None or recumbent == expected_recumbent:
        return 0.0
    # Lying length is the longer: standing under 2 years gains 0.7 cm, lying from 2 years loses it.
    return rules.length_minus_height_cm if expected_recumbent else -rules.length_minus_height_cm


def _standardised(
    indicator: str, age_days: int, value: float, height_cm: float | None, recumbent: bool | None
) -> tuple[float, float | None]:
    """The value and the length/height as the reference expects them for the age (0.7 cm rule)."""
    delta = _length_correction(age_days, recumbent)
    if delta == 0:
        return value, height_cm
    if indicator == "height-for-age":
        return value + delta, height_cm
    if indicator == "weight-for-height" and height_cm is not None:
        return value, height_cm + delta
    if indicator == "bmi-for-age":
        if height_cm is None:
            raise ValueError("bmi-for-age measured the other way than usual for the age needs height_cm")
        return value * (height_cm / (height_cm + delta)) ** 2, height_cm + delta
    return value, height_cm


# --- Classification -----------------------------------------------------------------------------


def classify(
    age_days: int,
    *,
    haz: float | None = None,
    waz: float | None = None,
    whz: float | None = None,
    baz: float | None = None,
) -> list[str]:
    """WHO codes for a child's z-scores ("stunting", "obesity", ...), by the cut-offs of the age band.

    Each z-score gives at most one code, the most severe that applies; z-scores the age band does
    not classify are ignored, and an age outside every band gives no code.
    """
    _check_age(age_days)
    scores = {"haz": haz, "waz": waz, "whz": whz, "baz": baz}
    for name, z in scores.items():
        if z is not None and not math.isfinite(z):
            raise ValueError(f"{name} must be a finite z-score, not {z!r}")
    band = next((b for b in _bands() if b.age_days[0] <= age_days <= b.age_days[1]), None)
    if band is None:
        return []
    codes: list[str] = []
    for name, cutoffs in band.rules:
        z = scores[name]
        code = None if z is None else next((c.code for c in cutoffs if c.matches(z)), None)
        if code is not None:
            codes.append(code)
    return codes


@dataclass(frozen=True, slots=True)
class _Cutoff:
    """One rule of ``classification.json``: the code of z-scores strictly below or above a value."""

    code: str
    below: float | None
    above: float | None

    def matches(self, z: float) -> bool:
        return z < self.below if self.below is not None else self.above is not None and z > self.above


@dataclass(frozen=True, slots=True)
class _Band:
    age_days: tuple[int, int]
    rules: tuple[tuple[str, tuple[_Cutoff, ...]], ...]


@cache
def _bands() -> tuple[_Band, ...]:
    """The age bands of ``classification.json``, checked: a hand-edited file must fail loudly, not misclassify."""
    bands = []
    for band in reference_data("classification")["bands"]:
        rules = []
        for score, cutoffs in band["rules"].items():
            if score not in ("haz", "waz", "whz", "baz"):
                raise ValueError(f"classification.json: band {band['band']}: unknown z-score {score!r}")
            rules.append((score, tuple(_cutoff(band["band"], c) for c in cutoffs)))
        low, high = band["age_days"]
        bands.append(_Band((int(low), int(high)), tuple(rules)))
    return tuple(bands)


def _cutoff(band: str, rule: dict[str, Any]) -> _Cutoff:
    if ("below" in rule) == ("above" in rule) or not isinstance(rule.get("code"), str):
        raise ValueError(f"classification.json: band {band}: {rule!r} needs a code and one of below or above")
    below, above = rule.get("below"), rule.get("above")
    return _Cutoff(rule["code"], None if below is None else float(below), None if above is None else float(above))


# --- Centile crossings --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GrowthPoint:
    """One measurement's z-score, as :func:`centile_crossings` reads it."""

    indicator: str
    age_days: int
    z: float


@dataclass(frozen=True, slots=True)
class CentileCrossing:
    """Two consecutive measurements of one indicator between which the child crossed major centile lines."""

    indicator: str
    from_age_days: int
    to_age_days: int
    from_z: float
    to_z: float
    lines: tuple[float, ...]

    @property
    def direction(self) -> Literal["up", "down"]:
        """Whether the child moved up the chart or down it."""
        return "up" if self.to_z > self.from_z else "down"


def centile_crossings(points: Iterable[GrowthPoint]) -> list[CentileCrossing]:
    """The intervals in which a child crossed two or more major centile lines (``centile_lines.json``).

    Points are grouped by indicator and ordered by age; each pair of consecutive points of one
    indicator is an interval. Lines are listed in the order the child crossed them.
    """
    by_indicator: dict[str, list[GrowthPoint]] = {}
    for point in points:
        _indicator(point.indicator)
        if not math.isfinite(point.z):
            raise ValueError(f"z must be finite, not {point.z!r}")
        by_indicator.setdefault(point.indicator, []).append(point)
    crossings: list[CentileCrossing] = []
    for series in by_indicator.values():
        series.sort(key=lambda p: p.age_days)
        for before, after in itertools.pairwise(series):
            crossing = _crossing(before, after)
            if crossing is not None:
                crossings.append(crossing)
    return crossings


def _crossing(before: GrowthPoint, after: GrowthPoint) -> CentileCrossing | None:
    lines, least = _major_lines()
    crossed = [c for c, zc in lines if (before.z - zc) * (after.z - zc) < 0]
    if len(crossed) < least:
        return None
    if after.z < before.z:
        crossed.reverse()
    return CentileCrossing(before.indicator, before.age_days, after.age_days, before.z, after.z, tuple(crossed))


@cache
def _major_lines() -> tuple[tuple[tuple[float, float], ...], int]:
    """The major centile lines with their z-scores, ascending, and how many crossed lines count."""
    data = reference_data("centile_lines")
    lines = tuple((float(c), _NORMAL.inv_cdf(float(c) / 100)) for c in sorted(data["major_lines"]))
    return lines, int(data["min_lines_crossed"])


# --- Argument checks ----------------------------------------------------------------------------


def _indicator(indicator: str) -> _Indicator:
    spec = _rules().indicators.get(indicator)
    if spec is None:
        raise ValueError(f"unknown growth indicator {indicator!r}; expected one of {', '.join(INDICATORS)}")
    return spec


def check_sex(sex: str) -> None:
    """Raise ValueError unless ``sex`` is "male" or "female"."""
    if sex not in SEXES:
        raise ValueError(f"sex must be 'male' or 'female', not {sex!r}")


def _check_age(age_days: int) -> None:
    if isinstance(age_days, bool) or not isinstance(age_days, int) or age_days < 0:
        raise ValueError(f"age_days must be a whole number of days from 0, not {age_days!r}")


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, not {value!r}")
