"""FHIR building blocks of the synthetic city: code systems, shared codings, ids and identifiers.

Codes follow ``docs/fhir-conventions.md``; medcard's own systems are ``urn:medcard:code-system:<name>``.
Shared codings are module constants that many resources embed: copy one before changing it.
"""

from __future__ import annotations

import itertools
import math
import random
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from medcard.core.identifiers import luhn_check_digit, snils_check_digits
from medcard.core.wording import plural

Resource = dict[str, Any]

MSK = "+03:00"  # Moscow keeps UTC+3 all year (no DST since 2014): clinic-local times carry a fixed offset
SNILS = "urn:oid:1.2.643.2.69.1.1.1.6.223"
ENP = "urn:oid:1.2.643.2.69.1.1.1.6.228"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
MEDCARD = "urn:medcard:code-system:"
ENCOUNTER_TYPE = MEDCARD + "encounter-type"
SPECIALIST = MEDCARD + "specialist"
EXAMINATION_TEST = MEDCARD + "examination-test"
DISTRICT = MEDCARD + "district"
EXEMPTION_UNTIL = "urn:medcard:extension:exemption-until"
# Marks what the generator did on purpose against the calendar (late doses), so tests can tell them apart.
SYNTH_TAG = MEDCARD + "synth"
_NAMESPACE = uuid.UUID("6f1c0f4e-6d2b-5a7e-9c1d-3b8a4e2f7d10")  # fixed, so ids depend on the seed only


def at(day: date, minute: int) -> str:
    """A Moscow dateTime (valid as an instant too) at a minute of the day."""
    return f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00{MSK}"


def quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def concept(system: str, code: str, display: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": text}


def medcard_concept(name: str, code: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": MEDCARD + name, "code": code}], "text": text}


def status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": TERMINOLOGY + system, "code": code}]}


def loinc(code: str, display: str, text: str) -> dict[str, Any]:
    return concept(LOINC, code, display, text)


def category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": TERMINOLOGY + "observation-category", "code": code, "display": display}]}]


def ref(resource: Resource) -> dict[str, str]:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


VITAL, LABORATORY, EXAM = category("vital-signs", "Vital Signs"), category("laboratory", "Laboratory"), \
    category("exam", "Exam")
SURVEY = category("survey", "Survey")
WEIGHT = loinc("29463-7", "Body weight", "Масса тела")
HEIGHT = loinc("8302-2", "Body height", "Рост")
LENGTH = {"coding": [{"system": LOINC, "code": "8306-3", "display": "Body height --lying"},
                     {"system": LOINC, "code": "8302-2", "display": "Body height"}], "text": "Длина тела"}
HEAD = loinc("9843-4", "Head Occipital-frontal circumference", "Окружность головы")
BMI = loinc("39156-5", "Body mass index (BMI) [Ratio]", "Индекс массы тела")
GESTATION = loinc("76516-4", "Gestational age--at birth", "Срок гестации при рождении")
TEMPERATURE = loinc("8310-5", "Body temperature", "Температура тела")
HEART_RATE = loinc("8867-4", "Heart rate", "Частота сердечных сокращений")
PEAK_FLOW = loinc("19935-6", "Maximum expiratory gas flow Respiratory system airway by Peak flow meter",
                  "Пиковая скорость выдоха")
HBA1C = loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "Гликированный гемоглобин (HbA1c)")
CBC_PANEL = loinc("58410-2", "CBC panel - Blood by Automated count", "Общий (клинический) анализ крови")
URINE_PANEL = loinc("24356-8", "Urinalysis complete panel - Urine", "Общий анализ мочи")
HEMATOLOGY = [concept(TERMINOLOGY + "v2-0074", "HM", "Hematology", "Гематология")]
URINALYSIS = [concept(TERMINOLOGY + "v2-0074", "UR", "Urinalysis", "Исследование мочи")]
PROGRESS_NOTE = loinc("11506-3", "Progress note", "Протокол приёма")
CONSULT_NOTE = loinc("11488-4", "Consult note", "Протокол консультации")
SUMMARY_NOTE = loinc("34133-9", "Summary of episode note", "Эпикриз")
LAB_REPORT = loinc("11502-2", "Laboratory report", "Результаты лабораторного исследования")
CERTIFICATE = {"text": "Медицинская справка"}
PAPER_CARD = {"text": "История развития ребёнка (ф. 112/у)"}
AMBULATORY = {"system": TERMINOLOGY + "v3-ActCode", "code": "AMB", "display": "ambulatory"}
HOME = {"system": TERMINOLOGY + "v3-ActCode", "code": "HH", "display": "home health"}
PREVENTIVE = {"coding": [{"system": ENCOUNTER_TYPE, "code": "preventive-examination"}],
              "text": "Профилактический медицинский осмотр"}
PATRONAGE = concept(SNOMED, "439708006", "Home visit", "Патронаж новорождённого")
HOME_CALL = concept(SNOMED, "439708006", "Home visit", "Вызов врача на дом")
SICK_VISIT = concept(SNOMED, "185347001", "Encounter for problem", "Приём по заболеванию")
FOLLOW_UP = concept(SNOMED, "390906007", "Follow-up encounter", "Повторный приём")
DISPENSARY = concept(SNOMED, "390906007", "Follow-up encounter", "Диспансерное наблюдение")
CHECK_UP = concept(SNOMED, "185349003", "Encounter for check up", "Осмотр для оформления медицинской справки")
CONSULTATION = concept(SNOMED, "11429006", "Consultation", "Консультация специалиста")
VACCINATION = concept(SNOMED, "33879002", "Administration of vaccine to produce active immunity", "Вакцинация")
PRIMARY_PERFORMER = [concept(TERMINOLOGY + "v3-ParticipationType", "PPRF", "primary performer", "Врач")]
ADMINISTERING = concept(TERMINOLOGY + "v2-0443", "AP", "Administering Provider", "Выполнил прививку")
REFERRAL = [concept(SNOMED, "3457005", "Patient referral", "Направление на консультацию")]
ACTIVE, RESOLVED = status("condition-clinical", "active"), status("condition-clinical", "resolved")
CONFIRMED = status("condition-ver-status", "confirmed")
ENCOUNTER_DIAGNOSIS = concept(TERMINOLOGY + "condition-category", "encounter-diagnosis", "Encounter Diagnosis",
                              "Диагноз обращения")
PROBLEM_LIST = concept(TERMINOLOGY + "condition-category", "problem-list-item", "Problem List Item",
                       "Хроническое заболевание")
SEVERITY = {"mild": concept(SNOMED, "255604002", "Mild", "Лёгкое течение"),
            "moderate": concept(SNOMED, "6736007", "Moderate", "Среднетяжёлое течение")}
INTERPRETATION = {flag: [concept(TERMINOLOGY + "v3-ObservationInterpretation", flag, display, text)]
                  for flag, display, text in (("L", "Low", "Ниже нормы"), ("N", "Normal", "Норма"),
                                              ("H", "High", "Выше нормы"))}
ACT_REASON = TERMINOLOGY + "v3-ActReason"


def seeded(key: str) -> random.Random:
    """A generator seeded by a string: the city must be reproducible from its seed, never secret."""
    return random.Random(key)  # noqa: S311 - synthetic data, not cryptography


# --- Ids and identifiers ------------------------------------------------------------------------


def id_maker(key: str) -> Callable[[], str]:
    """Ids shaped like UUIDs: 24 characters of uuid5(key), then a 12-digit hex counter from 1."""
    prefix = str(uuid.uuid5(_NAMESPACE, key))[:24]
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):012x}"


class _Permutation:
    """A seeded affine bijection of 0..size-1: numbers drawn by index look random and never repeat."""

    def __init__(self, rng: random.Random, size: int) -> None:
        factor = rng.randrange(size // 3, size - 1) | 1
        while math.gcd(factor, size) != 1:
            factor += 2
        self.size, self.factor, self.offset = size, factor, rng.randrange(size)

    def __call__(self, index: int) -> int:
        return (self.factor * index + self.offset) % self.size


SNILS_LOW = 1_001_999  # check digits are defined only above 001-001-998


class Identifiers:
    """SNILS and ENP numbers with valid check digits (medcard.core.identifiers), unique per person index."""

    PARENTS = 100_000_000  # parents draw from indexes far above any child's
    STAFF = 500_000_000  # and staff above those

    def __init__(self, seed: int) -> None:
        rng = seeded(f"{seed}/identifiers")
        self._snils = _Permutation(rng, 999_999_999 - SNILS_LOW + 1)
        self._enp = _Permutation(rng, 10**13)

    def snils(self, index: int) -> str:
        body = f"{SNILS_LOW + self._snils(index):09d}"
        return body + snils_check_digits(body)

    def enp(self, index: int) -> str:
        body = f"77{self._enp(index):013d}"
        return body + luhn_check_digit(body)


# --- Russian wording ----------------------------------------------------------------------------


def days_text(n: int) -> str:
    return f"{n} {plural(n, 'день', 'дня', 'дней')}"


def age_text(months: int) -> str:
    """Age as Russian doctors write it: '3 месяца', '1 год 6 месяцев', '7 лет'."""
    years, rest = divmod(months, 12)
    month_part = f"{rest} {plural(rest, 'месяц', 'месяца', 'месяцев')}"
    if years == 0:
        return month_part
    year_part = f"{years} {plural(years, 'год', 'года', 'лет')}"
    return f"{year_part} {month_part}" if rest and years < 3 else year_part


def ru(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def ru_date(day: date) -> str:
    return f"{day.day:02d}.{day.month:02d}.{day.year}"


def phone(rng: random.Random) -> str:
    """A Russian mobile number (+7 9XX): one random draw, as millions of patients need one each."""
    n = f"{int(rng.random() * 1_000_000_000):09d}"
    return f"+7 9{n[:2]} {n[2:5]}-{n[5:7]}-{n[7:]}"
