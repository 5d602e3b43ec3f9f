"""The visit form: what a clinician typed, checked field by field into a :class:`Visit`.

A form is a mapping of field names to the strings typed (a field may repeat: prescriptions,
further diagnoses, orders). :func:`check` turns it into a :class:`Visit` or a dict of problems,
one Russian message per field name, shown next to that field; nothing is saved while any
remains. Numbers take a decimal comma or point; dates come as ``ГГГГ-ММ-ДД`` (the date input)
or ``ДД.ММ.ГГГГ``. The ICD-10 codes are looked up in the loaded list
(:mod:`medcard.terminology.icd10`), so each diagnosis carries its Russian title and the list's
version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

from psycopg import AsyncConnection

from medcard.pediatrics import rules
from medcard.pediatrics.examinations import ScheduledExamination, examination_schedule
from medcard.pediatrics.rules import ChildSex, ExaminationAct
from medcard.terminology import icd10

Kind = Literal["well-child", "illness"]
KINDS: tuple[Kind, ...] = ("well-child", "illness")
Fields = dict[str, list[str]]
Errors = dict[str, str]

MAX_TEXT = 4000  # a section of the protocol (complaints, examination, ...)
MAX_LINE = 300  # one prescription's drug or dosage
MAX_ROWS = 20  # prescriptions; further diagnoses
MAX_OTHER_DIAGNOSES = 5
NEXT_VISIT_WITHIN = timedelta(days=2 * 366)
# The protocol's text sections, in the order of the form and of the protocol (ux.md §3).
TEXT_FIELDS = {"complaints": "Жалобы", "history": "Анамнез заболевания", "life_history": "Анамнез жизни",
               "epidemiology": "Эпиданамнез", "allergy_history": "Аллергоанамнез", "examination": "Объективно",
               "development": "Нервно-психическое развитие", "conclusion": "Заключение", "advice": "Рекомендации"}
FEEDING = {"breast": "грудное", "mixed": "смешанное", "formula": "искусственное"}
_CODE = re.compile(r"^\s*([A-Za-zА-Яа-я])\s*(\d\d)(?:\s*[.,]\s*(\d{1,2}))?(?=\s|$|[^\w.])")
_CYRILLIC_LOOKALIKES = str.maketrans("АВЕКМНОРСТХаехорс", "ABEKMHOPCTXAEXOPC")  # "Ј06" typed on a Russian layout
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


@dataclass(frozen=True)
class Measure:
    """A vital sign of the form: its field, bounds, decimals allowed and how the protocol names it."""

    field: str
    label: str
    low: Decimal
    high: Decimal
    decimals: int
    unit: str
    feminine: bool = False  # «Температура должна быть», «ЧСС должна быть»

    @property
    def range_text(self) -> str:
        """The problem with a value out of bounds, as shown next to the field."""
        low, high = (str(x).replace(".", ",") for x in (self.low, self.high))
        return f"{self.label} {'должна' if self.feminine else 'должен'} быть от {low} до {high} {self.unit}"


# Bounds: what can be measured on a living child at all (newborn to adolescent), not a normal range. A value
# outside is a typing slip (a missing comma, a swapped field) and is refused; an abnormal one is the doctor's.
# Heart rate: a newborn's supraventricular tachycardia reaches 250-300, bradycardia below 30 is arrest
# territory; respiratory rate: a newborn's tachypnoea up to ~120; SpO₂ below 50 % is not read reliably by
# a pulse oximeter.
MEASURES = (
    Measure("weight", "Вес", Decimal("0.3"), Decimal("200"), 3, "кг"),
    Measure("height", "Рост", Decimal("25"), Decimal("230"), 1, "см"),
    Measure("head", "Окружность головы", Decimal("20"), Decimal("70"), 1, "см"),
    Measure("temperature", "Температура", Decimal("34"), Decimal("43"), 1, "°C", feminine=True),
    Measure("heart_rate", "ЧСС", Decimal("30"), Decimal("300"), 0, "уд/мин", feminine=True),
    Measure("respiratory_rate", "ЧДД", Decimal("8"), Decimal("120"), 0, "в мин", feminine=True),
    Measure("spo2", "SpO₂", Decimal("50"), Decimal("100"), 0, "%", feminine=True),
)


@dataclass(frozen=True)
class Child:
    """Whose visit it is: what the form needs of the Patient."""

    id: str
    birth_date: date
    sex: ChildSex
    organization: str | None  # Organization/<id> the child is attached to

    def age_days(self, on: date) -> int:
        return (on - self.birth_date).days


@dataclass(frozen=True)
class Prescription:
    drug: str
    dosage: str


@dataclass(frozen=True)
class Visit:
    """A checked visit form, ready to be written (:mod:`medcard.records.protocol`)."""

    kind: Kind
    day: date
    measures: dict[str, Decimal]  # field -> value, only those typed
    texts: dict[str, str]  # field of TEXT_FIELDS -> text, only those typed
    diagnoses: tuple[icd10.Icd10, ...]  # the main one first
    prescriptions: tuple[Prescription, ...]
    tests: tuple[str, ...]  # codes of the examination act's tests
    referrals: tuple[str, ...]  # codes of the act's specialists
    next_visit: date | None
    next_visit_prn: bool
    examination: ScheduledExamination | None = None  # well-child: the scheduled examination it is
    health_group: str | None = None
    pe_group: str | None = None
    feeding: str | None = None


# --- reading the form ----------------------------------------------------------------------------


def one(fields: Mapping[str, Sequence[str]], name: str) -> str:
    """The field's value, stripped ('' when absent)."""
    values = fields.get(name) or [""]
    return values[0].strip()


def many(fields: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """Every value of a repeated field, stripped, as typed (empty ones kept: rows pair by position)."""
    return [v.strip() for v in fields.get(name) or []]


def parse_decimal(text: str) -> Decimal | None:
    """A number typed with a decimal comma or point; None when it is not one."""
    cleaned = text.replace(" ", "").replace("\u00a0", "").replace(",", ".")
    if not re.fullmatch(r"\d{1,4}(\.\d{1,6})?", cleaned):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None


def parse_date(text: str) -> date | None:
    """A date as the date input sends it (ГГГГ-ММ-ДД) or as typed (ДД.ММ.ГГГГ)."""
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text) or re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", text)
    if match is None:
        return None
    a, b, c = (int(g) for g in match.groups())
    year, month, day = (a, b, c) if len(match.group(1)) == 4 else (c, b, a)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def code_of(text: str) -> str | None:
    """The ICD-10 code at the start of what the picker put in the field ('J06.9 Острая ...' -> 'J06.9')."""
    match = _CODE.match(text.translate(_CYRILLIC_LOOKALIKES))
    if match is None:
        return None
    letter, digits, detail = match.groups()
    return f"{letter.upper()}{digits}" + (f".{detail}" if detail else "")


# --- checking it -------------------------------------------------------------------------------


def _measure(m: Measure, text: str, errors: Errors) -> Decimal | None:
    value = parse_decimal(text)
    if value is None:
        errors[m.field] = "Введите число, например 12,5" if m.decimals else "Введите целое число, например 96"
        return None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > m.decimals:
        errors[m.field] = ("Введите целое число" if m.decimals == 0 else
                           f"Не больше {m.decimals} {'знака' if m.decimals == 1 else 'знаков'} после запятой")
        return None
    if not m.low <= value <= m.high:
        errors[m.field] = m.range_text
        return None
    return value


def _measures(fields: Mapping[str, Sequence[str]], kind: Kind, errors: Errors) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for m in MEASURES:
        text = one(fields, m.field)
        if text:
            value = _measure(m, text, errors)
            if value is not None:
                out[m.field] = value
        elif kind == "well-child" and m.field in ("weight", "height"):
            errors[m.field] = f"{'Вес' if m.field == 'weight' else 'Рост'} обязателен при профилактическом осмотре"
    return out


def _text(text: str, limit: int) -> str | None:
    """The problem with a text, or None."""
    if _FORBIDDEN.search(text):
        return "Текст содержит управляющие символы; удалите их"
    if len(text) > limit:
        return f"Не больше {limit} знаков (сейчас {len(text)})"
    return None


def _texts(fields: Mapping[str, Sequence[str]], errors: Errors) -> dict[str, str]:
    out = {}
    for name in TEXT_FIELDS:
        text = one(fields, name)
        problem = _text(text, MAX_TEXT)
        if problem:
            errors[name] = problem
        elif text:
            out[name] = text
    return out


def _day(fields: Mapping[str, Sequence[str]], child: Child, today: date, errors: Errors) -> date | None:
    text = one(fields, "date")
    if not text:
        errors["date"] = "Укажите дату приёма"
        return None
    day = parse_date(text)
    if day is None:
        errors["date"] = "Введите дату в виде ДД.ММ.ГГГГ"
    elif day > today:
        errors["date"] = "Дата приёма не может быть в будущем"
    elif day < child.birth_date:
        errors["date"] = "Дата приёма раньше даты рождения ребёнка"
    else:
        return day
    return None


async def _diagnosis(conn: AsyncConnection, field: str, text: str, errors: Errors) -> icd10.Icd10 | None:
    problem = _text(text, MAX_LINE)
    code = None if problem else code_of(text)
    if problem:
        errors[field] = problem
    elif code is None:
        errors[field] = "Выберите диагноз из списка или введите код МКБ-10, например J06.9"
    else:
        found = await icd10.lookup(conn, code)
        if found is None:
            errors[field] = f"Кода {code} нет в МКБ-10; выберите диагноз из списка"
        return found
    return None


async def _diagnoses(conn: AsyncConnection, fields: Mapping[str, Sequence[str]], errors: Errors
                     ) -> tuple[icd10.Icd10, ...]:
    found: list[icd10.Icd10] = []
    main = one(fields, "diagnosis")
    if not main:
        errors["diagnosis"] = "Укажите основной диагноз по МКБ-10"
    elif (d := await _diagnosis(conn, "diagnosis", main, errors)) is not None:
        found.append(d)
    others = many(fields, "diagnosis_other")
    if len([o for o in others if o]) > MAX_OTHER_DIAGNOSES:
        errors["diagnosis_other.0"] = f"Не больше {MAX_OTHER_DIAGNOSES} сопутствующих диагнозов"
        return tuple(found)
    for i, text in enumerate(others):
        if text and (d := await _diagnosis(conn, f"diagnosis_other.{i}", text, errors)) is not None:
            if any(d.code == f.code for f in found):
                errors[f"diagnosis_other.{i}"] = "Этот диагноз уже указан"
            else:
                found.append(d)
    return tuple(found)


def _prescriptions(fields: Mapping[str, Sequence[str]], errors: Errors) -> tuple[Prescription, ...]:
    drugs, doses = many(fields, "drug"), many(fields, "dose")
    rows = max(len(drugs), len(doses))
    if rows > MAX_ROWS:
        errors["drug.0"] = f"Не больше {MAX_ROWS} назначений в одном протоколе"
        return ()
    out = []
    for i in range(rows):
        drug = drugs[i] if i < len(drugs) else ""
        dose = doses[i] if i < len(doses) else ""
        problems = {f"drug.{i}": _text(drug, MAX_LINE), f"dose.{i}": _text(dose, MAX_LINE)}
        if drug and not dose:
            problems[f"dose.{i}"] = problems[f"dose.{i}"] or "Укажите дозировку, кратность и длительность"
        if dose and not drug:
            problems[f"drug.{i}"] = problems[f"drug.{i}"] or "Укажите препарат"
        errors.update({k: v for k, v in problems.items() if v})
        if drug and dose and not any(problems.values()):
            out.append(Prescription(drug, dose))
    return tuple(out)


def _codes(fields: Mapping[str, Sequence[str]], name: str, allowed: Mapping[str, object], errors: Errors
           ) -> tuple[str, ...]:
    chosen = [v for v in many(fields, name) if v]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        errors[name] = "Выберите из списка" if len(unknown) == len(chosen) else "Часть выбранного не из списка"
        return ()
    return tuple(dict.fromkeys(chosen))


def _next_visit(fields: Mapping[str, Sequence[str]], day: date | None, errors: Errors) -> tuple[date | None, bool]:
    text, prn = one(fields, "next_visit"), one(fields, "next_visit_prn") in ("1", "on", "true")
    if not text:
        return None, prn
    if prn:
        errors["next_visit"] = "Укажите дату явки или «по необходимости», но не то и другое"
        return None, prn
    when = parse_date(text)
    if when is None:
        errors["next_visit"] = "Введите дату в виде ДД.ММ.ГГГГ"
    elif day is not None and when <= day:
        errors["next_visit"] = "Дата явки должна быть позже даты приёма"
    elif day is not None and when > day + NEXT_VISIT_WITHIN:
        errors["next_visit"] = "Дата явки — не дальше двух лет от приёма"
    else:
        return when, False
    return None, prn


def _groups(fields: Mapping[str, Sequence[str]], act: ExaminationAct | None, errors: Errors
            ) -> tuple[str | None, str | None]:
    out: list[str | None] = []
    for name, codes in (("health_group", act.health_groups if act else {}),
                        ("pe_group", act.pe_groups if act else {})):
        value = one(fields, name)
        if value and value not in codes:
            errors[name] = "Выберите из списка"
            value = ""
        out.append(value or None)
    return out[0], out[1]


def examination_act(day: date) -> ExaminationAct | None:
    """The examination act in force on the day (the lists of tests and specialists come from it)."""
    return rules.examination_acts().in_force(day)


def due_examination(child: Child, day: date) -> ScheduledExamination | None:
    """The scheduled examination a well-child visit on ``day`` is: the one whose window holds the day,
    else the last one already due (overdue), else the next one."""
    schedule = examination_schedule(child.birth_date, child.sex).examinations
    current = [e for e in schedule if e.due_from <= day <= e.due_until]
    if current:
        return current[-1]
    past = [e for e in schedule if e.due_from <= day]
    return past[-1] if past else (schedule[0] if schedule else None)


async def check(conn: AsyncConnection, fields: Mapping[str, Sequence[str]], child: Child, today: date
                ) -> Visit | Errors:
    """The visit the form describes, or the problems found, by field name (``drug.2``: the third row)."""
    errors: Errors = {}
    kind = one(fields, "kind")
    if kind not in KINDS:
        return {"kind": "Неизвестный вид приёма"}
    day = _day(fields, child, today, errors)
    act = examination_act(day or today)
    measures = _measures(fields, kind, errors)
    texts = _texts(fields, errors)
    diagnoses = await _diagnoses(conn, fields, errors)
    prescriptions = _prescriptions(fields, errors)
    tests = _codes(fields, "test", act.tests if act else {}, errors)
    referrals = _codes(fields, "referral", act.specialists if act else {}, errors)
    next_visit, prn = _next_visit(fields, day, errors)
    health, pe = _groups(fields, act, errors)
    feeding = one(fields, "feeding") or None
    if feeding is not None and feeding not in FEEDING:
        errors["feeding"] = "Выберите из списка"
    if errors or day is None:
        return errors
    return Visit(kind=kind,
                 day=day, measures=measures, texts=texts, diagnoses=diagnoses, prescriptions=prescriptions,
                 tests=tests, referrals=referrals, next_visit=next_visit, next_visit_prn=prn,
                 examination=due_examination(child, day) if kind == "well-child" else None,
                 health_group=health, pe_group=pe, feeding=feeding)


# --- a new form ----------------------------------------------------------------------------------

WELL_CHILD_DIAGNOSIS = "Z00.1"  # ICD-10: routine child health examination
_SEEN_AT_THE_VISIT = frozenset({"pediatrician", "general-practitioner"})  # who writes the form, not a referral


def schedule_items(exam: ScheduledExamination) -> tuple[list[str], list[str]]:
    """The specialists to refer to and the tests to order for a scheduled examination (act codes)."""
    return ([r.code for r in exam.specialists if r.code not in _SEEN_AT_THE_VISIT], [r.code for r in exam.tests])


async def prefill(conn: AsyncConnection, kind: Kind, child: Child, today: date) -> Fields:
    """A new form's fields: today's date; for a well-child visit, what the examination schedule in force
    asks for at this age (referrals to its specialists, its tests), the routine-examination diagnosis and
    the next examination's date as the next visit."""
    fields: Fields = {"kind": [kind], "date": [today.isoformat()]}
    if kind != "well-child":
        return fields
    found = await icd10.lookup(conn, WELL_CHILD_DIAGNOSIS)
    if found is not None:
        fields["diagnosis"] = [f"{found.code} {found.title_ru}"]
    exam = due_examination(child, today)
    if exam is None:
        return fields
    specialists, tests = schedule_items(exam)
    fields["referral"], fields["test"] = specialists, tests
    later = [e for e in examination_schedule(child.birth_date, child.sex).examinations if e.due_from > today]
    if later:
        fields["next_visit"] = [later[0].due_from.isoformat()]
    return fields
