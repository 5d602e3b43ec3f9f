"""Laboratory analytes of the synthetic city (LOINC, units, age-specific reference ranges) and plausible results.

Data plus the small functions that draw a result set; :mod:`medcard.synth.clinical` writes them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from medcard.synth.fhirdata import (
    CBC_PANEL,
    HEMATOLOGY,
    INTERPRETATION,
    LABORATORY,
    UCUM,
    URINALYSIS,
    URINE_PANEL,
    Resource,
    at,
    loinc,
)

if TYPE_CHECKING:
    from medcard.synth.record import Record


class Analyte(NamedTuple):
    code: dict[str, Any]
    unit: str  # as printed on the result form
    ucum: str  # "" for a text result
    digits: int
    ranges: tuple[tuple[float, float, float], ...]  # (below this age in years, low, high)

    def normal(self, age: float) -> tuple[float, float]:
        for limit, low, high in self.ranges:
            if age < limit:
                return low, high
        return self.ranges[-1][1], self.ranges[-1][2]


def _analyte(code: str, display: str, text: str, unit: str, ucum: str, digits: int,
             *ranges: tuple[float, float, float]) -> Analyte:
    return Analyte(loinc(code, display, text), unit, ucum, digits, ranges)


ADULT = 99.0
HB = _analyte("718-7", "Hemoglobin [Mass/volume] in Blood", "Гемоглобин", "г/л", "g/L", 0,
              (0.5, 100, 140), (6, 110, 140), (12, 115, 150), (ADULT, 120, 160))
RBC = _analyte("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "Эритроциты", "×10¹²/л", "10*12/L", 2,
               (0.5, 3.0, 5.4), (6, 3.7, 5.0), (12, 3.9, 5.1), (ADULT, 4.0, 5.3))
WBC = _analyte("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "Лейкоциты", "×10⁹/л", "10*9/L", 1,
               (1, 6.0, 17.5), (6, 5.5, 15.5), (12, 4.5, 13.5), (ADULT, 4.5, 11.0))
PLT = _analyte("777-3", "Platelets [#/volume] in Blood by Automated count", "Тромбоциты", "×10⁹/л", "10*9/L", 0,
               (ADULT, 150, 400))
HCT = _analyte("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "Гематокрит", "%", "%", 1,
               (0.5, 30, 42), (6, 32, 42), (12, 34, 44), (ADULT, 36, 46))
NEU = _analyte("770-8", "Neutrophils/100 leukocytes in Blood by Automated count", "Нейтрофилы", "%", "%", 0,
               (5, 25, 50), (ADULT, 40, 70))
LYM = _analyte("736-9", "Lymphocytes/100 leukocytes in Blood by Automated count", "Лимфоциты", "%", "%", 0,
               (5, 40, 65), (ADULT, 20, 45))
MON = _analyte("5905-5", "Monocytes/100 leukocytes in Blood by Automated count", "Моноциты", "%", "%", 0,
               (ADULT, 2, 10))
EOS = _analyte("713-8", "Eosinophils/100 leukocytes in Blood by Automated count", "Эозинофилы", "%", "%", 0,
               (ADULT, 1, 5))
ESR = _analyte("30341-2", "Erythrocyte sedimentation rate", "СОЭ", "мм/ч", "mm/h", 0, (ADULT, 2, 10))
URINE_COLOR = _analyte("5778-6", "Color of Urine", "Цвет мочи", "", "", 0)
URINE_SG = _analyte("5811-5", "Specific gravity of Urine by Test strip", "Относительная плотность", "", "1", 3,
                    (1, 1.002, 1.020), (ADULT, 1.010, 1.030))
URINE_PH = _analyte("5803-2", "pH of Urine by Test strip", "pH мочи", "pH", "[pH]", 1, (ADULT, 5.0, 7.0))
URINE_PROTEIN = _analyte("20454-5", "Protein [Presence] in Urine by Test strip", "Белок в моче", "", "", 0)
URINE_GLUCOSE = _analyte("25428-4", "Glucose [Presence] in Urine by Test strip", "Глюкоза в моче", "", "", 0)
URINE_WBC = _analyte("5821-4", "Leukocytes [#/area] in Urine sediment by Microscopy high power field",
                     "Лейкоциты в осадке мочи", "в п/зр", "/[HPF]", 0, (ADULT, 0, 5))
URINE_RBC = _analyte("13945-1", "Erythrocytes [#/area] in Urine sediment by Microscopy high power field",
                     "Эритроциты в осадке мочи", "в п/зр", "/[HPF]", 0, (ADULT, 0, 2))
BLOOD_FLAGS = {("H", "6690-2"): "лейкоцитоз", ("L", "6690-2"): "лейкопения", ("H", "770-8"): "нейтрофилёз",
               ("H", "736-9"): "лимфоцитоз", ("H", "5905-5"): "моноцитоз", ("H", "713-8"): "эозинофилия",
               ("H", "30341-2"): "ускорение СОЭ", ("L", "718-7"): "снижение гемоглобина"}

# Specialists' findings at a consultation: (finding, conclusion), the first one normal


def blood_count(rng: random.Random, age: float, state: str) -> list[tuple[Analyte, Any]]:
    """A plausible blood count; bacterial raises leukocytes, neutrophils and ESR, viral shifts to lymphocytes."""
    shift = {"bacterial": 0.6, "viral": -0.15}.get(state, 0.0)

    def around(analyte: Analyte, bias: float = 0.0) -> float:
        low, high = analyte.normal(age)
        value = (low + high) / 2 + (high - low) * (rng.gauss(0, 0.2) + bias)
        return round(value, analyte.digits) if analyte.digits else round(value)

    eosinophils = round(rng.uniform(1, 4) + (5 if state == "allergic" else 0))
    monocytes = round(rng.uniform(3, 8) + (3 if state == "viral" else 0))
    low, high = NEU.normal(age)
    neutrophils = round((low + high) / 2 + rng.gauss(0, 5) + {"bacterial": 20, "viral": -8}.get(state, 0))
    neutrophils = int(min(max(neutrophils, 10), 90 - eosinophils - monocytes))
    lymphocytes = 100 - neutrophils - eosinophils - monocytes - rng.randint(0, 1)  # the rest: basophils
    esr = round(rng.uniform(2, 9) + (rng.uniform(10, 25) if state == "bacterial" else 0))
    # RBC, hematocrit and monocytes are measured too; only what a pediatrician reads is kept, to keep records lean.
    return [(HB, around(HB)), (WBC, around(WBC, shift)), (PLT, around(PLT)), (NEU, neutrophils),
            (LYM, lymphocytes), (EOS, eosinophils), (ESR, esr)]


def blood_conclusion(flags: list[tuple[str, str]]) -> str:
    found = [BLOOD_FLAGS[key] for key in flags if key in BLOOD_FLAGS]
    return f"Выявлено: {', '.join(found)}" if found else "Показатели в пределах возрастной нормы"


def urinalysis(rng: random.Random, age: float, infection: bool) -> list[tuple[Analyte, Any]]:
    low, high = URINE_SG.normal(age)
    return [
        (URINE_COLOR, rng.choice(("соломенно-жёлтая", "светло-жёлтая", "жёлтая"))),
        (URINE_SG, round(rng.uniform(low, high), 3)), (URINE_PH, round(rng.uniform(5.0, 7.0) * 2) / 2),
        (URINE_PROTEIN, "следы (0,1 г/л)" if infection and rng.random() < 0.5 else "не обнаружен"),
        (URINE_GLUCOSE, "не обнаружена"),
        (URINE_WBC, rng.randint(20, 60) if infection else rng.randint(0, 4)),
        (URINE_RBC, rng.randint(0, 4) if infection else rng.randint(0, 1)),
    ]


def urine_conclusion(flags: list[tuple[str, str]]) -> str:
    if ("H", "5821-4") in flags:
        return "Лейкоцитурия" + (", следовая протеинурия" if ("H", "20454-5") in flags else "")
    return "Без патологических изменений"


def _measured(value: float, analyte: Analyte) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if analyte.unit:
        out["unit"] = analyte.unit
    out.update({"system": UCUM, "code": analyte.ucum})
    return out


def lab_report(record: Record, encounter: str, day: date, kind: str, *, state: str = "normal",
               tag: dict[str, str] | None = None) -> Iterator[Resource]:
    """A blood count (``cbc``) or urinalysis: result Observations, then their DiagnosticReport (sampled within 2 days).

    ``state`` shifts a blood count ("bacterial", "viral", "allergic") or makes a urinalysis show an
    infection ("infection"); ``tag`` is a coding added to the report's code (the examination test).
    """
    rng = record.rng
    taken_day = record.open_day(day + timedelta(days=rng.randint(0, 2)))
    taken_day = taken_day if taken_day <= record.today else day
    taken, issued = at(taken_day, rng.randint(480, 600)), at(taken_day, rng.randint(780, 960))
    lab, age = record.clinic.pick(rng, "lab"), record.age(day)
    if kind == "cbc":
        values, panel, category = blood_count(rng, age, state), CBC_PANEL, HEMATOLOGY
    else:
        values, panel, category = urinalysis(rng, age, state == "infection"), URINE_PANEL, URINALYSIS
    refs, flags = [], []
    for analyte, value in values:
        result, flag = _result(record, encounter, taken, issued, lab.ref, analyte, value, age)
        refs.append({"reference": f"Observation/{result['id']}"})
        flags.append((flag, analyte.code["coding"][0]["code"]))
        yield result
    code = {"coding": [*panel["coding"], *([tag] if tag else [])], "text": panel["text"]}
    yield {
        "resourceType": "DiagnosticReport", "id": record.new_id(), "status": "final", "category": category,
        "code": code, "subject": {"reference": record.patient}, "encounter": {"reference": encounter},
        "effectiveDateTime": taken, "issued": issued, "performer": [{"reference": lab.ref}], "result": refs,
        "conclusion": blood_conclusion(flags) if kind == "cbc" else urine_conclusion(flags),
    }


def _result(record: Record, encounter: str, taken: str, issued: str, lab: str, analyte: Analyte, value: Any,
            age: float) -> tuple[Resource, str]:
    result: Resource = {"resourceType": "Observation", "id": record.new_id(), "status": "final",
                        "category": LABORATORY, "code": analyte.code, "subject": {"reference": record.patient},
                        "encounter": {"reference": encounter}, "effectiveDateTime": taken, "issued": issued,
                        "performer": [{"reference": lab}]}
    if isinstance(value, str):
        if analyte is URINE_COLOR:
            result["valueString"] = value
        else:
            result["valueCodeableConcept"] = {"text": value}
        return result, "N" if value.startswith("не ") or analyte is URINE_COLOR else "H"
    low, high = analyte.normal(age)
    flag = "L" if value < low else "H" if value > high else "N"
    result.update({"valueQuantity": _measured(value, analyte), "interpretation": INTERPRETATION[flag],
                   "referenceRange": [{"low": _measured(low, analyte), "high": _measured(high, analyte)}]})
    return result, flag
