"""``Patient/{id}/$growth`` and ``Patient/{id}/$growth-chart``: the child's growth against the WHO references.

``$growth`` returns a Parameters resource: each measurement's indicator, value, age, z-score and
centile (``measurement``), the WHO classification on the latest day measured (``classification``),
the centile-line crossings between measurements (``alert``), and the facts that could not be read
(``skipped``). ``$growth-chart?indicator=weight-for-age`` returns the chart itself, an SVG image
(``image/svg+xml``) of the WHO centiles with the child's points. ``lang`` (``ru``, the default, or
``en``) chooses the labels of both. Observations are picked through the code index: one query.
"""

from __future__ import annotations

from typing import Any

from medcard.core.errors import BadRequest
from medcard.fhir.operations.base import Operation, OperationCall, Result
from medcard.fhir.operations.pediatric_params import (
    Part,
    group,
    lang_param,
    last,
    parameters,
    part,
    patient_facts,
    read_record,
    skipped,
)
from medcard.pediatrics import growth, growth_chart, record
from medcard.pediatrics.growth_assessment import Assessment, assess

INDICATOR_SYSTEM = "urn:medcard:code-system:growth-indicator"
CLASSIFICATION_SYSTEM = "urn:medcard:code-system:who-growth-classification"
UCUM = "http://unitsofmeasure.org"
LABELS: dict[str, dict[str, str]] = {
    "weight-for-age": {"ru": "Масса тела к возрасту", "en": "Weight-for-age"},
    "height-for-age": {"ru": "Длина/рост к возрасту", "en": "Length/height-for-age"},
    "weight-for-height": {"ru": "Масса тела к длине/росту", "en": "Weight-for-length/height"},
    "bmi-for-age": {"ru": "ИМТ к возрасту", "en": "BMI-for-age"},
    "head-circumference-for-age": {"ru": "Окружность головы к возрасту", "en": "Head circumference-for-age"},
    "severe-stunting": {"ru": "Выраженная низкорослость", "en": "Severe stunting"},
    "stunting": {"ru": "Низкорослость", "en": "Stunting"},
    "severe-wasting": {"ru": "Выраженная истощённость", "en": "Severe wasting"},
    "wasting": {"ru": "Истощённость", "en": "Wasting"},
    "severe-underweight": {"ru": "Выраженный дефицит массы тела", "en": "Severe underweight"},
    "underweight": {"ru": "Дефицит массы тела", "en": "Underweight"},
    "overweight": {"ru": "Избыточная масса тела", "en": "Overweight"},
    "obesity": {"ru": "Ожирение", "en": "Obesity"},
    "severe-thinness": {"ru": "Выраженная худоба", "en": "Severe thinness"},
    "thinness": {"ru": "Худоба", "en": "Thinness"},
    "up": {"ru": "вверх", "en": "up"},
    "down": {"ru": "вниз", "en": "down"},
    "crossing": {"ru": "Пересечение центильных линий ({lines}) {direction}: {indicator}",
                 "en": "Crossed centile lines ({lines}) {direction}: {indicator}"},
    "not-covered": {"ru": "Вне диапазона референса ВОЗ", "en": "Outside the WHO reference"},
}


def label(key: str, lang: str) -> str:
    return LABELS.get(key, {}).get(lang, key)


def _coding(system: str, code: str, lang: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": label(code, lang)}


def _measurements(found: Assessment, lang: str) -> list[Part]:
    out = []
    for r in found.results:
        parts = [*(part("observation", "Reference", {"reference": ref}) for ref in r.references),
                 part("date", "Date", r.on.isoformat()), part("ageDays", "Integer", r.age_days),
                 part("indicator", "Coding", _coding(INDICATOR_SYSTEM, r.indicator, lang)),
                 part("value", "Quantity", {"value": round(r.value, 3), "unit": r.unit, "system": UCUM,
                                            "code": r.unit})]
        if r.height_cm is not None and r.indicator == "weight-for-height":
            parts.append(part("height", "Quantity", {"value": r.height_cm, "unit": "cm", "system": UCUM, "code": "cm"}))
        if r.z is None or r.centile is None:
            parts.append(part("note", "String", label("not-covered", lang)))
        else:
            parts += [part("zScore", "Decimal", round(r.z, 2)), part("centile", "Decimal", round(r.centile, 1))]
        out.append(group("measurement", parts))
    return out


def _classification(found: Assessment, lang: str) -> list[Part]:
    if found.classification_on is None:
        return []
    parts = [part("date", "Date", found.classification_on.isoformat()),
             part("ageDays", "Integer", found.classification_age_days)]
    parts += [part("code", "Coding", _coding(CLASSIFICATION_SYSTEM, c, lang)) for c in found.classification]
    return [group("classification", parts)]


def _alerts(found: Assessment, lang: str) -> list[Part]:
    out = []
    for c in found.crossings:
        lines = ", ".join(f"{x:g}" for x in c.lines)
        text = label("crossing", lang).format(lines=lines, direction=label(c.direction, lang),
                                              indicator=label(c.indicator, lang))
        out.append(group("alert", [
            part("indicator", "Coding", _coding(INDICATOR_SYSTEM, c.indicator, lang)),
            part("fromAgeDays", "Integer", c.from_age_days), part("toAgeDays", "Integer", c.to_age_days),
            part("fromZScore", "Decimal", round(c.from_z, 2)), part("toZScore", "Decimal", round(c.to_z, 2)),
            part("direction", "Code", c.direction), part("text", "String", text)]))
    return out


async def _assessment(call: OperationCall) -> tuple[dict[str, Any], Assessment, record.GrowthFacts]:
    patient, found = await read_record(call, coded=("Observation",), with_codes=record.GROWTH_CODES)
    facts = record.growth_from(found.get("Observation", []))
    return patient, assess(patient_facts(patient), facts), facts


async def growth_op(call: OperationCall) -> Result:
    lang = lang_param(call)
    patient, found, facts = await _assessment(call)
    params = [part("patient", "Reference", {"reference": f"Patient/{patient['id']}"}),
              *_measurements(found, lang), *_classification(found, lang),
              *_alerts(found, lang), *skipped(facts.skipped)]
    return parameters(params)


async def growth_chart_op(call: OperationCall) -> Result:
    lang = lang_param(call)
    indicator = last(call, "indicator") or "weight-for-age"
    if indicator not in growth.INDICATORS:
        raise BadRequest(f"unknown indicator {indicator!r}; expected one of {', '.join(growth.INDICATORS)}")
    patient, found, facts = await _assessment(call)
    sex = patient_facts(patient).sex
    if sex not in growth.SEXES:
        raise BadRequest("the WHO charts are by sex: the patient's gender is neither male nor female",
                         code="business-rule")
    rows = [r for r in found.results if r.indicator == indicator and r.z is not None]
    # A preterm child is plotted at the (corrected) age the z-score was read at, as the chart expects.
    points = [(r.height_cm or 0.0, r.value) if indicator == "weight-for-height" else
              (float(growth.corrected_age_days(r.age_days, facts.gestation_weeks) or 0), r.value) for r in rows]
    svg = growth_chart.render_growth_chart(indicator, sex, points, lang="en" if lang == "en" else "ru")
    return Result(body=svg, headers={"Content-Type": "image/svg+xml; charset=utf-8"})


OPERATION = Operation(
    name="growth",
    definition="urn:medcard:operation:growth",
    resource_types=("Patient",),
    instance=True,
    type_level=False,
    system=False,
    access="read",
    methods=("GET",),
    handler=growth_op,
    documentation="Growth measurements with WHO z-scores and centiles, the WHO classification and centile "
                  "crossing alerts, as Parameters; lang=ru|en.",
)

CHART = Operation(
    name="growth-chart",
    definition="urn:medcard:operation:growth-chart",
    resource_types=("Patient",),
    instance=True,
    type_level=False,
    system=False,
    access="read",
    methods=("GET",),
    handler=growth_chart_op,
    documentation="The WHO growth chart of one indicator (indicator=weight-for-age, ...) with the child's "
                  "points, as image/svg+xml; lang=ru|en.",
)

OPERATIONS = (OPERATION, CHART)
