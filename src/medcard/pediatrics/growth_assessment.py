"""A child's measurements read against the WHO references: z-score and centile of each, the WHO
classification on the latest day measured, and centile-line crossings between measurements.

Each measurement gives the indicators it can: a weight weight-for-age, and weight-for-length/height
with a length measured the same day; a length or height height-for-age; a head circumference
head-circumference-for-age; a BMI bmi-for-age. Where no BMI is recorded on a day with a weight and
a length/height, the BMI is computed from them (and refers to both Observations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from medcard.pediatrics import growth
from medcard.pediatrics.growth import CentileCrossing, GrowthPoint
from medcard.pediatrics.record import GrowthFacts, Measurement, PatientFacts

INDICATOR_OF = {"weight": "weight-for-age", "height": "height-for-age", "head": "head-circumference-for-age",
                "bmi": "bmi-for-age"}
_SCORE_OF = {"height-for-age": "haz", "weight-for-age": "waz", "weight-for-height": "whz", "bmi-for-age": "baz"}


@dataclass(frozen=True)
class Result:
    """One indicator of one measurement: the z-score and centile (None outside the reference)."""

    references: tuple[str, ...]
    on: date
    age_days: int
    indicator: str
    value: float
    unit: str
    z: float | None
    centile: float | None
    height_cm: float | None = None  # weight-for-height: the length/height it was read at
    recumbent: bool | None = None


@dataclass(frozen=True)
class Assessment:
    results: tuple[Result, ...]
    classification_on: date | None
    classification_age_days: int | None
    classification: tuple[str, ...]
    crossings: tuple[CentileCrossing, ...]


_UNIT = {"weight-for-age": "kg", "weight-for-height": "kg", "height-for-age": "cm",
         "head-circumference-for-age": "cm", "bmi-for-age": "kg/m2"}


def _read(patient: PatientFacts, gestation: float | None, refs: tuple[str, ...], on: date, indicator: str,
          value: float, height: float | None = None, recumbent: bool | None = None) -> Result | None:
    age = (on - patient.birth_date).days
    if age < 0 or patient.sex not in growth.SEXES:
        return None
    z = growth.zscore(indicator, patient.sex, age, value, height_cm=height, recumbent=recumbent,
                      gestation_weeks=gestation)
    centile = None if z is None else growth.centile(indicator, patient.sex, age, value, height_cm=height,
                                                    recumbent=recumbent, gestation_weeks=gestation)
    return Result(refs, on, age, indicator, value, _UNIT[indicator], z, centile, height, recumbent)


def _same_day(measurements: Sequence[Measurement]) -> dict[date, dict[str, Measurement]]:
    days: dict[date, dict[str, Measurement]] = {}
    for m in measurements:
        days.setdefault(m.on, {})[m.kind] = m  # the last of a kind on a day stands for that day
    return days


def assess(patient: PatientFacts, facts: GrowthFacts) -> Assessment:
    """The child's growth against WHO; measurements before birth or of a child of unknown sex are not read."""
    gestation = facts.gestation_weeks
    results: list[Result] = []
    for m in facts.measurements:
        recumbent = m.recumbent if m.kind == "height" else None
        found = _read(patient, gestation, (m.reference,), m.on, INDICATOR_OF[m.kind], m.value, None, recumbent)
        results += [found] if found else []
    for on, kinds in _same_day(facts.measurements).items():
        weight, height = kinds.get("weight"), kinds.get("height")
        if weight is None or height is None:
            continue
        refs = (weight.reference, height.reference)
        found = _read(patient, gestation, refs, on, "weight-for-height", weight.value, height.value, height.recumbent)
        results += [found] if found else []
        if "bmi" not in kinds:
            bmi = weight.value / (height.value / 100) ** 2
            found = _read(patient, gestation, refs, on, "bmi-for-age", round(bmi, 2), height.value, height.recumbent)
            results += [found] if found else []
    results.sort(key=lambda r: (r.on, r.indicator))
    scored = [r for r in results if r.z is not None]
    latest = max((r.on for r in scored), default=None)
    codes: list[str] = []
    age = None
    if latest is not None:
        age = (latest - patient.birth_date).days
        today = {_SCORE_OF[r.indicator]: r.z for r in scored if r.on == latest and r.indicator in _SCORE_OF}
        codes = growth.classify(age, **today)
    points = [GrowthPoint(r.indicator, r.age_days, r.z) for r in scored if r.z is not None]
    return Assessment(tuple(results), latest, age, tuple(codes), tuple(growth.centile_crossings(points)))
