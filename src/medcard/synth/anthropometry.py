"""Growth of a synthetic child: an individual z-score track per indicator on the WHO references.

Each child keeps a height-for-age, a BMI-for-age and a head-circumference z-score that wander
slowly around a personal level; a few children cross centiles (gain weight, or fall off the
height or weight curve) over a year or more. Values are read back from the WHO LMS tables of
:mod:`medcard.pediatrics.growth`: height = L(height-for-age).value(z), weight = BMI · height².
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from medcard.pediatrics import growth

# Personal levels stay inside these z-scores, so that measured values are plausible (tests check |z| < 4).
_LEVEL = 2.2
_CROSSING_CHANCE = 0.05
_DAYS_PER_YEAR = 365.25
HEAD_UNTIL_DAYS = 1096  # head circumference is measured under 3 years


@dataclass(frozen=True, slots=True)
class Crossing:
    """A period in which one indicator's z-score moves by ``delta`` (linearly)."""

    indicator: str  # "height" or "bmi"
    start_days: int
    length_days: int
    delta: float

    def shift(self, age_days: int) -> float:
        if age_days <= self.start_days:
            return 0.0
        return self.delta * min(1.0, (age_days - self.start_days) / self.length_days)


@dataclass(frozen=True, slots=True)
class Measurement:
    weight_kg: float
    height_cm: float
    recumbent: bool
    head_cm: float | None
    bmi: float


def _clamp(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


class GrowthTrack:
    """One child's centile track: z-scores by age, and measurements drawn from them."""

    def __init__(self, rng: random.Random, sex: str, *, preterm: bool = False) -> None:
        self.sex = sex
        self.height_z = _clamp(rng.gauss(-0.6 if preterm else 0.1, 0.9), _LEVEL)
        self.height_drift = rng.gauss(0, 0.04)  # z per year
        self.bmi_z = _clamp(rng.gauss(0.1, 0.9), _LEVEL)
        self.bmi_drift = rng.gauss(0, 0.06)
        self.head_z = _clamp(0.5 * self.height_z + rng.gauss(0, 0.8), _LEVEL)
        self.phase = rng.uniform(0, 2 * math.pi)  # a gentle personal wobble, so curves are not straight lines
        self.crossing: Crossing | None = None
        if rng.random() < _CROSSING_CHANCE:
            indicator = rng.choice(("bmi", "bmi", "height"))
            delta = rng.uniform(1.3, 2.0) * (1 if indicator == "bmi" and rng.random() < 0.7 else -1)
            self.crossing = Crossing(indicator, int(rng.uniform(1, 12) * _DAYS_PER_YEAR),
                                     int(rng.uniform(1, 2.5) * _DAYS_PER_YEAR), delta)

    def z(self, indicator: str, age_days: int) -> float:
        """The track's z-score of ``height``, ``bmi`` or ``head`` at an age."""
        years = age_days / _DAYS_PER_YEAR
        wobble = 0.15 * math.sin(self.phase + years * 1.3)
        if indicator == "height":
            z = self.height_z + self.height_drift * years + wobble
        elif indicator == "bmi":
            z = self.bmi_z + self.bmi_drift * years - wobble
        else:
            z = self.head_z
        if self.crossing is not None and self.crossing.indicator == indicator:
            z += self.crossing.shift(age_days)
        return _clamp(z, 3.2)

    def measure(self, rng: random.Random, age_days: int) -> Measurement:
        """Weight, length/height, head circumference (under 3) and BMI at an age, with measurement noise."""
        recumbent = age_days <= 730
        height_lms = growth.reference_lms("height-for-age", self.sex, age_days)
        bmi_lms = growth.reference_lms("bmi-for-age", self.sex, age_days)
        if height_lms is None or bmi_lms is None:
            raise ValueError(f"no WHO reference for age {age_days} days")
        height = round(height_lms.value(self.z("height", age_days)) + rng.gauss(0, 0.25), 1)
        bmi_true = bmi_lms.value(self.z("bmi", age_days))
        weight = bmi_true * (height / 100) ** 2 * (1 + rng.gauss(0, 0.005))
        weight = round(weight, 3 if weight < 10 else 1)
        head = None
        if age_days < HEAD_UNTIL_DAYS:
            head_lms = growth.reference_lms("head-circumference-for-age", self.sex, age_days)
            if head_lms is not None:
                head = round(head_lms.value(self.z("head", age_days)) + rng.gauss(0, 0.2), 1)
        return Measurement(weight, height, recumbent, head, round(weight / (height / 100) ** 2, 1))

    def assessment(self, age_days: int) -> str:
        """How a pediatrician words the child's physical development."""
        hz, bz = self.z("height", age_days), self.z("bmi", age_days)
        level = ("низкое" if hz < -2 else "ниже среднего" if hz < -1 else "среднее" if hz <= 1
                 else "выше среднего" if hz <= 2 else "высокое")
        harmony = ("гармоничное" if abs(bz) <= 1 else "дисгармоничное за счёт избытка массы тела" if bz > 0
                   else "дисгармоничное за счёт дефицита массы тела")
        return f"Физическое развитие {level}, {harmony}"
