"""Preventive examinations of a synthetic child, by the schedule of the act in force on each date.

The schedule is :func:`medcard.pediatrics.examinations.examination_schedule`: each examination
is held within its window and while its act is still in force (514н before 01.09.2025, 211н from
then), so it follows the act of its own date. Each is an Encounter of type
``preventive-examination``; every specialist of that age is an Encounter ``partOf`` it with the
specialist's ``serviceType``; the tests are DiagnosticReports or Observations coded with
``examination-test``; the conclusion is the health group and the PE group (docs/fhir-conventions.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from medcard.pediatrics.examinations import ScheduledExamination, examination_schedule
from medcard.synth import texts
from medcard.synth.clinics import ROLES
from medcard.synth.fhirdata import (
    BMI,
    EXAM,
    EXAMINATION_TEST,
    HEAD,
    HEIGHT,
    LENGTH,
    LOINC,
    PATRONAGE,
    PREVENTIVE,
    PROGRESS_NOTE,
    SUMMARY_NOTE,
    VITAL,
    Resource,
    age_text,
    at,
    medcard_concept,
    quantity,
    ru,
)
from medcard.synth.labs import lab_report
from medcard.synth.record import ELECTRONIC_FROM, Record

# Tests of the acts' lists written as one Observation: (LOINC code and display or None, normal results).
TEST_RESULTS: dict[str, tuple[tuple[str, str] | None, tuple[str, ...]]] = {
    "neonatal-screening": (("54089-8", "Newborn screening panel"),
                           ("Результат отрицательный по всем пяти заболеваниям",)),
    "audiological-screening": (("54109-4", "Newborn hearing screen panel"),
                               ("Отоакустическая эмиссия зарегистрирована с обеих сторон (PASS)",)),
    "ecg": (("11524-6", "EKG study"), ("Ритм синусовый, ЭОС нормальная, вариант возрастной нормы",
                                       "Синусовая аритмия, ЭОС вертикальная, вариант нормы",
                                       "Неполная блокада правой ножки пучка Гиса")),
    "cholesterol": (("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma"),
                    ("Общий холестерин 4,1 ммоль/л", "Общий холестерин 3,8 ммоль/л", "Общий холестерин 5,3 ммоль/л")),
    "us-abdomen": (None, ("Эхопризнаков патологии органов брюшной полости не выявлено",
                          "Перегиб желчного пузыря в области шейки")),
    "us-kidneys": (None, ("Почки расположены типично, размеры соответствуют возрасту, ЧЛС не расширена",
                          "Пиелоэктазия слева до 5 мм")),
    "us-hip-joints": (None, ("Тазобедренные суставы тип Ia по Графу с обеих сторон",
                             "Тип IIa по Графу слева, физиологическая незрелость")),
    "neurosonography": (None, ("Структуры головного мозга сформированы правильно, желудочки не расширены",)),
    "echocardiography": (None, ("Внутрисердечная гемодинамика не нарушена",
                                "Открытое овальное окно 2 мм, гемодинамически незначимое",
                                "Аномально расположенная хорда левого желудочка")),
    "us-thyroid": (None, ("Щитовидная железа обычных размеров, структура однородная",)),
    "us-reproductive": (None, ("Органы репродуктивной сферы сформированы по возрасту",)),
    "ophthalmoscopy-mydriasis": (None, ("Глазное дно без патологии",)),
    "mental-development-screening": (None, ("Риск нарушений психического развития не выявлен",
                                            "Выявлен риск задержки речевого развития, рекомендован логопед")),
}
MISSED_CHANCE = 0.05  # examinations a family never came to


def planned_examinations(record: Record) -> list[tuple[date, ScheduledExamination]]:
    """The examinations the child attended: a day in each window, within its act, in the electronic era."""
    rng, out = record.rng, []
    schedule = examination_schedule(record.birth, record.sex, until=record.today)
    for exam in schedule.examinations:
        last = min(exam.due_until, record.today)
        if exam.act.meta.in_force_until is not None:
            last = min(last, exam.act.meta.in_force_until)
        if exam.due_from < ELECTRONIC_FROM or last < exam.due_from:
            continue
        if exam.visit.code.endswith("newborn"):
            day = exam.due_from + timedelta(days=rng.randint(3, 10))
        else:
            if rng.random() < MISSED_CHANCE * (2 if record.age(exam.due_from) >= 12 else 1):
                continue
            day = record.open_day(exam.due_from + timedelta(days=rng.randint(0, 12)))
        if day <= last:
            out.append((day, exam))
    return out


def _months(record: Record, exam: ScheduledExamination) -> int:
    return exam.visit.age.years * 12 + exam.visit.age.months


def preventive_examination(record: Record, day: date, exam: ScheduledExamination) -> Iterator[Resource]:
    """The examination Encounter, its specialists, measurements, tests, groups and its protocol."""
    rng, months = record.rng, _months(record, exam)
    concern = rng.choice(_by_age(texts.CONCERNS, months / 12))
    newborn = exam.visit.code.endswith("newborn")
    title = "Первичный патронаж новорождённого" if newborn else \
        f"Профилактический медицинский осмотр в {age_text(months)}"
    minute = rng.randint(600, 1020) if newborn else record.minute()
    main = record.encounter(day, minute, record.doctor, PREVENTIVE, f"{title} ({exam.act.meta.number})",
                            home=newborn, length=40)
    main.pop("serviceType", None)  # the examination as a whole; each specialist is a part of it
    if newborn:
        main["type"] = [PREVENTIVE, PATRONAGE]
    ref = f"Encounter/{main['id']}"
    yield main
    lines = [f"Жалобы: {concern}."]
    for resource in _measurements(record, ref, day, minute):
        yield resource
        if resource["resourceType"] == "Observation":
            q = resource["valueQuantity"]
            lines.append(f"{resource['code']['text']}: {ru(q['value'], 3 if q['value'] < 10 else 1)} {q['unit']}.")
    lines.append(record.growth.assessment(record.age_days(day)) + ".")
    lines.append(f"{'. '.join(rng.sample(texts.WELL_FINDINGS, 3))}.")
    if months in texts.MILESTONES:
        lines.append(f"Нервно-психическое развитие: {texts.MILESTONES[months]}.")
    for requirement in exam.specialists:
        yield from _specialist(record, ref, day, requirement.code, lines)
    for requirement in exam.tests:
        yield from _test(record, ref, day, requirement.code, requirement.name_ru, lines)
    yield from _groups(record, ref, day, minute)
    lines += [f"Группа здоровья: {record.health_group}. Медицинская группа для занятий физической культурой: "
              f"{texts.PE_GROUP_TEXT[record.pe_group]}.",
              f"Рекомендации: {'; '.join(rng.sample(_by_age(texts.ADVICE, months / 12), 2))}."]
    yield record.document(ref, day, minute, record.doctor, f"Протокол: {title.lower()}", PROGRESS_NOTE, lines)
    if months in texts.EPICRISIS_MONTHS:
        yield _epicrisis(record, ref, day, minute, months)


def _by_age(table: tuple[tuple[float, tuple[str, ...]], ...], age: float) -> tuple[str, ...]:
    for limit, values in table:
        if age < limit:
            return values
    return table[-1][1]


def _measurements(record: Record, encounter: str, day: date, minute: int) -> Iterator[Resource]:
    """Weight, length (lying, under 2) or height, head circumference under 3, BMI from 2 years."""
    m = record.growth.measure(record.rng, record.age_days(day))
    when, who = at(day, minute + 5), record.doctor
    yield record.observation(encounter, when, who, VITAL, _copy(WEIGHT_CODE), ("valueQuantity",
                                                                                quantity(m.weight_kg, "кг", "kg")))
    yield record.observation(encounter, when, who, VITAL, _copy(LENGTH if m.recumbent else HEIGHT),
                             ("valueQuantity", quantity(m.height_cm, "см", "cm")))
    if m.head_cm is not None:
        yield record.observation(encounter, when, who, VITAL, _copy(HEAD), ("valueQuantity",
                                                                            quantity(m.head_cm, "см", "cm")))
    if not m.recumbent:
        yield record.observation(encounter, when, who, VITAL, _copy(BMI), ("valueQuantity",
                                                                           quantity(m.bmi, "кг/м²", "kg/m2")))


def _copy(code: dict[str, Any]) -> dict[str, Any]:
    return {"coding": [dict(c) for c in code["coding"]], "text": code["text"]}


def _specialist(record: Record, examination: str, day: date, code: str, lines: list[str]) -> Iterator[Resource]:
    """One specialist's part of the examination; a finding that needs it leads to a referral later."""
    rng = record.rng
    who = record.doctor if code == "pediatrician" else record.clinic.pick(rng, code)
    minute = record.minute()
    visit = record.encounter(day, minute, who, PREVENTIVE, "Профилактический медицинский осмотр", length=15,
                             part_of=examination)
    yield visit
    options = texts.FINDINGS.get(code)
    if options is None:
        return
    finding, conclusion = options[0] if rng.random() < 0.85 else rng.choice(options[1:])
    if "{tooth}" in finding:
        tooth = f"{rng.choice((5, 6, 7, 8) if record.age(day) < 6 else (1, 2, 3, 4))}{rng.randint(4, 5)}"
        finding, conclusion = finding.format(tooth=tooth), conclusion.format(tooth=tooth)
    if conclusion == "Здоров" and record.female:
        conclusion = "Здорова"
    lines.append(f"{who.name} ({code_title(code)}): {finding}. Заключение: {conclusion}.")


def code_title(code: str) -> str:
    return ROLES[code].title.lower()


def _test(record: Record, encounter: str, day: date, code: str, name: str, lines: list[str]) -> Iterator[Resource]:
    tag = {"system": EXAMINATION_TEST, "code": code}
    if code in ("cbc", "urinalysis"):
        resources = list(lab_report(record, encounter, day, code, tag=tag))
        yield from resources
        lines.append(f"{name}: {resources[-1]['conclusion']}.")
        return
    coded, results = TEST_RESULTS.get(code, (None, ("Без особенностей",)))
    result = results[0] if record.rng.random() < 0.85 else record.rng.choice(results)
    coding = [tag] if coded is None else [{"system": LOINC, "code": coded[0], "display": coded[1]}, tag]
    yield record.observation(encounter, at(day, record.minute()), record.doctor, EXAM,
                             {"coding": coding, "text": name}, ("valueString", result))
    lines.append(f"{name}: {result}.")


def _groups(record: Record, encounter: str, day: date, minute: int) -> Iterator[Resource]:
    when = at(day, minute + 30)
    for what, value, text in (("health-group", record.health_group, f"{record.health_group} группа здоровья"),
                              ("pe-group", record.pe_group, texts.PE_GROUP_TEXT[record.pe_group])):
        label = "Группа здоровья" if what == "health-group" else "Медицинская группа для занятий физкультурой"
        yield record.observation(encounter, when, record.doctor, EXAM, medcard_concept("observation", what, label),
                                 ("valueCodeableConcept", medcard_concept(what, value, text)))


def _epicrisis(record: Record, encounter: str, day: date, minute: int, months: int) -> Resource:
    lines = [f"Возраст: {age_text(months)}.", record.growth.assessment(record.age_days(day)) + ".",
             f"Острых заболеваний за период наблюдения: {record.illness_count}.",
             f"Группа здоровья: {record.health_group}.",
             f"Нервно-психическое развитие: {texts.MILESTONES.get(months, 'соответствует возрасту')}."]
    record.illness_count = 0
    return record.document(encounter, day, minute + 5, record.doctor, f"Этапный эпикриз: {age_text(months)}",
                           SUMMARY_NOTE, lines)


WEIGHT_CODE = {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}], "text": "Масса тела"}
