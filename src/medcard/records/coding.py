"""The codes and Russian wording a visit is written with, as docs/fhir-conventions.md fixes them.

The synthetic city (:mod:`medcard.synth.fhirdata`) writes visits with the same codes; a test keeps
the two equal, so the chart, the timeline, the growth engine and the documents read a visit typed
by a clinician exactly as they read the city's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from medcard.core.time import CLINIC_TZ
from medcard.core.wording import plural

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
MEDCARD = "urn:medcard:code-system:"
ENCOUNTER_TYPE = MEDCARD + "encounter-type"
SPECIALIST = MEDCARD + "specialist"
EXAMINATION_TEST = MEDCARD + "examination-test"
VISIT_FORM = "urn:medcard:visit-form"  # Encounter.identifier: the key of the form the visit was saved from


def concept(system: str, code: str, display: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": text}


def loinc(code: str, display: str, text: str) -> dict[str, Any]:
    return concept(LOINC, code, display, text)


def quantity(value: Any, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def medcard_concept(name: str, code: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": MEDCARD + name, "code": code}], "text": text}


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": TERMINOLOGY + "observation-category", "code": code, "display": display}]}]


VITAL, EXAM = _category("vital-signs", "Vital Signs"), _category("exam", "Exam")
WEIGHT = {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}], "text": "Масса тела"}
HEIGHT = loinc("8302-2", "Body height", "Рост")
LENGTH = {"coding": [{"system": LOINC, "code": "8306-3", "display": "Body height --lying"},
                     {"system": LOINC, "code": "8302-2", "display": "Body height"}], "text": "Длина тела"}
HEAD = loinc("9843-4", "Head Occipital-frontal circumference", "Окружность головы")
BMI = loinc("39156-5", "Body mass index (BMI) [Ratio]", "Индекс массы тела")
TEMPERATURE = loinc("8310-5", "Body temperature", "Температура тела")
# The FHIR R4 vital signs profiles (hl7.org/fhir/R4/observation-vitalsigns.html): heart rate and respiratory
# rate in /min; oxygen saturation 2708-6 (required by the profile) with the pulse oximetry code beside it, in %.
HEART_RATE = loinc("8867-4", "Heart rate", "Частота сердечных сокращений")
RESPIRATORY_RATE = loinc("9279-1", "Respiratory rate", "Частота дыхательных движений")
OXYGEN_SATURATION = {"coding": [{"system": LOINC, "code": "2708-6", "display": "Oxygen saturation in Arterial blood"},
                                {"system": LOINC, "code": "59408-5",
                                 "display": "Oxygen saturation in Arterial blood by Pulse oximetry"}],
                     "text": "Сатурация кислорода (SpO₂)"}
PROGRESS_NOTE = loinc("11506-3", "Progress note", "Протокол приёма")
AMBULATORY = {"system": TERMINOLOGY + "v3-ActCode", "code": "AMB", "display": "ambulatory"}
PREVENTIVE = {"coding": [{"system": ENCOUNTER_TYPE, "code": "preventive-examination"}],
              "text": "Профилактический медицинский осмотр"}
SICK_VISIT = concept(SNOMED, "185347001", "Encounter for problem", "Приём по заболеванию")
PRIMARY_PERFORMER = [concept(TERMINOLOGY + "v3-ParticipationType", "PPRF", "primary performer", "Врач")]
REFERRAL = [concept(SNOMED, "3457005", "Patient referral", "Направление на консультацию")]
LAB_ORDER = [concept(SNOMED, "108252007", "Laboratory procedure", "Лабораторное исследование")]
DIAGNOSTIC_ORDER = [concept(SNOMED, "103693007", "Diagnostic procedure", "Инструментальное исследование")]
ACTIVE = {"coding": [{"system": TERMINOLOGY + "condition-clinical", "code": "active"}]}
CONFIRMED = {"coding": [{"system": TERMINOLOGY + "condition-ver-status", "code": "confirmed"}]}
ENCOUNTER_DIAGNOSIS = concept(TERMINOLOGY + "condition-category", "encounter-diagnosis", "Encounter Diagnosis",
                              "Диагноз обращения")
DIAGNOSIS_ROLE = TERMINOLOGY + "diagnosis-role"
# Tests of the examination acts that a laboratory does (the rest are instrumental), with their LOINC panels.
LAB_TESTS: dict[str, tuple[str, str] | None] = {
    "cbc": ("58410-2", "CBC panel - Blood by Automated count"),
    "urinalysis": ("24356-8", "Urinalysis complete panel - Urine"),
    "cholesterol": ("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma"),
}
# Specialists by the code of the examination acts: how a referral names them ("Консультация врача-невролога").
SPECIALIST_GENITIVE = {
    "pediatrician": "врача-педиатра", "general-practitioner": "врача общей практики",
    "neurologist": "врача-невролога", "pediatric-surgeon": "врача — детского хирурга",
    "ophthalmologist": "врача-офтальмолога", "pediatric-dentist": "врача-стоматолога детского",
    "traumatologist-orthopedist": "врача — травматолога-ортопеда",
    "otorhinolaryngologist": "врача-оториноларинголога", "child-psychiatrist": "врача — детского психиатра",
    "adolescent-psychiatrist": "врача — подросткового психиатра",
    "obstetrician-gynecologist": "врача — акушера-гинеколога",
    "pediatric-urologist-andrologist": "врача — детского уролога-андролога",
    "pediatric-endocrinologist": "врача — детского эндокринолога",
}
# What a staff role is called in a protocol's header.
ROLE_TITLE = {"pediatrician": "Врач-педиатр", "specialist": "Врач-специалист", "nurse": "Медицинская сестра"}


def at(moment: datetime) -> str:
    """A Moscow dateTime to the minute, as the city writes them (``2026-11-26T10:05:00+03:00``)."""
    local = moment.astimezone(CLINIC_TZ).replace(second=0, microsecond=0)
    return local.isoformat()


def age_text(months: int) -> str:
    """Age as Russian doctors write it: '3 месяца', '1 год 6 месяцев', '7 лет'."""
    years, rest = divmod(months, 12)
    month_part = f"{rest} {plural(rest, 'месяц', 'месяца', 'месяцев')}"
    if years == 0:
        return month_part
    year_part = f"{years} {plural(years, 'год', 'года', 'лет')}"
    return f"{year_part} {month_part}" if rest and years < 3 else year_part


def ru_date(day: date) -> str:
    return f"{day.day:02d}.{day.month:02d}.{day.year}"


def ru_number(value: Any) -> str:
    """A decimal as typed, with a decimal comma: 10.25 -> '10,25'."""
    return str(value).replace(".", ",")
