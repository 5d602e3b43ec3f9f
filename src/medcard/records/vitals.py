"""The WHO z-scores of the measurements being typed into a visit form, worded for the clinician.

Computed by :mod:`medcard.pediatrics.growth` (nothing is computed in the browser): weight-for-age,
length/height-for-age, weight-for-length/height (under 5) or BMI-for-age (from 5), and head
circumference-for-age, each with its centile and, where the WHO cut-offs classify it, what it means.
A z-score beyond WHO's limits of biological plausibility asks the clinician to check the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from medcard.pediatrics import growth
from medcard.records.visit import MEASURES, Child, one, parse_date, parse_decimal

UNDER_FIVE_DAYS = 1826  # WHO: weight-for-height under 5 years, BMI-for-age from 5
LYING_UNDER_DAYS = 730  # length is measured lying under 2 years
# WHO Anthro's flags for implausible z-scores (WHO, Recommendations for data collection, analysis and
# reporting on anthropometric indicators in children under 5, 2019, table 4).
IMPLAUSIBLE = {"height-for-age": (-6.0, 6.0), "weight-for-age": (-6.0, 5.0), "weight-for-height": (-5.0, 5.0),
               "bmi-for-age": (-5.0, 5.0), "head-circumference-for-age": (-5.0, 5.0)}
MEANING = {
    "severe-stunting": "выраженная низкорослость", "stunting": "низкорослость",
    "severe-wasting": "выраженная недостаточность питания", "wasting": "недостаточность питания",
    "severe-underweight": "выраженный дефицит массы тела", "underweight": "дефицит массы тела",
    "overweight": "избыточная масса тела", "obesity": "ожирение",
    "severe-thinness": "выраженная худоба", "thinness": "худоба",
}
_SCORE = {"height-for-age": "haz", "weight-for-age": "waz", "weight-for-height": "whz", "bmi-for-age": "baz"}
LABEL = {"weight-for-age": "Масса тела к возрасту", "height-for-age": "Рост к возрасту",
         "length-for-age": "Длина тела к возрасту", "weight-for-height": "Масса тела к росту",
         "bmi-for-age": "ИМТ к возрасту", "head-circumference-for-age": "Окружность головы к возрасту"}


@dataclass(frozen=True)
class Score:
    """One indicator: its label, the z-score and centile, and a remark (meaning, or a check request)."""

    indicator: str
    label: str
    z: float
    centile: float
    remark: str = ""
    alert: bool = False  # outside the usual range (|z| > 2) or implausible

    @property
    def z_text(self) -> str:
        return f"{self.z:+.1f}".replace(".", ",").replace("-", "−")

    @property
    def centile_text(self) -> str:
        if self.centile < 0.1:
            return "<0,1"
        if self.centile > 99.9:
            return ">99,9"
        return f"{self.centile:.1f}".replace(".", ",")


def _number(fields: dict[str, list[str]], name: str) -> float | None:
    m = next(m for m in MEASURES if m.field == name)
    value = parse_decimal(one(fields, name))
    return float(value) if value is not None and m.low <= value <= m.high else None


def _score(indicator: str, child: Child, age: int, value: float, *, height: float | None = None,
           label: str | None = None) -> Score | None:
    z = growth.zscore(indicator, child.sex, age, value, height_cm=height)
    if z is None:
        return None
    low, high = IMPLAUSIBLE[indicator]
    remark, alert = "", abs(z) > 2
    if not low <= z <= high:
        remark, alert = "проверьте значение: так далеко от нормы почти не бывает", True
    elif indicator in _SCORE:
        codes = growth.classify(age, **{_SCORE[indicator]: z})
        remark = MEANING.get(codes[0], "") if codes else ""
    centile = growth.centile(indicator, child.sex, age, value, height_cm=height)
    return Score(indicator, label or LABEL[indicator], z, centile if centile is not None else 50.0, remark, alert)


def scores(fields: dict[str, list[str]], child: Child, today: date) -> list[Score]:
    """The z-scores of what the form holds now; indicators whose values are missing or out of range are left
    out, as are those the WHO references do not cover at the child's age."""
    day = _visit_day(fields, child, today)
    age = child.age_days(day)
    weight, height, head = _number(fields, "weight"), _number(fields, "height"), _number(fields, "head")
    out: list[Score | None] = []
    if weight is not None:
        out.append(_score("weight-for-age", child, age, weight))
    if height is not None:
        label = LABEL["length-for-age"] if age < LYING_UNDER_DAYS else None
        out.append(_score("height-for-age", child, age, height, label=label))
    if weight is not None and height is not None:
        if age <= UNDER_FIVE_DAYS:
            out.append(_score("weight-for-height", child, age, weight, height=height))
        else:
            out.append(_score("bmi-for-age", child, age, weight / (height / 100) ** 2, height=height))
    if head is not None:
        out.append(_score("head-circumference-for-age", child, age, head))
    return [s for s in out if s is not None]


def _visit_day(fields: dict[str, list[str]], child: Child, today: date) -> date:
    day = parse_date(one(fields, "date"))
    return day if day is not None and child.birth_date <= day <= today else today


def bmi(weight: Decimal, height: Decimal) -> Decimal:
    """BMI to one decimal, as the city records it."""
    return (weight / (height / 100) ** 2).quantize(Decimal("0.1"))
