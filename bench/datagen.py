"""Deterministic synthetic FHIR R4 data for benchmarks: NDJSON files, one per resource type.

    python bench/datagen.py --out DIR --children N --demographic M --seed S [--years 15] [--check [EVERY]]

Writes ``DIR/<Type>.ndjson`` for every type of LOAD_ORDER, one resource a line:

- a handful of Moscow children's polyclinics (Organization) and their staff (Practitioner);
- N children with a whole record from birth, of ages spread evenly up to ``--years`` (the oldest is
  that old): well-child visits with growth and vital signs, the national vaccination calendar, acute
  illnesses with ICD-10 diagnoses, prescriptions and follow-ups, blood and urine tests, referrals to
  specialists, chronic conditions with dispensary visits, allergies and visit documents; about 100
  resources per year of life;
- M more children with only a Patient resource, 0-17 years old on TODAY, for search over millions.

Every reference is relative (``Patient/<id>``) and names a resource in the output, and loading the
files in LOAD_ORDER meets each reference after its target. Resources are written as they are made,
so memory stays flat whatever N and M; the same arguments give the same bytes. ``--check`` checks
that every reference names a resource written before it and validates resources against the R4
definitions (all of them, or every EVERY-th of each type), stopping with status 1 at the first problem.

Yielded resources share constant parts (codings, categories): copy one before changing it.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import itertools
import math
import operator
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import orjson

Resource = dict[str, Any]

TODAY = date(2026, 11, 25)
MSK = "+03:00"  # Moscow keeps UTC+3 all year (no DST since 2014), so clinic-local times carry a fixed offset
LOAD_ORDER = (
    "Organization", "Practitioner", "Patient", "Encounter", "Condition", "Observation", "DiagnosticReport",
    "MedicationRequest", "ServiceRequest", "Immunization", "AllergyIntolerance", "DocumentReference",
)
SNILS = "urn:oid:1.2.643.2.69.1.1.1.6.223"
ENP = "urn:oid:1.2.643.2.69.1.1.1.6.228"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
_NAMESPACE = uuid.UUID("6f1c0f4e-6d2b-5a7e-9c1d-3b8a4e2f7d10")  # fixed, so ids depend on the seed only

# ---------------------------------------------------------------------------------------------------
# People: names in their male and female forms


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_SURNAMES = _words("""
Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков Алексеев Лебедев
Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин Захаров Зайцев Соловьёв Борисов
Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин
Максимов Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров
Давыдов Беляев Герасимов Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов
Мельников Денисов Гаврилов Тихонов Казаков Афанасьев Данилов Савельев Тимофеев Фомин Чернов Абрамов Мартынов
Ефимов Федотов Щербаков Назаров Калинин Исаев Чернышёв Быков Маслов Родионов Коновалов Лазарев Воронин Климов
Филатов Пономарёв Голубев Кудрявцев Прохоров Наумов Потапов Журавлёв Овчинников Трофимов Леонов Соболев Ермаков
Колесников Гончаров Емельянов Никифоров Грачёв Котов Гришин Ефремов Архипов Громов Кириллов Малышев Панов
Моисеев Румянцев Акимов Кондратьев Бирюков Горбунов Анисимов Ерёмин Тихомиров Галкин Лукьянов Михеев Скворцов
Юдин Белоусов Нестеров Симонов Прокофьев Харитонов Князев Цветков Левин Митрофанов Воронов Аксёнов Софронов
Мальцев Логинов Горшков Савин Краснов Майоров Демидов Елисеев Рыбаков Сафонов Плотников Дёмин Хохлов Фадеев
Молчанов Игнатов Литвинов Ершов Ушаков Дементьев Рябов Мухин Калашников Леонтьев Лобанов Кузин Корнилов
Евдокимов Бородин Платонов Некрасов Балашов Бобров Жданов Блинов Игнатьев Коротков Муравьёв Крюков Беляков
Богомолов Дроздов Лавров Зуев Петухов Ларин Никулин Серов Терентьев Зотов Устинов Фокин Самойлов Константинов
Сахаров Шишкин Самсонов Черкасов Чистяков Носов Спиридонов Карасёв Авдеев Воронцов Зверев Владимиров Селезнёв
Нечаев Седов Фирсов Андрианов Панин Головин Терехов Ульянов Шестаков Агеев Никонов Селиванов Баженов Гордеев
Кожевников Пахомов Зимин Костин Широков Филимонов Ларионов Овсянников Сазонов Суворов Нефёдов Любимов Львов
Горбачёв Копылов Лукин Токарев Кулешов Шилов Большаков Панкратов Родин Шаповалов Бочаров Маркин Горелов
Агафонов Березин Ермолаев Зубков Куприянов Трифонов Масленников Круглов Третьяков Колосов Рожков Артамонов
Шмелёв Лаптев Лапшин Федосеев Зиновьев Зорин Уткин Столяров Зубов Ткачёв Дорофеев Антипов Завьялов Свиридов
Золотарёв Кулаков Мещеряков Макеев Дьяконов Гуляев Бондарев Поздняков Панфилов Кочетков Суханов Рыжов Старостин
Калмыков Колесов Золотов Кравцов Субботин Шубин Щукин Лосев Винокуров Лапин Парфёнов Исаков Голованов Коровин
Розанов Артёмов Козырев Русаков Алёшин Булгаков Кошелев Сычёв Синицын Блохин Евсеев Мишин Пестов Стрельцов
Гурьев Рыбкин Зыков Мясников Пирогов Калугин Шаров Дьячков Лыков Чижов Сомов Ястребов Колобов Кабанов Горохов
Соломин Белкин Ведерников Вавилов Гладков Дубов Дубровин Жильцов Игумнов Карцев Кирсанов Клюев Корольков
Котельников Крутов Ломакин Лихачёв Мамонтов Мартьянов Мезенцев Новосёлов Обухов Окунев Орехов Осокин Пантелеев
Пименов Пушкарёв Разумов Ремизов Сапожников Сальников Селин Смолин Стариков Тетерин Толмачёв Трошин Уваров
Хромов Цыганов Чеботарёв Чекалин Шапошников Шатров Шишов Щеглов Юрьев Яшин Ярцев Астахов Батурин Беспалов
Бессонов Бурцев Вдовин Веселов Волошин Полянский Вишневский Покровский Никольский Вознесенский Успенский
Преображенский Троицкий Рождественский Богословский Смоленский Яблонский Жуковский Данилевский Островский
Петровский Ковальский Каменский Соколовский Хмелевский Толстой Трубецкой Донской Шевченко Коваленко Бондаренко
Кравченко Ткаченко Карпенко Лысенко Савченко Руденко Марченко Тимошенко Гордиенко Ефименко Громыко Черных Белых
Седых Долгих Шевчук Ковальчук Мельничук Гусейнов Алиев Мамедов Ким Цой Пак Петросян Саакян Григорян Оганесян
Арутюнян Беридзе Сафин Галиев Хабибуллин Гарипов Зарипов Файзуллин Нуриев Шарипов Валиев Ахметов Исмаилов
Юсупов Рахимов Абдуллаев Каримов Гаджиев Магомедов Сулейманов
""")
_UNCHANGED = frozenset({"Ким", "Цой", "Пак"})  # Korean surnames do not decline by gender

BOYS = _words("""
Александр Максим Артём Михаил Иван Дмитрий Даниил Кирилл Андрей Егор Никита Илья Алексей Матвей Тимофей Роман
Владимир Ярослав Фёдор Георгий Константин Лев Марк Арсений Степан Владислав Николай Глеб Павел Тимур Денис
Богдан Сергей Всеволод Святослав Евгений Платон Семён Мирон Захар Гордей Вадим Олег Антон Елисей Савелий Демид
Давид Ростислав Вячеслав Григорий Леонид Руслан Артур Эрик Адам Макар Тихон Василий Эмир
""")
GIRLS = _words("""
Анна София Мария Алиса Виктория Анастасия Полина Елизавета Дарья Варвара Екатерина Александра Ксения Вероника
Арина Василиса Милана Ева Кира Ульяна Валерия Алёна Татьяна Софья Таисия Маргарита Есения Злата Агата Вера
Надежда Ольга Елена Юлия Ирина Марина Алина Диана Кристина Мирослава Стефания Амелия Яна Майя Эмилия Лилия
Евгения Зоя Милена Василина
""")
WOMEN = _words("""
Елена Ольга Наталья Татьяна Ирина Светлана Анна Марина Юлия Екатерина Мария Анастасия Евгения Ксения Дарья
Виктория Александра Надежда Людмила Галина Вера Оксана Алла Лариса Жанна Инна Валентина Нина Любовь Кристина
Алёна Яна Полина Дина
""")
MEN = _words("""
Александр Сергей Андрей Дмитрий Алексей Михаил Владимир Евгений Игорь Олег Николай Павел Виктор Юрий Роман
Максим Денис Иван Артём Антон Вадим Константин Илья Кирилл Никита Фёдор Григорий Пётр Анатолий Валерий
""")
_PATRONYMICS = _words("""
Александрович Сергеевич Андреевич Дмитриевич Алексеевич Михайлович Владимирович Евгеньевич Игоревич Олегович
Николаевич Павлович Викторович Юрьевич Романович Максимович Денисович Иванович Артёмович Антонович Вадимович
Константинович Ильич Кириллович Никитич Фёдорович Григорьевич Петрович Анатольевич Валерьевич Станиславович
Тимурович Русланович Владиславович Георгиевич Борисович Вячеславович Геннадьевич Леонидович Васильевич
Степанович Яковлевич Аркадьевич Эдуардович Артурович Глебович Тимофеевич Матвеевич Эльдарович Рустамович
""")
_IRREGULAR_PATRONYMICS = {"Ильич": "Ильинична", "Никитич": "Никитична"}


def female_surname(male: str) -> str:
    """The female form of a Russian surname (Иванов -> Иванова, Троицкий -> Троицкая, Черных -> Черных)."""
    if male in _UNCHANGED:
        return male
    if male.endswith(("ий", "ой")):
        return male[:-2] + "ая"
    if male.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return male + "а"
    return male  # -ко, -ых, -ук, -ян, -дзе: the same for both


def female_patronymic(male: str) -> str:
    """Сергеевич -> Сергеевна; Ильич -> Ильинична."""
    return _IRREGULAR_PATRONYMICS.get(male, male[:-2] + "на")


SURNAMES = tuple((s, female_surname(s)) for s in dict.fromkeys(_SURNAMES))
PATRONYMICS = tuple((p, female_patronymic(p)) for p in _PATRONYMICS)

# ---------------------------------------------------------------------------------------------------
# Identifiers (domain.md §4), implemented here so the generator stands alone

SNILS_LOW = 1_001_999  # check digits are defined only above 001-001-998


def snils_check(body: str) -> str:
    """The two check digits of a nine-digit SNILS body: weights 9..1, mod 101, 100 and 101 give 00."""
    total = sum(map(operator.mul, map(int, body), range(9, 0, -1)))
    if total > 101:
        total %= 101
    return "00" if total >= 100 else f"{total:02d}"


def luhn_check(body: str) -> str:
    """The Luhn check digit of a digit string (the ENP's 16th digit, HL7 v2 Mod10)."""
    backwards = body[::-1]  # the body's last digit sits next to the check digit, so it is the first doubled
    total = sum(map(_LUHN_DOUBLED.__getitem__, backwards[0::2])) + sum(map(int, backwards[1::2]))
    return str(-total % 10)


_LUHN_DOUBLED = {str(d): d * 2 - 9 if d > 4 else d * 2 for d in range(10)}


class _Permutation:
    """A seeded affine bijection of 0..size-1: numbers drawn by index are random-looking and never repeat."""

    def __init__(self, rng: random.Random, size: int) -> None:
        factor = rng.randrange(size // 3, size - 1) | 1
        while math.gcd(factor, size) != 1:
            factor += 2
        self.size, self.factor, self.offset = size, factor, rng.randrange(size)

    def __call__(self, index: int) -> int:
        return (self.factor * index + self.offset) % self.size


class Identifiers:
    """SNILS and ENP numbers with valid check digits, unique per person index."""

    STAFF = 500_000_000  # practitioners draw from indexes far above any patient's

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}/identifiers")
        self._snils = _Permutation(rng, 999_999_999 - SNILS_LOW + 1)
        self._enp = _Permutation(rng, 10**13)

    def snils(self, index: int) -> str:
        body = f"{SNILS_LOW + self._snils(index):09d}"
        return body + snils_check(body)

    def enp(self, index: int) -> str:
        body = f"77{self._enp(index):013d}"
        return body + luhn_check(body)


def id_maker(key: str) -> Callable[[], str]:
    """Ids shaped like UUIDs: 24 characters of uuid5(key), then a 12-digit hex counter from 1."""
    prefix = str(uuid.uuid5(_NAMESPACE, key))[:24]
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):012x}"


# ---------------------------------------------------------------------------------------------------
# Small helpers


def _at(day: date, minute: int) -> str:
    """A Moscow dateTime (valid as an instant too) at a minute of the day."""
    return f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00{MSK}"


def _plural(n: int, one: str, few: str, many: str) -> str:
    tail, tail100 = n % 10, n % 100
    if tail == 1 and tail100 != 11:
        return one
    if 2 <= tail <= 4 and not 12 <= tail100 <= 14:
        return few
    return many


def _days(n: int) -> str:
    return f"{n} {_plural(n, 'день', 'дня', 'дней')}"


def _age_text(months: int) -> str:
    """Age as Russian doctors write it: '3 месяца', '1 год 6 месяцев', '7 лет'."""
    years, rest = divmod(months, 12)
    month_part = f"{rest} {_plural(rest, 'месяц', 'месяца', 'месяцев')}"
    if years == 0:
        return month_part
    year_part = f"{years} {_plural(years, 'год', 'года', 'лет')}"
    return f"{year_part} {month_part}" if rest and years < 3 else year_part


def _ru(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _concept(system: str, code: str, display: str, text: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": text}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": TERMINOLOGY + system, "code": code}]}


def _interp(xs: tuple[float, ...], ys: tuple[float, ...], x: float) -> float:
    i = bisect.bisect_right(xs, x)
    if i == 0:
        return ys[0]
    if i == len(xs):
        return ys[-1]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _phone(rng: random.Random) -> str:
    """A Russian mobile number (+7 9XX): one random draw, as millions of patients need one each."""
    n = f"{int(rng.random() * 1_000_000_000):09d}"
    return f"+7 9{n[:2]} {n[2:5]}-{n[5:7]}-{n[7:]}"


# ---------------------------------------------------------------------------------------------------
# Clinics and staff


class Role(NamedTuple):
    title: str  # as on a badge
    genitive: str  # "консультация врача-невролога"
    service: str  # the encounter's service type
    per_clinic: int


ROLES = {
    "pediatrician": Role("Врач-педиатр участковый", "врача-педиатра участкового", "Педиатрия", 6),
    "neurologist": Role("Врач-невролог", "врача-невролога", "Неврология", 1),
    "ophthalmologist": Role("Врач-офтальмолог", "врача-офтальмолога", "Офтальмология", 1),
    "ent": Role("Врач-оториноларинголог", "врача-оториноларинголога", "Оториноларингология", 1),
    "surgeon": Role("Врач — детский хирург", "врача — детского хирурга", "Детская хирургия", 1),
    "orthopedist": Role("Врач — травматолог-ортопед", "врача — травматолога-ортопеда", "Травматология и ортопедия", 1),
    "dentist": Role("Врач — стоматолог детский", "врача — стоматолога детского", "Стоматология детская", 1),
    "endocrinologist": Role("Врач — детский эндокринолог", "врача — детского эндокринолога",
                            "Детская эндокринология", 1),
    "allergist": Role("Врач — аллерголог-иммунолог", "врача — аллерголога-иммунолога", "Аллергология и иммунология", 1),
    "urologist": Role("Врач — детский уролог-андролог", "врача — детского уролога-андролога",
                      "Детская урология-андрология", 1),
    "gynecologist": Role("Врач — акушер-гинеколог", "врача — акушера-гинеколога", "Акушерство и гинекология", 1),
    "psychiatrist": Role("Врач-психиатр детский", "врача-психиатра детского", "Психиатрия", 1),
    "nurse": Role("Медицинская сестра кабинета иммунопрофилактики", "медицинской сестры", "Иммунопрофилактика", 2),
    "lab": Role("Врач клинической лабораторной диагностики", "врача КЛД", "Клиническая лабораторная диагностика", 1),
}

# (number, district, postal code, streets): the polyclinics and the streets they serve
CLINICS = (
    (12, "Хорошёво-Мнёвники", "123154", ("ул. Маршала Тухачевского", "ул. Народного Ополчения",
                                         "ул. Генерала Глаголева", "ул. Берзарина", "Хорошёвское ш.")),
    (39, "Марьино", "109451", ("Люблинская ул.", "ул. Перерва", "Братиславская ул.", "Новочеркасский б-р",
                               "ул. Маршала Голованова")),
    (118, "Солнцево", "119620", ("ул. Богданова", "Солнцевский пр-т", "ул. Щорса", "Боровское ш.", "ул. Авиаторов")),
    (125, "Южное Бутово", "117628", ("ул. Кадырова", "б-р Адмирала Ушакова", "ул. Поляны", "Южнобутовская ул.",
                                     "Бартеневская ул.")),
    (133, "Отрадное", "127566", ("Алтуфьевское ш.", "ул. Декабристов", "ул. Хачатуряна", "Сигнальный пр.",
                                 "ул. Римского-Корсакова")),
    (143, "Вешняки", "111402", ("Вешняковская ул.", "Косинская ул.", "Кетчерская ул.", "ул. Молостовых",
                                "Федеративный пр-т")),
    (48, "Северное Медведково", "127282", ("Полярная ул.", "Студёный пр.", "ул. Грекова", "ул. Молодцова",
                                           "Заревый пр.")),
    (86, "Митино", "125464", ("Пятницкое ш.", "Дубравная ул.", "Митинская ул.", "ул. Барышиха", "Ангелов пер.")),
)


@dataclass(frozen=True, slots=True)
class Member:
    """A practitioner as a chart uses them: the reference, the name for documents, the role."""

    ref: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Clinic:
    """A polyclinic: its Organization, the territory it serves and its staff by role."""

    ref: str
    district: str
    postal_code: str
    streets: tuple[str, ...]
    staff: dict[str, tuple[Member, ...]] = field(default_factory=dict)

    def pick(self, rng: random.Random, role: str) -> Member:
        members = self.staff[role]
        return members[int(rng.random() * len(members))]


def _address(rng: random.Random, postal_code: str, district: str, street: str, use: str) -> dict[str, Any]:
    line = f"{street}, д. {int(rng.random() * 60) + 1}"
    if rng.random() < 0.3:
        line += f", корп. {int(rng.random() * 4) + 1}"
    if use == "home":
        line += f", кв. {int(rng.random() * 420) + 1}"
    return {"use": use, "type": "physical", "text": f"{postal_code}, г. Москва, {line}", "line": [line],
            "city": "Москва", "district": district, "postalCode": postal_code, "country": "RU"}


def _organization(rng: random.Random, oid: str, number: int, district: str, postal: str, street: str) -> Resource:
    return {
        "resourceType": "Organization", "id": oid, "active": True,
        "type": [_concept(TERMINOLOGY + "organization-type", "prov", "Healthcare Provider",
                          "Медицинская организация")],
        "name": f"ГБУЗ «Детская городская поликлиника № {number} ДЗМ»",
        "alias": [f"ДГП № {number}", f"Государственное бюджетное учреждение здравоохранения города Москвы «Детская "
                  f"городская поликлиника № {number} Департамента здравоохранения города Москвы»"],
        "telecom": [{"system": "phone", "value": f"+7 495 {rng.randint(100, 999)}-{rng.randint(10, 99)}-"
                                                 f"{rng.randint(10, 99)}", "use": "work"}],
        "address": [_address(rng, postal, district, street, "work")],
    }


def _practitioner(rng: random.Random, pid: str, snils: str, role: str) -> tuple[Resource, str]:
    female = rng.random() < (0.55 if role in ("surgeon", "orthopedist", "urologist") else 0.85)
    family_m, family_f = rng.choice(SURNAMES)
    family = family_f if female else family_m
    given = rng.choice(WOMEN if female else MEN)
    patronymic = rng.choice(PATRONYMICS)[1 if female else 0]
    resource = {
        "resourceType": "Practitioner", "id": pid,
        "identifier": [{"system": SNILS, "value": snils}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given, patronymic],
                  "text": f"{family} {given} {patronymic}"}],
        "telecom": [{"system": "phone", "value": _phone(rng), "use": "work"}],
        "gender": "female" if female else "male",
        "qualification": [{"code": {"text": ROLES[role].title}}],
    }
    return resource, f"{family} {given[0]}. {patronymic[0]}."


def clinics_and_staff(seed: int, ids: Identifiers) -> tuple[list[Clinic], list[Resource]]:
    """The polyclinics and their practitioners, with their resources (Organizations first)."""
    rng = random.Random(f"{seed}/clinics")
    new_org, new_practitioner = id_maker(f"{seed}/Organization"), id_maker(f"{seed}/Practitioner")
    clinics: list[Clinic] = []
    organizations: list[Resource] = []
    practitioners: list[Resource] = []
    for number, district, postal, streets in CLINICS:
        org = _organization(rng, new_org(), number, district, postal, streets[0])
        organizations.append(org)
        clinic = Clinic(f"Organization/{org['id']}", district, postal, streets)
        for role, spec in ROLES.items():
            members = []
            for _ in range(spec.per_clinic):
                resource, name = _practitioner(rng, new_practitioner(), ids.snils(Identifiers.STAFF +
                                                                                   len(practitioners)), role)
                practitioners.append(resource)
                members.append(Member(f"Practitioner/{resource['id']}", name, role))
            clinic.staff[role] = tuple(members)
        clinics.append(clinic)
    return clinics, organizations + practitioners


def patient_resource(
    rng: random.Random, pid: str, index: int, birth: date, female: bool, clinic: Clinic, ids: Identifiers,
) -> Resource:
    """A Moscow child attached to a polyclinic, with SNILS, ENP, address and the mother as contact."""
    family_m, family_f = SURNAMES[int(rng.random() * len(SURNAMES))]
    patronymic_m, patronymic_f = PATRONYMICS[int(rng.random() * len(PATRONYMICS))]
    given = GIRLS[int(rng.random() * len(GIRLS))] if female else BOYS[int(rng.random() * len(BOYS))]
    mother = [WOMEN[int(rng.random() * len(WOMEN))], PATRONYMICS[int(rng.random() * len(PATRONYMICS))][1]]
    phone = _phone(rng)
    street = clinic.streets[int(rng.random() * len(clinic.streets))]
    return {
        "resourceType": "Patient", "id": pid,
        "identifier": [{"system": SNILS, "value": ids.snils(index)}, {"system": ENP, "value": ids.enp(index)}],
        "active": True,
        "name": [{"use": "official", "family": family_f if female else family_m,
                  "given": [given, patronymic_f if female else patronymic_m]}],
        "gender": "female" if female else "male",
        "birthDate": birth.isoformat(),
        "address": [_address(rng, clinic.postal_code, clinic.district, street, "home")],
        "contact": [{"relationship": [_concept(TERMINOLOGY + "v2-0131", "N", "Next-of-Kin", "Мать")],
                     "name": {"family": family_f, "given": mother},
                     "telecom": [{"system": "phone", "value": phone, "use": "mobile"}]}],
        "managingOrganization": {"reference": clinic.ref},
        "generalPractitioner": [{"reference": clinic.pick(rng, "pediatrician").ref}],
    }


# ---------------------------------------------------------------------------------------------------
# Clinical reference data: codes, growth, vaccines, illnesses, drugs, tests, specialists' findings


def _loinc(code: str, display: str, text: str) -> dict[str, Any]:
    return _concept(LOINC, code, display, text)


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": TERMINOLOGY + "observation-category", "code": code, "display": display}]}]


VITAL, LABORATORY, EXAM = _category("vital-signs", "Vital Signs"), _category("laboratory", "Laboratory"), \
    _category("exam", "Exam")
WEIGHT = _loinc("29463-7", "Body weight", "Масса тела")
HEIGHT = _loinc("8302-2", "Body height", "Рост")
LENGTH = {"coding": [{"system": LOINC, "code": "8302-2", "display": "Body height"},
                     {"system": LOINC, "code": "8306-3", "display": "Body height --lying"}], "text": "Длина тела"}
HEAD = _loinc("9843-4", "Head Occipital-frontal circumference", "Окружность головы")
BMI = _loinc("39156-5", "Body mass index (BMI) [Ratio]", "Индекс массы тела")
HEART_RATE = _loinc("8867-4", "Heart rate", "Частота сердечных сокращений")
TEMPERATURE = _loinc("8310-5", "Body temperature", "Температура тела")
RESPIRATORY_RATE = _loinc("9279-1", "Respiratory rate", "Частота дыхательных движений")
PEAK_FLOW = _loinc("19935-6", "Maximum expiratory gas flow Respiratory system airway by Peak flow meter",
                   "Пиковая скорость выдоха")
HBA1C = _loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "Гликированный гемоглобин (HbA1c)")
GLUCOSE = _loinc("15074-8", "Glucose [Moles/volume] in Blood", "Глюкоза крови")
CBC_PANEL = _loinc("58410-2", "CBC panel - Blood by Automated count", "Общий (клинический) анализ крови")
URINE_PANEL = _loinc("24356-8", "Urinalysis complete panel - Urine", "Общий анализ мочи")
HEMATOLOGY = [_concept(TERMINOLOGY + "v2-0074", "HM", "Hematology", "Гематология")]
URINALYSIS = [_concept(TERMINOLOGY + "v2-0074", "UR", "Urinalysis", "Исследование мочи")]
PROGRESS_NOTE = _loinc("11506-3", "Progress note", "Протокол приёма")
CONSULT_NOTE = _loinc("11488-4", "Consult note", "Протокол консультации")
SUMMARY_NOTE = _loinc("34133-9", "Summary of episode note", "Эпикриз")

AMBULATORY = {"system": TERMINOLOGY + "v3-ActCode", "code": "AMB", "display": "ambulatory"}
HOME = {"system": TERMINOLOGY + "v3-ActCode", "code": "HH", "display": "home health"}
WELL_VISIT = _concept(SNOMED, "410620009", "Well child visit", "Профилактический медицинский осмотр")
PATRONAGE = _concept(SNOMED, "439708006", "Home visit", "Патронаж новорождённого")
HOME_CALL = _concept(SNOMED, "439708006", "Home visit", "Вызов врача на дом")
SICK_VISIT = _concept(SNOMED, "185347001", "Encounter for problem", "Приём по заболеванию")
FOLLOW_UP = _concept(SNOMED, "390906007", "Follow-up encounter", "Повторный приём")
DISPENSARY = _concept(SNOMED, "390906007", "Follow-up encounter", "Диспансерное наблюдение")
CHECK_UP = _concept(SNOMED, "185349003", "Encounter for check up", "Осмотр для оформления медицинской справки")
CONSULTATION = _concept(SNOMED, "11429006", "Consultation", "Консультация специалиста")
VACCINATION = _concept(SNOMED, "33879002", "Administration of vaccine to produce active immunity", "Вакцинация")
PRIMARY_PERFORMER = [_concept(TERMINOLOGY + "v3-ParticipationType", "PPRF", "primary performer", "Врач")]
ADMINISTERING = _concept(TERMINOLOGY + "v2-0443", "AP", "Administering Provider", "Выполнил прививку")
REFERRAL = [_concept(SNOMED, "3457005", "Patient referral", "Направление на консультацию")]
ACTIVE, RESOLVED = _status("condition-clinical", "active"), _status("condition-clinical", "resolved")
CONFIRMED = _status("condition-ver-status", "confirmed")
ENCOUNTER_DIAGNOSIS = _concept(TERMINOLOGY + "condition-category", "encounter-diagnosis", "Encounter Diagnosis",
                               "Диагноз обращения")
PROBLEM_LIST = _concept(TERMINOLOGY + "condition-category", "problem-list-item", "Problem List Item",
                        "Хроническое заболевание")
SEVERITY = {"mild": _concept(SNOMED, "255604002", "Mild", "Лёгкое течение"),
            "moderate": _concept(SNOMED, "6736007", "Moderate", "Среднетяжёлое течение")}
INTERPRETATION = {flag: [_concept(TERMINOLOGY + "v3-ObservationInterpretation", flag, display, text)]
                  for flag, display, text in (("L", "Low", "Ниже нормы"), ("N", "Normal", "Норма"),
                                              ("H", "High", "Выше нормы"))}
COVID_FROM = date(2020, 3, 15)

# WHO medians by age in months: Child Growth Standards to 5 years, Growth Reference 2007 after
# (weights past 10 years, where WHO gives none, follow the usual national charts roughly)
GROWTH_MONTHS = (0, 1, 2, 3, 4, 6, 9, 12, 18, 24, 36, 48, 60, 72, 84, 96, 108, 120, 132, 144, 156, 168, 180, 192,
                 204, 216)
HEIGHT_MEDIAN = {
    False: (49.9, 54.7, 58.4, 61.4, 63.9, 67.6, 72.0, 75.7, 82.3, 87.8, 96.1, 103.3, 110.0, 116.0, 121.7, 127.3,
            132.6, 137.8, 143.1, 149.1, 156.0, 163.2, 169.0, 172.9, 175.2, 176.1),
    True: (49.1, 53.7, 57.1, 59.8, 62.1, 65.7, 70.1, 74.0, 80.7, 86.4, 95.1, 102.7, 109.4, 115.1, 120.8, 126.6,
           132.5, 138.6, 144.8, 151.2, 156.4, 159.8, 161.7, 162.5, 162.9, 163.1),
}
WEIGHT_MEDIAN = {
    False: (3.3, 4.5, 5.6, 6.4, 7.0, 7.9, 8.9, 9.6, 10.9, 12.2, 14.3, 16.3, 18.3, 20.5, 22.9, 25.4, 28.1, 31.2, 35.0,
            39.5, 45.0, 50.8, 56.0, 60.8, 64.4, 67.0),
    True: (3.2, 4.2, 5.1, 5.8, 6.4, 7.3, 8.2, 8.9, 10.2, 11.5, 13.9, 16.1, 18.2, 20.2, 22.4, 25.0, 28.2, 31.9, 36.0,
           40.5, 44.9, 48.5, 51.0, 52.8, 54.0, 55.0),
}
HEAD_MEDIAN = {False: (34.5, 37.3, 39.1, 40.5, 41.6, 43.3, 45.0, 46.1, 47.4, 48.3, 49.5),
               True: (33.9, 36.5, 38.3, 39.5, 40.6, 42.2, 43.8, 45.0, 46.2, 47.2, 48.5)}
VITAL_AGES = (0.0, 1.0, 2.0, 4.0, 6.0, 10.0, 14.0, 17.0)
HEART_RATES = (140.0, 125.0, 115.0, 105.0, 95.0, 85.0, 78.0, 72.0)
BREATHING_RATES = (45.0, 32.0, 28.0, 25.0, 22.0, 19.0, 17.0, 16.0)


class Vaccine(NamedTuple):
    products: tuple[str, ...]
    diseases: tuple[str, ...]
    route: str  # v3-RouteOfAdministration
    dose_ml: float


VACCINES = {
    "hepb": Vaccine(("Регевак В (вакцина против гепатита B рекомбинантная)",
                     "Энджерикс В (вакцина против гепатита B рекомбинантная)"), ("Вирусный гепатит B",), "IM", 0.5),
    "bcg": Vaccine(("БЦЖ-М (вакцина туберкулёзная для щадящей первичной иммунизации)",), ("Туберкулёз",), "IDINJ",
                   0.05),
    "pcv": Vaccine(("Превенар 13 (вакцина пневмококковая полисахаридная конъюгированная адсорбированная)",
                    "Синфлорикс (вакцина пневмококковая конъюгированная адсорбированная)"),
                   ("Пневмококковая инфекция",), "IM", 0.5),
    "dtp": Vaccine(("АКДС (вакцина коклюшно-дифтерийно-столбнячная адсорбированная)",),
                   ("Дифтерия", "Коклюш", "Столбняк"), "IM", 0.5),
    "ipv": Vaccine(("Полимилекс (вакцина для профилактики полиомиелита инактивированная)",
                    "Имовакс Полио (вакцина для профилактики полиомиелита инактивированная)"), ("Полиомиелит",),
                   "IM", 0.5),
    "opv": Vaccine(("бОПВ (вакцина полиомиелитная пероральная бивалентная живая)",), ("Полиомиелит",), "PO", 0.2),
    "hib": Vaccine(("Хиберикс (вакцина для профилактики гемофильной инфекции типа b конъюгированная)",
                    "Акт-ХИБ (вакцина для профилактики гемофильной инфекции типа b конъюгированная)"),
                   ("Гемофильная инфекция типа b",), "IM", 0.5),
    "penta": Vaccine(("Пентаксим (вакцина для профилактики дифтерии, столбняка, коклюша, полиомиелита и гемофильной "
                      "инфекции)",), ("Дифтерия", "Коклюш", "Столбняк", "Полиомиелит", "Гемофильная инфекция типа b"),
                     "IM", 0.5),
    "mmr": Vaccine(("Вактривир (вакцина против кори, паротита и краснухи живая)",
                    "Приорикс (вакцина против кори, краснухи и паротита живая)"),
                   ("Корь", "Краснуха", "Эпидемический паротит"), "SC", 0.5),
    "adsm": Vaccine(("АДС-М (анатоксин дифтерийно-столбнячный с уменьшенным содержанием антигенов)",),
                    ("Дифтерия", "Столбняк"), "IM", 0.5),
    "flu": Vaccine(("Ультрикс Квадри (вакцина гриппозная четырёхвалентная инактивированная расщеплённая)",
                    "Совигрипп (вакцина гриппозная трёхвалентная инактивированная субъединичная адъювантная)",
                    "Гриппол плюс (вакцина гриппозная трёхвалентная инактивированная субъединичная адъювантная)"),
                   ("Грипп",), "IM", 0.5),
}
ROUTES = {"IM": ("Injection, intramuscular", "Внутримышечно"), "IDINJ": ("Injection, intradermal", "Внутрикожно"),
          "PO": ("Swallow, oral", "Перорально"), "SC": ("Injection, subcutaneous", "Подкожно")}
SITES = {"LT": ("left thigh", "Передненаружная поверхность левого бедра"),
         "RT": ("right thigh", "Передненаружная поверхность правого бедра"),
         "LD": ("left deltoid", "Левое плечо, дельтовидная мышца"),
         "RD": ("right deltoid", "Правое плечо, дельтовидная мышца"),
         "LA": ("left arm", "Наружная поверхность левого плеча")}
# The national calendar (order 1122н, domain.md §1.3): age in days, vaccine, dose number, series.
# UNVERIFIED: check 1122н Annex 1 before reusing it outside benchmarks (risk-group variants left out).
CALENDAR = (
    (0, "hepb", 1, "V1"), (4, "bcg", 1, "V"), (30, "hepb", 2, "V2"), (60, "pcv", 1, "V1"),
    (90, "dtp", 1, "V1"), (90, "ipv", 1, "V1"), (90, "hib", 1, "V1"),
    (135, "dtp", 2, "V2"), (135, "ipv", 2, "V2"), (135, "hib", 2, "V2"), (135, "pcv", 2, "V2"),
    (180, "dtp", 3, "V3"), (180, "ipv", 3, "V3"), (180, "hib", 3, "V3"), (180, "hepb", 3, "V3"),
    (365, "mmr", 1, "V"), (450, "pcv", 3, "RV"),
    (540, "dtp", 4, "RV1"), (540, "ipv", 4, "RV1"), (540, "hib", 4, "RV"), (600, "opv", 5, "RV2"),
    (2192, "mmr", 2, "RV"), (2192, "opv", 6, "RV3"), (2557, "adsm", 5, "RV2"), (2557, "bcg", 2, "RV"),
    (5114, "adsm", 6, "RV3"),
)
REACTIONS = ("Реакций на прививку нет", "Реакций нет", "Местная реакция: гиперемия до 1 см в месте введения",
             "Кратковременное повышение температуры до 37,5 °C в день прививки", "Поствакцинальный период без "
             "особенностей", "Местная реакция: уплотнение до 1,5 см, прошло через 2 дня")
Dose = tuple[str, int, str]


def calendar(combined: bool) -> tuple[tuple[int, tuple[Dose, ...]], ...]:
    """The calendar grouped by age; with ``combined``, DTP, IPV and Hib on one day become one Pentaxim."""
    groups: dict[int, list[Dose]] = {}
    for age, key, number, series in CALENDAR:
        groups.setdefault(age, []).append((key, number, series))
    out = []
    for age, doses in groups.items():
        keys = [dose[0] for dose in doses]
        if combined and all(k in keys for k in ("dtp", "ipv", "hib")):
            dtp = next(dose for dose in doses if dose[0] == "dtp")
            doses = [("penta", dtp[1], dtp[2]), *(d for d in doses if d[0] not in ("dtp", "ipv", "hib"))]
        out.append((age, tuple(doses)))
    return tuple(out)


CALENDARS = {combined: calendar(combined) for combined in (False, True)}


class Illness(NamedTuple):
    code: str
    display: str  # the Russian ICD-10 title
    weight: float  # how common, relative
    ages: tuple[float, float]  # years
    fever: tuple[float, float] | None  # the highest temperature, °C
    kind: str  # "viral", "bacterial" or "other": drives blood counts
    symptoms: tuple[str, ...]  # in the accusative: "жалобы на ..."
    findings: tuple[str, ...]
    drugs: tuple[str, ...]  # keys of DRUGS, or "antipyretic", "nose", "antibiotic"
    test: str = ""  # "cbc" or "ua"
    refer: str = ""  # a role


ILLNESSES = (
    Illness("J06.9", "Острая инфекция верхних дыхательных путей неуточненная", 36, (0.1, 18), (37.3, 39.0), "viral",
            ("насморк", "заложенность носа", "кашель", "першение в горле", "чихание", "слабость",
             "снижение аппетита"),
            ("Зев умеренно гиперемирован", "Носовое дыхание затруднено, слизистое отделяемое",
             "Дыхание везикулярное, хрипов нет", "Задняя стенка глотки зернистая"),
            ("antipyretic", "saline", "nose"), "cbc"),
    Illness("J00", "Острый назофарингит (насморк)", 8, (0, 18), (37.0, 37.8), "viral",
            ("насморк", "заложенность носа", "чихание", "беспокойный сон"),
            ("Носовое дыхание затруднено, обильное слизистое отделяемое", "Зев розовый, чистый"), ("saline", "nose")),
    Illness("J02.9", "Острый фарингит неуточненный", 6, (1, 18), (37.2, 38.5), "viral",
            ("боль в горле", "першение в горле", "сухой кашель"),
            ("Задняя стенка глотки гиперемирована, зернистая", "Миндалины не увеличены, налётов нет"),
            ("antipyretic", "throat")),
    Illness("J03.9", "Острый тонзиллит неуточненный", 5, (2, 18), (38.2, 39.8), "bacterial",
            ("боль в горле при глотании", "слабость", "отказ от еды", "головную боль"),
            ("Миндалины увеличены до II степени, в лакунах гнойный налёт",
             "Подчелюстные лимфоузлы увеличены, болезненны"), ("antipyretic", "antibiotic"), "cbc"),
    Illness("J04.0", "Острый ларингит", 3, (1, 18), (37.2, 38.3), "viral",
            ("осиплость голоса", "сухой кашель", "першение в горле"),
            ("Голос осиплый, дыхание свободное", "Зев гиперемирован"), ("antipyretic", "ambroxol")),
    Illness("J05.0", "Острый обструктивный ларингит [круп]", 2, (0.5, 6), (37.5, 38.8), "viral",
            ("грубый «лающий» кашель", "осиплость голоса", "шумный вдох ночью"),
            ("Инспираторная одышка при беспокойстве", "Голос осиплый"), ("antipyretic", "budesonide_neb")),
    Illness("J20.9", "Острый бронхит неуточненный", 6, (0.5, 18), (37.3, 38.8), "viral",
            ("кашель с мокротой", "сухой кашель", "слабость"),
            ("Дыхание жёсткое, рассеянные сухие хрипы",
             "Дыхание жёсткое, влажные среднепузырчатые хрипы с обеих сторон"),
            ("antipyretic", "ambroxol"), "cbc"),
    Illness("J18.9", "Пневмония неуточненная", 1, (0.5, 18), (38.5, 40.0), "bacterial",
            ("влажный кашель", "одышку", "вялость", "снижение аппетита"),
            ("Ослабление дыхания справа в нижних отделах, там же мелкопузырчатые хрипы",
             "Укорочение перкуторного звука справа"), ("antipyretic", "antibiotic", "ambroxol"), "cbc"),
    Illness("H66.9", "Средний отит неуточненный", 5, (0.5, 8), (37.8, 39.2), "bacterial",
            ("боль в ухе", "беспокойство", "снижение слуха", "насморк"),
            ("Барабанная перепонка гиперемирована, выбухает", "Козелок безболезненный"),
            ("antipyretic", "ear_drops", "antibiotic"), "", "ent"),
    Illness("H10.9", "Конъюнктивит неуточненный", 3, (0, 18), None, "other",
            ("покраснение глаз", "слезотечение", "слизисто-гнойное отделяемое из глаз", "склеивание век по утрам"),
            ("Конъюнктива гиперемирована, отделяемое слизисто-гнойное",), ("eye_drops",)),
    Illness("A09", "Диарея и гастроэнтерит предположительно инфекционного происхождения", 6, (0.5, 18), (37.5, 38.8),
            "viral", ("жидкий стул", "рвоту", "боль в животе", "вялость", "снижение аппетита"),
            ("Живот мягкий, болезненный в околопупочной области, урчание по ходу кишечника",
             "Язык обложен белым налётом", "Признаков обезвоживания нет"), ("ors", "smectite")),
    Illness("A08.0", "Ротавирусный энтерит", 3, (0.5, 5), (37.8, 39.0), "viral",
            ("многократную рвоту", "водянистый стул", "вялость"),
            ("Живот мягкий, урчание по ходу кишечника", "Слизистые суховаты, лёгкое обезвоживание"),
            ("ors", "smectite", "antipyretic")),
    Illness("B01.9", "Ветряная оспа без осложнений", 1.5, (1, 12), (37.5, 38.8), "viral",
            ("сыпь на коже и волосистой части головы", "зуд", "слабость"),
            ("На коже туловища и волосистой части головы полиморфная везикулёзная сыпь", "Слизистые чистые"),
            ("antipyretic", "green", "cetirizine")),
    Illness("B34.9", "Вирусная инфекция неуточненная", 4, (0, 18), (37.5, 39.2), "viral",
            ("слабость", "головную боль", "ломоту в теле", "снижение аппетита"),
            ("Зев умеренно гиперемирован", "Дыхание везикулярное, хрипов нет"), ("antipyretic",), "cbc"),
    Illness("B08.4", "Энтеровирусный везикулярный стоматит с экзантемой", 2, (0.5, 6), (37.5, 39.0), "viral",
            ("высыпания во рту, на ладонях и стопах", "отказ от еды", "слюнотечение"),
            ("Везикулы на слизистой полости рта, папулёзная сыпь на ладонях и стопах",), ("antipyretic",)),
    Illness("J01.9", "Острый синусит неуточненный", 2, (5, 18), (37.3, 38.5), "bacterial",
            ("заложенность носа", "гнойные выделения из носа", "головную боль", "боль в области лба"),
            ("Гнойное отделяемое в носовых ходах", "Болезненность при пальпации в проекции верхнечелюстных пазух"),
            ("nasal_steroid", "antibiotic", "saline"), "", "ent"),
    Illness("J11.1", "Грипп с другими респираторными проявлениями, вирус не идентифицирован", 3, (0.5, 18),
            (38.5, 40.0), "viral", ("озноб", "головную боль", "ломоту в теле", "сухой кашель", "слабость"),
            ("Зев гиперемирован, инъекция сосудов склер", "Дыхание жёсткое, хрипов нет"),
            ("antipyretic", "oseltamivir"), "cbc"),
    Illness("U07.1", "COVID-19, вирус идентифицирован", 2, (0, 18), (37.3, 38.8), "viral",
            ("кашель", "потерю обоняния", "слабость", "головную боль", "боль в горле"),
            ("Зев умеренно гиперемирован", "Сатурация 98 %, дыхание везикулярное"), ("antipyretic", "saline")),
    Illness("N39.0", "Инфекция мочевыводящих путей без установленной локализации", 1.5, (0.5, 18), (37.8, 39.0),
            "bacterial", ("учащённое болезненное мочеиспускание", "боль внизу живота", "беспокойство"),
            ("Живот мягкий, болезненный над лоном", "Симптом поколачивания отрицательный с обеих сторон"),
            ("antipyretic", "antibiotic"), "ua"),
    Illness("S93.4", "Растяжение и перенапряжение связочного аппарата голеностопного сустава", 1.5, (6, 18), None,
            "other", ("боль в голеностопном суставе", "отёк", "ограничение движений"),
            ("Отёк в области наружной лодыжки, пальпация болезненна, движения ограничены",), ("ibuprofen_gel",),
            "", "orthopedist"),
    Illness("L30.9", "Дерматит неуточненный", 2, (0, 18), None, "other", ("сыпь", "зуд", "покраснение кожи"),
            ("Эритематозные пятна на коже щёк и сгибательных поверхностей",), ("emollient", "cetirizine")),
    Illness("K59.0", "Запор", 2, (0, 3), None, "other",
            ("отсутствие стула в течение 2–3 дней", "беспокойство", "вздутие живота"),
            ("Живот мягкий, умеренно вздут",), ("lactulose",)),
    Illness("L22", "Пеленочный дерматит", 2, (0, 2), None, "other",
            ("покраснение кожи в области ягодиц", "беспокойство при смене подгузника"),
            ("Гиперемия кожи в перианальной области и на ягодицах",), ("zinc",)),
    Illness("K00.7", "Синдром прорезывания зубов", 2, (0.4, 2.5), (37.2, 38.0), "other",
            ("беспокойство", "обильное слюнотечение", "плохой сон"),
            ("Дёсны отёчны, гиперемированы в области прорезывающихся зубов",), ("antipyretic",)),
)
JAUNDICE = Illness("P59.9", "Неонатальная желтуха неуточненная", 0, (0, 0.1), None, "other",
                   ("желтушность кожи",), ("Иктеричность кожи и склер, печень +1 см",), ())
ANTIBIOTICS = {"J03.9": "amoxicillin", "H66.9": "amoxicillin", "J18.9": "amoxiclav", "J01.9": "amoxiclav",
               "N39.0": "cefixime"}


class Drug(NamedTuple):
    text: str
    atc: str  # "" where no single ATC code fits
    route: str
    per_kg: float  # mg per kg per dose; 0 for the fixed dose in `fixed`
    max_mg: int
    per_day: int
    days: int
    when: str = ""  # "as needed" condition
    fixed: str = ""
    min_age: float = 0.0


DRUGS = {
    "paracetamol": Drug("Парацетамол, суспензия для приёма внутрь 120 мг/5 мл", "N02BE01", "Внутрь", 15, 500, 4, 3,
                        "при температуре выше 38,5 °C"),
    "ibuprofen": Drug("Ибупрофен, суспензия для приёма внутрь 100 мг/5 мл", "M01AE01", "Внутрь", 10, 400, 3, 3,
                      "при температуре выше 38,5 °C", min_age=0.25),
    "amoxicillin": Drug("Амоксициллин, порошок для приготовления суспензии 250 мг/5 мл", "J01CA04", "Внутрь", 25,
                        1000, 2, 10),
    "amoxiclav": Drug("Амоксициллин + клавулановая кислота, порошок для приготовления суспензии 400 мг + 57 мг/5 мл",
                      "J01CR02", "Внутрь", 22.5, 875, 2, 7),
    "azithromycin": Drug("Азитромицин, порошок для приготовления суспензии 200 мг/5 мл", "J01FA10", "Внутрь", 10, 500,
                         1, 3),
    "cefixime": Drug("Цефиксим, порошок для приготовления суспензии 100 мг/5 мл", "J01DD08", "Внутрь", 8, 400, 1, 7),
    "saline": Drug("Натрия хлорид, спрей назальный 0,9 %", "", "Интраназально", 0, 0, 4, 7,
                   fixed="по 1–2 впрыскивания в каждый носовой ход"),
    "xylometazoline": Drug("Ксилометазолин, спрей назальный 0,05 %", "R01AA07", "Интраназально", 0, 0, 2, 5,
                           fixed="по 1 впрыскиванию в каждый носовой ход", min_age=2),
    "oxymetazoline": Drug("Оксиметазолин, капли назальные 0,01 %", "R01AA05", "Интраназально", 0, 0, 2, 5,
                          fixed="по 1 капле в каждый носовой ход"),
    "throat": Drug("Гексэтидин, спрей для местного применения 0,2 %", "A01AB12", "Местно", 0, 0, 2, 5,
                   fixed="по 1 впрыскиванию на слизистую глотки", min_age=3),
    "ambroxol": Drug("Амброксол, сироп 15 мг/5 мл", "R05CB06", "Внутрь", 0.5, 30, 3, 7),
    "budesonide_neb": Drug("Будесонид, суспензия для ингаляций дозированная 0,5 мг/мл", "R03BA02",
                           "Ингаляционно через небулайзер", 0, 0, 2, 3, fixed="по 0,5 мг (1 мл)"),
    "ear_drops": Drug("Феназон + лидокаин, капли ушные", "S02DA30", "В наружный слуховой проход", 0, 0, 3, 7,
                      fixed="по 3–4 капли"),
    "eye_drops": Drug("Тобрамицин, капли глазные 0,3 %", "S01AA12", "В конъюнктивальный мешок", 0, 0, 4, 7,
                      fixed="по 1 капле в каждый глаз"),
    "ors": Drug("Соли для пероральной регидратации, порошок для приготовления раствора", "A07CA", "Внутрь", 0, 0, 6, 3,
                "после каждого жидкого стула", fixed="по 50–100 мл дробно"),
    "smectite": Drug("Смектит диоктаэдрический, порошок для приготовления суспензии 3 г", "A07BC05", "Внутрь", 0, 0,
                     2, 5, fixed="по 1 пакетику"),
    "cetirizine": Drug("Цетиризин, капли для приёма внутрь 10 мг/мл", "R06AE07", "Внутрь", 0, 0, 1, 7,
                       fixed="по 5 капель", min_age=0.5),
    "green": Drug("Бриллиантовый зелёный, раствор для наружного применения спиртовой 1 %", "", "Наружно", 0, 0, 2, 5,
                  fixed="обрабатывать элементы сыпи"),
    "nasal_steroid": Drug("Мометазон, спрей назальный дозированный 50 мкг/доза", "R01AD09", "Интраназально", 0, 0, 1,
                          14, fixed="по 1 впрыскиванию в каждый носовой ход", min_age=2),
    "oseltamivir": Drug("Осельтамивир, порошок для приготовления суспензии 6 мг/мл", "J05AH02", "Внутрь", 3, 75, 2, 5,
                        min_age=1),
    "ibuprofen_gel": Drug("Ибупрофен, гель для наружного применения 5 %", "M02AA13", "Наружно", 0, 0, 3, 7,
                          fixed="тонким слоем на область сустава"),
    "emollient": Drug("Эмолент, крем для сухой и атопичной кожи", "", "Наружно", 0, 0, 2, 30,
                      fixed="наносить на кожу тела и лица"),
    "zinc": Drug("Цинка оксид, паста для наружного применения 25 %", "D02AB", "Наружно", 0, 0, 4, 7,
                 fixed="на поражённые участки при смене подгузника"),
    "lactulose": Drug("Лактулоза, сироп 667 мг/мл", "A06AD11", "Внутрь", 0, 0, 1, 14, fixed="по 5 мл утром"),
    "vitamin_d": Drug("Колекальциферол, капли для приёма внутрь 15 000 МЕ/мл", "A11CC05", "Внутрь", 0, 0, 1, 365,
                      fixed="по 1 капле (500 МЕ)"),
    "salbutamol": Drug("Сальбутамол, аэрозоль для ингаляций дозированный 100 мкг/доза", "R03AC02", "Ингаляционно", 0,
                       0, 4, 90, "при затруднённом дыхании", fixed="по 1–2 ингаляции"),
    "budesonide": Drug("Будесонид, суспензия для ингаляций дозированная 0,25 мг/мл", "R03BA02",
                       "Ингаляционно через небулайзер", 0, 0, 2, 90, fixed="по 0,25 мг"),
    "insulin_aspart": Drug("Инсулин аспарт, раствор для подкожного введения 100 ЕД/мл", "A10AB05", "Подкожно", 0, 0,
                           3, 90, fixed="перед основными приёмами пищи, 0,5–1 ЕД на 1 ХЕ"),
    "insulin_glargine": Drug("Инсулин гларгин, раствор для подкожного введения 100 ЕД/мл", "A10AE04", "Подкожно", 0,
                             0, 1, 90, fixed="вечером, доза по схеме"),
    "levetiracetam": Drug("Леветирацетам, раствор для приёма внутрь 100 мг/мл", "N03AX14", "Внутрь", 10, 1500, 2, 90),
    "mometasone_cream": Drug("Мометазон, крем для наружного применения 0,1 %", "D07AC13", "Наружно", 0, 0, 1, 7,
                             fixed="тонким слоем на очаги"),
}


class Chronic(NamedTuple):
    code: str
    display: str
    chance: float
    onset: tuple[float, float]  # years
    role: str
    visits: int  # dispensary visits a year
    drugs: tuple[str, ...]
    test: str  # "hba1c", "peak_flow" or ""
    presenting: str
    course: tuple[str, ...]


CHRONIC = (
    Chronic("J45.9", "Астма неуточненная", 0.07, (3, 10), "allergist", 2, ("salbutamol", "budesonide"), "peak_flow",
            "Повторные эпизоды свистящего дыхания и ночного кашля",
            ("Приступов за период наблюдения не было", "Редкие приступы при ОРВИ, купируются сальбутамолом",
             "Одышка при физической нагрузке, контроль над астмой неполный")),
    Chronic("E10.9", "Инсулинзависимый сахарный диабет без осложнений", 0.015, (2, 14), "endocrinologist", 4,
            ("insulin_aspart", "insulin_glargine"), "hba1c", "Жажда, частое мочеиспускание, снижение массы тела",
            ("Гипогликемий не было, самоконтроль гликемии регулярный", "Эпизоды гипогликемии после физической нагрузки",
             "Гликемия нестабильна, скорректирована доза базального инсулина")),
    Chronic("G40.9", "Эпилепсия неуточненная", 0.01, (1, 12), "neurologist", 2, ("levetiracetam",), "",
            "Эпизод судорог с потерей сознания",
            ("Приступов не было, переносимость терапии хорошая", "Ремиссия приступов на фоне терапии",
             "Единичный приступ на фоне лихорадки при ОРВИ")),
    Chronic("M41.1", "Юношеский идиопатический сколиоз", 0.05, (10, 15), "orthopedist", 2, (), "",
            "Асимметрия надплечий, выявленная на профилактическом осмотре",
            ("Угол деформации без отрицательной динамики", "Рекомендовано продолжить ЛФК и плавание",
             "Нарастание деформации, назначена рентгенография позвоночника")),
    Chronic("H52.1", "Миопия", 0.1, (7, 14), "ophthalmologist", 2, (), "", "Снижение остроты зрения вдаль",
            ("Острота зрения с коррекцией 1,0 на оба глаза", "Прогрессирование миопии на 0,5 дптр за год",
             "Подобраны новые очки")),
    Chronic("L20.8", "Другие атопические дерматиты", 0.07, (0.3, 2), "allergist", 1,
            ("emollient", "mometasone_cream"), "", "Сухость кожи, зудящие высыпания на щеках и сгибах конечностей",
            ("Ремиссия, кожа чистая", "Обострение после погрешности в диете",
             "Сухость кожи, единичные очаги лихенификации")),
)


class Allergen(NamedTuple):
    category: str
    text: str
    onset: tuple[float, float]  # years
    reactions: tuple[str, ...]
    outgrown: int  # the age it usually resolves by, 0 if it stays
    criticality: str


ALLERGENS = (
    Allergen("food", "Белок коровьего молока", (0.1, 0.8), ("Атопический дерматит", "Крапивница",
                                                            "Срыгивания и кожная сыпь"), 3, "low"),
    Allergen("food", "Куриное яйцо", (0.5, 2), ("Крапивница", "Периоральная эритема"), 5, "low"),
    Allergen("food", "Арахис", (1, 6), ("Крапивница", "Отёк губ и век"), 0, "high"),
    Allergen("medication", "Амоксициллин", (1, 10), ("Крапивница", "Пятнисто-папулёзная сыпь"), 0, "low"),
    Allergen("environment", "Пыльца берёзы", (3, 10), ("Аллергический ринит", "Аллергический конъюнктивит"), 0, "low"),
    Allergen("environment", "Клещи домашней пыли", (3, 12), ("Аллергический ринит", "Ночной кашель"), 0, "low"),
    Allergen("environment", "Шерсть кошки", (2, 12), ("Чихание и слезотечение", "Крапивница"), 0, "low"),
)


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
    return Analyte(_loinc(code, display, text), unit, ucum, digits, ranges)


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
FINDINGS = {
    "neurologist": (("Неврологический статус без очаговой симптоматики, психомоторное развитие по возрасту", "Здоров"),
                    ("Мышечный тонус дистоничен, сухожильные рефлексы оживлены",
                     "Синдром повышенной нервно-рефлекторной возбудимости"),
                    ("Жалобы на головные боли к вечеру, очаговой симптоматики нет", "Головная боль напряжения")),
    "ophthalmologist": (("Передние отделы глаз спокойны, глазное дно без патологии, острота зрения 1,0 на оба глаза",
                         "Здоров"),
                        ("Рефракция миопическая, острота зрения без коррекции 0,6 на оба глаза",
                         "Миопия слабой степени обоих глаз"),
                        ("Острота зрения 0,8, после циклоплегии 1,0", "Спазм аккомодации")),
    "ent": (("ЛОР-органы без особенностей, слух в норме", "Здоров"),
            ("Носоглоточная миндалина увеличена, носовое дыхание затруднено", "Гипертрофия аденоидов I–II степени"),
            ("Нёбные миндалины увеличены до II степени, рыхлые", "Гипертрофия нёбных миндалин II степени")),
    "surgeon": (("Хирургической патологии не выявлено", "Здоров"),
                ("Пупочное кольцо расширено до 1 см", "Пупочная грыжа"),
                ("Паховые кольца не расширены, хирургической патологии нет", "Здоров")),
    "orthopedist": (("Объём движений в суставах полный, осанка правильная", "Здоров"),
                    ("Своды стоп уплощены", "Плоскостопие I степени"),
                    ("Асимметрия надплечий и лопаток, исправляется в положении лёжа", "Нарушение осанки")),
    "dentist": (("Слизистая полости рта чистая, зубы интактны", "Здоров"),
                ("Кариозная полость в зубе {tooth}", "Кариес дентина зуба {tooth}, рекомендована санация"),
                ("Мягкий зубной налёт, гигиена полости рта неудовлетворительная",
                 "Рекомендована профессиональная гигиена полости рта")),
    "endocrinologist": (("Щитовидная железа не увеличена, половое развитие соответствует возрасту",
                         "Эндокринной патологии не выявлено"),
                        ("Индекс массы тела выше 85-го перцентиля", "Избыточная масса тела")),
    "urologist": (("Наружные половые органы сформированы правильно, яички в мошонке", "Здоров"),
                  ("Крайняя плоть не открывает головку полового члена", "Физиологический фимоз")),
    "gynecologist": (("Наружные половые органы сформированы правильно, развитие по возрасту", "Здоров"),
                     ("Вульва гиперемирована", "Неспецифический вульвит")),
    "psychiatrist": (("Психическое развитие соответствует возрасту, в контакт вступает охотно",
                      "Психических расстройств не выявлено"),
                     ("Нарушение звукопроизношения, словарный запас по возрасту",
                      "Рекомендованы занятия с логопедом")),
}
# Specialists at the preventive examinations, by age in months (order 514н/211н, simplified; "sex" is the
# gynecologist for girls and the urologist-andrologist for boys). UNVERIFIED: check 211н before reuse.
EXAM_ROLES = {
    1: ("neurologist", "surgeon", "ophthalmologist", "orthopedist"),
    3: ("orthopedist", "neurologist"),
    12: ("neurologist", "surgeon", "ophthalmologist", "ent", "orthopedist", "dentist"),
    24: ("dentist",),
    36: ("neurologist", "surgeon", "dentist", "ophthalmologist", "ent"),
    72: ("neurologist", "surgeon", "dentist", "ophthalmologist", "ent", "orthopedist", "psychiatrist", "sex"),
    84: ("neurologist", "dentist", "ophthalmologist", "ent"),
    120: ("neurologist", "dentist", "ophthalmologist", "orthopedist", "endocrinologist"),
    156: ("dentist", "sex"),
    **dict.fromkeys((168, 180, 192, 204), ("neurologist", "dentist", "ophthalmologist", "ent", "orthopedist",
                                           "endocrinologist", "sex")),
}
WELL_MONTHS = (*range(1, 13), 15, 18, 24, 30, 36, *range(48, 216, 12))
LAB_MONTHS = frozenset({3, 6, 12, *range(24, 216, 12)})
EPICRISIS_MONTHS = frozenset({12, 36, 84})
MILESTONES = {
    1: "фиксирует взгляд, кратковременно удерживает голову лёжа на животе",
    2: "улыбается в ответ на обращение, удерживает голову", 3: "уверенно держит голову, гулит",
    4: "переворачивается со спины на бок, тянется к игрушке", 5: "переворачивается со спины на живот, узнаёт близких",
    6: "сидит с поддержкой, произносит отдельные слоги", 7: "ползает, сидит самостоятельно",
    8: "встаёт у опоры, повторяет слоги", 9: "ходит у опоры, понимает простые просьбы",
    10: "стоит без опоры, выполняет простые движения по просьбе", 11: "делает первые самостоятельные шаги",
    12: "ходит самостоятельно, говорит 5–10 облегчённых слов", 15: "уверенно ходит, говорит 10–20 слов",
    18: "бегает, говорит 20–40 слов, показывает части тела", 24: "говорит фразами из 2–3 слов",
    30: "говорит предложениями, знает своё имя", 36: "речь развёрнутая, задаёт вопросы, различает цвета",
}
CONCERNS = (
    (0.05, ("Жалоб нет", "Жалоб нет, грудное вскармливание", "Мама отмечает беспокойный сон",
            "Срыгивания после кормления", "Жалоб нет, смешанное вскармливание", "Мама отмечает шелушение кожи")),
    (1, ("Жалоб нет", "Жалоб нет, мама отмечает беспокойный сон", "Срыгивания после кормления",
         "Мама отмечает сухость кожи на щеках", "Жалоб нет, грудное вскармливание",
         "Жалоб нет, смешанное вскармливание",
         "Беспокойство при прорезывании зубов", "Мама отмечает снижение аппетита")),
    (3, ("Жалоб нет", "Избирательный аппетит", "Жалоб нет, посещает ясли", "Беспокойный сон",
         "Родители обеспокоены темпом речевого развития", "Жалоб нет, готовится к детскому саду")),
    (12, ("Жалоб нет", "Частые ОРВИ", "Жалобы на быструю утомляемость", "Жалоб нет, занимается плаванием",
          "Жалоб нет, посещает спортивную секцию", "Жалобы на периодические головные боли",
          "Жалобы на боли в животе после еды")),
    (18, ("Жалоб нет", "Жалобы на утомляемость при учебной нагрузке", "Жалобы на угревую сыпь",
          "Жалоб нет, занимается футболом", "Жалобы на снижение зрения вдаль",
          "Жалобы на боли в спине при длительном сидении")),
)
WELL_FINDINGS = ("Состояние удовлетворительное", "Кожные покровы чистые, обычной окраски",
                 "Видимые слизистые розовые, чистые", "Периферические лимфоузлы не увеличены",
                 "Дыхание везикулярное, хрипов нет", "Тоны сердца ясные, ритмичные", "Живот мягкий, безболезненный",
                 "Печень у края рёберной дуги", "Стул и мочеиспускание в норме", "Зев чистый, миндалины не увеличены")
ADVICE = (
    (1, ("Грудное вскармливание по требованию", "Прогулки на свежем воздухе 2–3 часа в день",
         "Профилактика рахита: колекальциферол 500 МЕ ежедневно", "Массаж и гимнастика",
         "Введение прикорма с овощного пюре с 6 месяцев", "Выкладывание на живот перед кормлением")),
    (3, ("Режим дня по возрасту", "Рациональное питание", "Закаливающие процедуры",
         "Ограничение времени у экрана", "Чтение книг и развивающие игры")),
    (18, ("Рациональное питание", "Занятия физкультурой в основной группе", "Санация полости рта",
          "Ограничение времени у экрана до 2 часов в день", "Соблюдение режима сна", "Гимнастика для глаз")),
)
ILLNESS_ADVICE = (
    (1, ("Кормление по требованию, допаивание", "Проветривание помещения, увлажнение воздуха",
         "При ухудшении состояния — вызов врача на дом или скорой помощи", "Контроль температуры тела 3 раза в день")),
    (18, ("Обильное тёплое питьё", "Проветривание помещения, увлажнение воздуха", "Домашний режим", "Щадящая диета",
          "При ухудшении состояния — вызов врача на дом или скорой помощи", "Контроль температуры тела 3 раза в день")),
)
CONTEXTS = (
    (1, ("Контакт с инфекционными больными отрицается.", "Старший брат болеет ОРВИ.", "Родители болеют ОРВИ.",
         "На грудном вскармливании.")),
    (3, ("Посещает ясли.", "Старший брат болеет ОРВИ.", "Контакт с инфекционными больными отрицается.",
         "Заболевание связывают с переохлаждением на прогулке.")),
    (7, ("Посещает детский сад, в группе случаи ОРВИ.", "Контакт с больной сестрой.",
         "Контакт с инфекционными больными отрицается.", "В детском саду карантин по ветряной оспе.")),
    (18, ("В классе несколько заболевших.", "Контакт с инфекционными больными отрицается.",
          "Заболевание связывает с переохлаждением.", "Накануне была тренировка в бассейне.",
          "Дома болеют родители.")),
)
COURSES = ("Течение лёгкое.", "Течение среднетяжёлое.", "Осложнений нет.", "На фоне лечения положительная динамика.",
           "Температура нормализовалась на 3-й день.")
CERTIFICATES = ("Оформление медицинской справки для посещения бассейна",
                "Медицинский осмотр перед летним оздоровительным лагерем",
                "Оформление справки о допуске к занятиям спортом",
                "Оформление медицинской справки для занятий в кружке", "Осмотр перед санаторно-курортным лечением")
SEASON = (1.0, 1.0, 0.95, 0.8, 0.6, 0.4, 0.35, 0.35, 0.75, 0.95, 1.0, 1.0)  # respiratory infections peak in winter


def _by_age(table: tuple[tuple[float, tuple[str, ...]], ...], age: float) -> tuple[str, ...]:
    for limit, values in table:
        if age < limit:
            return values
    return table[-1][1]


def _illnesses_per_year(year: int) -> tuple[int, int]:
    if year == 0:
        return 2, 4
    if year <= 2:
        return 6, 9
    if year <= 6:
        return 6, 8
    return (4, 6) if year <= 12 else (3, 5)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class Growth:
    """A child's own smooth growth curve: the medians shifted by personal z-scores that drift slowly."""

    def __init__(self, rng: random.Random, female: bool) -> None:
        self.female = female
        self.height_z = _clamp(rng.gauss(0, 1), -2.5, 2.5)
        self.height_drift = rng.gauss(0, 0.05)
        self.weight_z = _clamp(0.6 * self.height_z + rng.gauss(0, 0.8), -2.5, 3.0)
        self.weight_drift = rng.gauss(0, 0.08)
        self.head_z = _clamp(0.5 * self.height_z + rng.gauss(0, 0.85), -2.5, 2.5)

    def z(self, days: int) -> tuple[float, float]:
        years = days / 365.25
        return self.height_z + self.height_drift * years, self.weight_z + self.weight_drift * years

    def at(self, days: int) -> tuple[float, float, float]:
        """Weight (kg), height (cm) and head circumference (cm) at an age in days."""
        months, years = days / 30.4375, days / 365.25
        height_z, weight_z = self.z(days)
        height = _interp(GROWTH_MONTHS, HEIGHT_MEDIAN[self.female], months) * (1 + 0.04 * height_z)
        weight = _interp(GROWTH_MONTHS, WEIGHT_MEDIAN[self.female], months) * math.exp((0.11 + 0.004 * years) *
                                                                                       weight_z)
        head = _interp(GROWTH_MONTHS[:11], HEAD_MEDIAN[self.female], months) * (1 + 0.03 * self.head_z)
        return weight, height, head

    def assessment(self, days: int) -> str:
        height_z, weight_z = self.z(days)
        level = ("низкое" if height_z < -2 else "ниже среднего" if height_z < -1 else "среднее" if height_z <= 1
                 else "выше среднего" if height_z <= 2 else "высокое")
        excess = weight_z - height_z
        harmony = ("гармоничное" if abs(excess) < 1 else "дисгармоничное за счёт избытка массы тела" if excess > 0
                   else "дисгармоничное за счёт дефицита массы тела")
        return f"Физическое развитие {level}, {harmony}"


# ---------------------------------------------------------------------------------------------------
# One child's record


@dataclass(slots=True)
class _Event:
    day: date
    seq: int  # breaks ties between events of one day in planning order
    kind: str
    data: dict[str, Any]


class _Chart:
    """One child's record: plans the events of a life from birth to today, then writes each as resources."""

    def __init__(self, rng: random.Random, patient_id: str, birth: date, female: bool, clinic: Clinic,
                 new_id: Callable[[], str], today: date) -> None:
        self.rng, self.birth, self.female, self.clinic, self.new_id, self.today = (rng, birth, female, clinic,
                                                                                   new_id, today)
        self.patient = f"Patient/{patient_id}"
        self.doctor = clinic.pick(rng, "pediatrician")  # the district pediatrician, the same for years
        self.growth = Growth(rng, female)
        self.combined = rng.random() < 0.45  # Pentaxim instead of separate DTP, IPV and Hib
        self.health_group = rng.choice(("I", "II", "II"))
        self.no_penicillin: date | None = None
        self.illness_count = 0
        self.chronic: dict[str, str] = {}  # ICD-10 code -> the Condition of a chronic disease
        self._seq = itertools.count()

    # planning ------------------------------------------------------------------------------------

    def history(self) -> Iterator[Resource]:
        handlers: dict[str, Callable[[_Event], Iterator[Resource]]] = {
            "well": self.well_visit, "check": self.check_visit, "vaccination": self.vaccination,
            "maternity": self.maternity, "illness": self.illness, "diagnosis": self.chronic_visit,
            "dispensary": self.chronic_visit, "allergy": self.allergy,
        }
        wells = self._plan_wells()
        events = [*wells, *self._plan_vaccinations(wells), *self._plan_illnesses(), *self._plan_chronic(),
                  *self._plan_allergy()]
        events.sort(key=lambda event: (event.day, event.seq))
        for event in events:
            yield from handlers[event.kind](event)

    def event(self, day: date, kind: str, **data: Any) -> _Event:
        return _Event(day, next(self._seq), kind, data)

    def visit_day(self, day: date) -> date:
        """The day itself, or a neighbour when it is a Sunday (polyclinics are closed)."""
        if day.weekday() != 6:
            return day
        return day + timedelta(days=1) if day < self.today else day - timedelta(days=1)

    def after_birth(self, years: float) -> date:
        return self.birth + timedelta(days=round(years * 365.25))

    def age(self, day: date) -> float:
        return (day - self.birth).days / 365.25

    def minute(self) -> int:
        return self.rng.randint(8 * 60, 19 * 60)

    def _plan_wells(self) -> list[_Event]:
        rng = self.rng
        out = [self.event(self.birth + timedelta(days=rng.randint(3, 7)), "well", months=0)]
        for months in WELL_MONTHS:
            day = self.visit_day(self.birth + timedelta(days=round(months * 30.4375) + rng.randint(0, 6)))
            if day > self.today:
                break
            out.append(self.event(day, "well", months=months))
            half = self.visit_day(day + timedelta(days=rng.randint(150, 210)))
            if months >= 36 and half <= self.today and rng.random() < 0.7:
                out.append(self.event(half, "check"))
        return [event for event in out if event.day <= self.today]

    def _plan_vaccinations(self, wells: list[_Event]) -> list[_Event]:
        rng, out = self.rng, []
        earliest = self.birth  # late doses push the later ones back: a series keeps its order and intervals
        for age, doses in CALENDARS[self.combined]:
            # BCG revaccination is only for tuberculin-negative children
            given = [dose for dose in doses if dose[:2] != ("bcg", 2) or rng.random() < 0.3]
            if age < 7:  # given in the maternity hospital, recorded from its discharge summary
                out.append(self.event(self.birth + timedelta(days=age), "maternity", doses=given))
                continue
            delay = rng.randint(0, 14) if rng.random() < 0.9 else rng.randint(20, 90)
            day = self.visit_day(max(self.birth + timedelta(days=age + delay), earliest))
            earliest = day + timedelta(days=30)
            if day <= self.today and given:
                self._attach(out, wells, day, given)
        for season in range(self.birth.year, self.today.year + 1):
            day = self.visit_day(date(season, 10, 1) + timedelta(days=rng.randint(0, 55)))
            if (day - self.birth).days >= 183 and day <= self.today and rng.random() < 0.45:
                self._attach(out, wells, day, [("flu", 1, f"Сезон {season}–{season + 1}")])
        return [event for event in out if event.day <= self.today]

    def _attach(self, out: list[_Event], wells: list[_Event], day: date, doses: list[Dose]) -> None:
        """Vaccinate at a well-child visit within a week, or else at a visit of its own."""
        for well in wells:
            if abs((well.day - day).days) <= 7:
                well.data.setdefault("doses", []).extend(doses)
                return
        out.append(self.event(day, "vaccination", doses=doses))

    def _plan_illnesses(self) -> list[_Event]:
        rng, out = self.rng, []
        if rng.random() < 0.12:
            out.append(self.event(self.birth + timedelta(days=rng.randint(4, 9)), "illness", illness=JAUNDICE))
        had_chickenpox, year = False, 0
        while (start := self.after_birth(year)) < self.today:
            end = min(self.after_birth(year + 1), self.today)
            count = round(rng.randint(*_illnesses_per_year(year)) * (end - start).days / 365.25)
            for _ in range(count):
                day = self._season_day(start, end)
                illness = self._pick_illness(day, had_chickenpox)
                had_chickenpox |= illness.code == "B01.9"
                out.append(self.event(day, "illness", illness=illness))
            year += 1
        return [event for event in out if event.day <= self.today]

    def _season_day(self, start: date, end: date) -> date:
        span = (end - start).days
        day = start
        for _ in range(20):
            day = start + timedelta(days=int(self.rng.random() * span))
            if self.rng.random() < SEASON[day.month - 1]:
                break
        return self.visit_day(day)

    def _pick_illness(self, day: date, had_chickenpox: bool) -> Illness:
        age = self.age(day)
        candidates = [illness for illness in ILLNESSES if illness.ages[0] <= age < illness.ages[1]
                      and (illness.code != "U07.1" or day >= COVID_FROM)
                      and (illness.code != "B01.9" or not had_chickenpox)]
        return self.rng.choices(candidates, [illness.weight for illness in candidates])[0]

    def _plan_chronic(self) -> list[_Event]:
        rng, out = self.rng, []
        for chronic in CHRONIC:
            if rng.random() >= chronic.chance:
                continue
            onset = self.visit_day(self.after_birth(rng.uniform(*chronic.onset)))
            if onset > self.today:
                continue
            visits, step = [], 365.25 / chronic.visits
            day = onset + timedelta(days=round(step) + rng.randint(-20, 20))
            while day <= self.today:
                visits.append(self.event(self.visit_day(day), "dispensary", chronic=chronic, last=False))
                day += timedelta(days=round(step) + rng.randint(-20, 20))
            if visits:
                visits[-1].data["last"] = True
            out += [self.event(onset, "diagnosis", chronic=chronic, last=not visits), *visits]
        return [event for event in out if event.day <= self.today]

    def _plan_allergy(self) -> list[_Event]:
        if self.rng.random() >= 0.2:
            return []
        allergen = self.rng.choice(ALLERGENS)
        day = self.visit_day(self.after_birth(self.rng.uniform(*allergen.onset)))
        return [self.event(day, "allergy", allergen=allergen)] if day <= self.today else []

    # resources -----------------------------------------------------------------------------------

    def encounter(self, day: date, minute: int, who: Member, kind: dict[str, Any], reason: str, *,
                  home: bool = False, length: int = 20) -> Resource:
        return {
            "resourceType": "Encounter", "id": self.new_id(), "status": "finished",
            "class": HOME if home else AMBULATORY, "type": [kind], "serviceType": {"text": ROLES[who.role].service},
            "subject": {"reference": self.patient},
            "participant": [{"type": PRIMARY_PERFORMER, "individual": {"reference": who.ref}}],
            "period": {"start": _at(day, minute), "end": _at(day, minute + length)},
            "reasonCode": [{"text": reason}], "serviceProvider": {"reference": self.clinic.ref},
        }

    def observation(self, encounter: str, when: str, who: Member, category: list[dict[str, Any]],
                    code: dict[str, Any], value: tuple[str, Any], note: str = "") -> Resource:
        resource = {
            "resourceType": "Observation", "id": self.new_id(), "status": "final", "category": category,
            "code": code, "subject": {"reference": self.patient}, "encounter": {"reference": encounter},
            "effectiveDateTime": when, "performer": [{"reference": who.ref}], value[0]: value[1],
        }
        if note:
            resource["note"] = [{"text": note}]
        return resource

    def measurements(self, encounter: str, day: date, minute: int, who: Member) -> tuple[list[Resource], str]:
        """Weight, height or length, head circumference under 3, BMI; and how the document words them."""
        days, rng = (day - self.birth).days, self.rng
        weight, height, head = self.growth.at(days)
        weight = round(weight * (1 + rng.gauss(0, 0.006)), 2 if weight < 10 else 1)
        height = round(height * (1 + rng.gauss(0, 0.002)), 1)
        bmi = round(weight / (height / 100) ** 2, 1)
        when, note = _at(day, minute + 5), self.growth.assessment(days)
        made = [self.observation(encounter, when, who, VITAL, WEIGHT, ("valueQuantity", _quantity(weight, "кг", "kg"))),
                self.observation(encounter, when, who, VITAL, LENGTH if days < 730 else HEIGHT,
                                 ("valueQuantity", _quantity(height, "см", "cm")))]
        text = f"масса тела {_ru(weight, 2 if weight < 10 else 1)} кг, {'длина' if days < 730 else 'рост'} " \
               f"{_ru(height)} см"
        if days < 1096:
            head = round(head * (1 + rng.gauss(0, 0.004)), 1)
            made.append(self.observation(encounter, when, who, VITAL, HEAD,
                                         ("valueQuantity", _quantity(head, "см", "cm"))))
            text += f", окружность головы {_ru(head)} см"
        made.append(self.observation(encounter, when, who, VITAL, BMI,
                                     ("valueQuantity", _quantity(bmi, "кг/м²", "kg/m2")), note))
        return made, f"Антропометрия: {text}, ИМТ {_ru(bmi)} кг/м². {note}."

    def vitals(self, encounter: str, day: date, minute: int, who: Member, temperature: float,
               respiratory: bool = False) -> tuple[list[Resource], str]:
        """Temperature and heart rate (and breathing rate in respiratory illness); and their wording."""
        age, rng, when = self.age(day), self.rng, _at(day, minute + 3)
        fever = max(0.0, temperature - 37.0)
        pulse = round(_interp(VITAL_AGES, HEART_RATES, age) + 10 * fever + rng.gauss(0, 6))
        made = [self.observation(encounter, when, who, VITAL, TEMPERATURE,
                                 ("valueQuantity", _quantity(temperature, "°C", "Cel"))),
                self.observation(encounter, when, who, VITAL, HEART_RATE,
                                 ("valueQuantity", _quantity(pulse, "уд/мин", "/min")))]
        text = f"Температура тела {_ru(temperature)} °C, ЧСС {pulse} в минуту"
        if respiratory:
            breaths = round(_interp(VITAL_AGES, BREATHING_RATES, age) + 2 * fever + rng.gauss(0, 2))
            made.append(self.observation(encounter, when, who, VITAL, RESPIRATORY_RATE,
                                         ("valueQuantity", _quantity(breaths, "в мин", "/min"))))
            text += f", ЧДД {breaths} в минуту"
        return made, text

    def normal_temperature(self) -> float:
        return round(self.rng.uniform(36.3, 36.9), 1)

    def condition(self, encounter: str, day: date, minute: int, who: Member, illness: tuple[str, str], *,
                  onset: date, resolved: date | None, note: str, category: dict[str, Any],
                  severity: str = "") -> Resource:
        code, display = illness
        resource = {
            "resourceType": "Condition", "id": self.new_id(),
            "clinicalStatus": RESOLVED if resolved else ACTIVE, "verificationStatus": CONFIRMED,
            "category": [category], "code": _concept(ICD10, code, display, display),
            "subject": {"reference": self.patient}, "encounter": {"reference": encounter},
            "onsetDateTime": max(onset, self.birth).isoformat(),
        }
        if severity:
            resource["severity"] = SEVERITY[severity]
        if resolved:
            resource["abatementDateTime"] = resolved.isoformat()
        resource.update({"recordedDate": _at(day, minute + 10), "recorder": {"reference": who.ref},
                         "note": [{"text": note}]})
        return resource

    def prescription(self, encounter: str, reason: str, day: date, minute: int, who: Member, key: str,
                     active: bool) -> Resource:
        drug = DRUGS[key]
        medication: dict[str, Any] = {"text": drug.text}
        if drug.atc:
            medication = {"coding": [{"system": ATC, "code": drug.atc}], "text": drug.text}
        return {
            "resourceType": "MedicationRequest", "id": self.new_id(), "status": "active" if active else "completed",
            "intent": "order", "medicationCodeableConcept": medication, "subject": {"reference": self.patient},
            "encounter": {"reference": encounter}, "authoredOn": _at(day, minute + 15),
            "requester": {"reference": who.ref},
            **({"reasonReference": [{"reference": reason}]} if reason.startswith("Condition/") else
               {"reasonCode": [{"text": reason}]}),
            "dosageInstruction": [_dosage(drug, self.growth.at((day - self.birth).days)[0])],
        }

    def document(self, encounter: str, day: date, minute: int, who: Member, title: str, kind: dict[str, Any],
                 lines: list[str], related: str = "") -> Resource:
        """A visit document: a short Russian text/plain attachment in base64."""
        text = "\n".join([title, f"Дата: {day.day:02d}.{day.month:02d}.{day.year}",
                          f"{ROLES[who.role].title}: {who.name}", *lines])
        context: dict[str, Any] = {"encounter": [{"reference": encounter}], "period": {"start": _at(day, minute)}}
        if related:
            context["related"] = [{"reference": related}]
        return {
            "resourceType": "DocumentReference", "id": self.new_id(), "status": "current", "docStatus": "final",
            "type": kind, "subject": {"reference": self.patient}, "date": _at(day, minute + 25),
            "author": [{"reference": who.ref}], "custodian": {"reference": self.clinic.ref}, "description": title,
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "language": "ru",
                                        "data": base64.b64encode(text.encode()).decode("ascii"), "title": title,
                                        "creation": _at(day, minute + 25)}}],
            "context": context,
        }

    def immunization(self, encounter: str, day: date, minute: int, who: Member | None, dose: Dose) -> Resource:
        """A dose given here (``who`` set) or reported from the maternity hospital (``who`` None)."""
        key, number, series = dose
        vaccine, rng = VACCINES[key], self.rng
        resource: Resource = {"resourceType": "Immunization", "id": self.new_id(), "status": "completed",
                              "vaccineCode": {"text": rng.choice(vaccine.products)},
                              "patient": {"reference": self.patient}}
        if encounter:
            resource["encounter"] = {"reference": encounter}
        recorded = day if who else min(day + timedelta(days=5), self.today)  # entered from the discharge summary
        resource.update({"occurrenceDateTime": _at(day, minute), "recorded": _at(recorded, minute),
                         "primarySource": who is not None})
        if who is None:
            resource["reportOrigin"] = {"text": "Выписка из родильного дома"}
        resource["lotNumber"] = f"{rng.randint(100, 999)}{rng.choice('ABCDEKMNPT')}{day.year % 100:02d}"
        resource["expirationDate"] = (day + timedelta(days=rng.randint(120, 700))).isoformat()
        site = self._site(key, day)
        if site:
            resource["site"] = site
        display, text = ROUTES[vaccine.route]
        resource["route"] = _concept(TERMINOLOGY + "v3-RouteOfAdministration", vaccine.route, display, text)
        resource["doseQuantity"] = _quantity(vaccine.dose_ml, "мл", "mL")
        if who is not None:
            resource["performer"] = [{"function": ADMINISTERING, "actor": {"reference": who.ref}}]
            resource["note"] = [{"text": rng.choice(REACTIONS)}]
        resource["protocolApplied"] = [{"series": series, "targetDisease": [{"text": d} for d in vaccine.diseases],
                                        "doseNumberPositiveInt": number}]
        return resource

    def _site(self, key: str, day: date) -> dict[str, Any] | None:
        if key == "opv":
            return None  # drops in the mouth
        infant = (day - self.birth).days < 730  # the thigh until 2 years, the shoulder after
        code = "LA" if key == "bcg" else self.rng.choice(("LT", "RT") if infant else ("LD", "RD"))
        display, text = SITES[code]
        return _concept(TERMINOLOGY + "v3-ActSite", code, display, text)

    def lab_report(self, encounter: str, day: date, panel: dict[str, Any], category: list[dict[str, Any]],
                   values: list[tuple[Analyte, Any]], conclude: Callable[[list[tuple[str, str]]], str]
                   ) -> Iterator[Resource]:
        """Result Observations, then the DiagnosticReport naming them; sampled in the morning within 2 days."""
        taken_day = self.visit_day(day + timedelta(days=self.rng.randint(0, 2)))
        taken_day = taken_day if taken_day <= self.today else day
        taken, issued = _at(taken_day, self.rng.randint(480, 600)), _at(taken_day, self.rng.randint(780, 960))
        lab, age = self.clinic.pick(self.rng, "lab"), self.age(day)
        refs, flags = [], []
        for analyte, value in values:
            result, flag = self._lab_result(encounter, taken, issued, lab, analyte, value, age)
            refs.append({"reference": f"Observation/{result['id']}"})
            flags.append((flag, analyte.code["coding"][0]["code"]))
            yield result
        yield {
            "resourceType": "DiagnosticReport", "id": self.new_id(), "status": "final", "category": category,
            "code": panel, "subject": {"reference": self.patient}, "encounter": {"reference": encounter},
            "effectiveDateTime": taken, "issued": issued, "performer": [{"reference": lab.ref}], "result": refs,
            "conclusion": conclude(flags),
        }

    def _lab_result(self, encounter: str, taken: str, issued: str, lab: Member, analyte: Analyte, value: Any,
                    age: float) -> tuple[Resource, str]:
        if isinstance(value, str):
            shown = ("valueString", value) if analyte is URINE_COLOR else ("valueCodeableConcept", {"text": value})
            result = self.observation(encounter, taken, lab, LABORATORY, analyte.code, shown)
            result["issued"] = issued
            return result, "N" if value.startswith("не ") or analyte is URINE_COLOR else "H"
        low, high = analyte.normal(age)
        flag = "L" if value < low else "H" if value > high else "N"
        result = self.observation(encounter, taken, lab, LABORATORY, analyte.code,
                                  ("valueQuantity", _measured(value, analyte)))
        result.update({"issued": issued, "interpretation": INTERPRETATION[flag],
                       "referenceRange": [{"low": _measured(low, analyte), "high": _measured(high, analyte)}]})
        return result, flag

    def blood_count(self, encounter: str, day: date, state: str) -> Iterator[Resource]:
        values = _blood_count(self.rng, self.age(day), state)
        yield from self.lab_report(encounter, day, CBC_PANEL, HEMATOLOGY, values, _blood_conclusion)

    def urinalysis(self, encounter: str, day: date, infection: bool) -> Iterator[Resource]:
        values = _urinalysis(self.rng, self.age(day), infection)
        yield from self.lab_report(encounter, day, URINE_PANEL, URINALYSIS, values, _urine_conclusion)

    def referral(self, encounter: str, day: date, who: Member, role: str, reason: str) -> Iterator[Resource]:
        """A ServiceRequest to a specialist and, once its day has come, the consultation with its note."""
        rng = self.rng
        if role == "sex":
            role = "gynecologist" if self.female else "urologist"
        specialist, spec = self.clinic.pick(rng, role), ROLES[role]
        when = self.visit_day(day + timedelta(days=rng.randint(1, 21)))
        done = when <= self.today and rng.random() < 0.96  # a few referrals are never used
        request = {
            "resourceType": "ServiceRequest", "id": self.new_id(), "status": "completed" if done else "active",
            "intent": "order", "category": REFERRAL, "priority": "routine",
            "code": {"text": f"Консультация {spec.genitive}"}, "subject": {"reference": self.patient},
            "encounter": {"reference": encounter}, "occurrenceDateTime": when.isoformat(),
            "authoredOn": _at(day, self.minute()), "requester": {"reference": who.ref},
            "performerType": {"text": spec.title}, "performer": [{"reference": specialist.ref}],
            "reasonCode": [{"text": reason}],
        }
        yield request
        if not done:
            return
        minute = self.minute()
        visit = self.encounter(when, minute, specialist, CONSULTATION, f"Консультация по направлению: {reason}")
        yield visit
        finding, conclusion = self._finding(role, when)
        advice = "наблюдение педиатра" if finding == FINDINGS[role][0][0] else "повторная консультация через 6 месяцев"
        lines = [f"Направление: {reason}", f"Объективно: {finding}.", f"Заключение: {conclusion}.",
                 f"Рекомендации: {advice}."]
        yield self.document(f"Encounter/{visit['id']}", when, minute, specialist,
                            f"Протокол консультации {spec.genitive}", CONSULT_NOTE, lines,
                            related=f"ServiceRequest/{request['id']}")

    def _finding(self, role: str, day: date) -> tuple[str, str]:
        options = FINDINGS[role]
        finding, conclusion = options[0] if self.rng.random() < 0.8 else self.rng.choice(options[1:])
        if "{tooth}" in finding:
            first = (5, 6, 7, 8) if self.age(day) < 6 else (1, 2, 3, 4)
            tooth = f"{self.rng.choice(first)}{self.rng.randint(4, 5) if first[0] == 5 else self.rng.randint(4, 7)}"
            finding, conclusion = finding.format(tooth=tooth), conclusion.format(tooth=tooth)
        if conclusion == "Здоров" and self.female:
            conclusion = "Здорова"
        return finding, conclusion

    # events --------------------------------------------------------------------------------------

    def well_visit(self, event: _Event) -> Iterator[Resource]:
        """A preventive examination: growth, vital signs, vaccines due, tests and specialists by age."""
        day, months, rng = event.day, event.data["months"], self.rng
        concern = rng.choice(_by_age(CONCERNS, months / 12))
        if months == 0:
            minute, title = rng.randint(600, 1020), "Первичный патронаж новорождённого"
            enc = self.encounter(day, minute, self.doctor, PATRONAGE, f"{title}. {concern}", home=True, length=40)
        else:
            minute, title = self.minute(), f"Профилактический медицинский осмотр в {_age_text(months)}"
            enc = self.encounter(day, minute, self.doctor, WELL_VISIT, f"{title}. {concern}", length=30)
        ref = f"Encounter/{enc['id']}"
        yield enc
        growth, growth_text = self.measurements(ref, day, minute, self.doctor)
        vital, vital_text = self.vitals(ref, day, minute, self.doctor, self.normal_temperature())
        yield from growth
        yield from vital
        lines = [f"Жалобы: {concern}.", growth_text, f"{vital_text}. {'. '.join(rng.sample(WELL_FINDINGS, 3))}."]
        if months in MILESTONES:
            lines.append(f"Нервно-психическое развитие: {MILESTONES[months]}.")
        yield from self._doses(ref, day, minute, event.data.get("doses", ()), lines)
        if months == 1:
            yield self.prescription(ref, "Профилактика рахита", day, minute, self.doctor, "vitamin_d",
                                    active=day + timedelta(days=365) > self.today)
        if months in LAB_MONTHS:
            yield from self.blood_count(ref, day, "allergic" if rng.random() < 0.05 else "normal")
            yield from self.urinalysis(ref, day, infection=False)
        roles = EXAM_ROLES.get(months, ("dentist",) if months >= 48 and months % 12 == 0 else ())
        for role in roles:
            yield from self.referral(ref, day, self.doctor, role, title)
        lines += [f"Группа здоровья: {self.health_group}.",
                  f"Рекомендации: {'; '.join(rng.sample(_by_age(ADVICE, months / 12), 2))}."]
        yield self.document(ref, day, minute, self.doctor, f"Протокол: {title.lower()}", PROGRESS_NOTE, lines)
        if months in EPICRISIS_MONTHS:
            yield self._epicrisis(ref, day, minute, months)

    def _doses(self, encounter: str, day: date, minute: int, doses: Iterable[Dose], lines: list[str]
               ) -> Iterator[Resource]:
        nurse, given = self.clinic.pick(self.rng, "nurse"), []
        for dose in doses:
            shot = self.immunization(encounter, day, minute + 20, nurse, dose)
            given.append(f"{shot['vaccineCode']['text'].split(' (')[0]} ({dose[2]})")
            yield shot
        if given:
            lines.append(f"Допущен{'а' if self.female else ''} к вакцинации. Привит{'а' if self.female else ''}: "
                         f"{', '.join(given)}.")

    def _epicrisis(self, encounter: str, day: date, minute: int, months: int) -> Resource:
        lines = [f"Возраст: {_age_text(months)}.", self.growth.assessment((day - self.birth).days) + ".",
                 f"Острых заболеваний за период наблюдения: {self.illness_count}.",
                 "Профилактические прививки проведены по национальному календарю.",
                 f"Группа здоровья: {self.health_group}.",
                 f"Нервно-психическое развитие: {MILESTONES.get(months, 'соответствует возрасту')}."]
        self.illness_count = 0
        return self.document(encounter, day, minute + 5, self.doctor, f"Этапный эпикриз: {_age_text(months)}",
                             SUMMARY_NOTE, lines)

    def check_visit(self, event: _Event) -> Iterator[Resource]:
        """A visit for a medical certificate (pool, camp, sports): measurements and a short note."""
        day, minute = event.day, self.minute()
        reason = self.rng.choice(CERTIFICATES)
        enc = self.encounter(day, minute, self.doctor, CHECK_UP, reason)
        ref = f"Encounter/{enc['id']}"
        yield enc
        growth, growth_text = self.measurements(ref, day, minute, self.doctor)
        vital, vital_text = self.vitals(ref, day, minute, self.doctor, self.normal_temperature())
        yield from growth
        yield from vital
        lines = [f"Цель осмотра: {reason.lower()}.", growth_text, f"{vital_text}.",
                 f"{'. '.join(self.rng.sample(WELL_FINDINGS, 3))}.", "Противопоказаний не выявлено. Справка выдана."]
        yield self.document(ref, day, minute, self.doctor, "Протокол осмотра для оформления справки", PROGRESS_NOTE,
                            lines)

    def vaccination(self, event: _Event) -> Iterator[Resource]:
        """A visit only to vaccinate: the examination before it, then the doses."""
        day, minute = event.day, self.minute()
        flu = all(dose[0] == "flu" for dose in event.data["doses"])
        reason = ("Вакцинация против гриппа" if flu else
                  "Вакцинация по национальному календарю профилактических прививок")
        enc = self.encounter(day, minute, self.doctor, VACCINATION, reason)
        ref = f"Encounter/{enc['id']}"
        yield enc
        yield from self.vitals(ref, day, minute, self.doctor, self.normal_temperature())[0]
        yield from self._doses(ref, day, minute, event.data["doses"], [])

    def maternity(self, event: _Event) -> Iterator[Resource]:
        for dose in event.data["doses"]:
            yield self.immunization("", event.day, self.rng.randint(480, 1200), None, dose)

    def illness(self, event: _Event) -> Iterator[Resource]:
        """A sick visit (or home call): vital signs, the diagnosis, prescriptions, maybe tests, a note, a follow-up."""
        ill, day, rng = event.data["illness"], event.day, self.rng
        self.illness_count += 1
        who = self.doctor if rng.random() < 0.75 else self.clinic.pick(rng, "pediatrician")
        home = ill.fever is not None and self.age(day) < 7 and rng.random() < 0.35
        minute = rng.randint(600, 1020) if home else self.minute()
        temperature = round(rng.uniform(*ill.fever), 1) if ill.fever else self.normal_temperature()
        sick_days = rng.randint(1, 3)
        complaint = self._complaint(ill, temperature)
        enc = self.encounter(day, minute, who, HOME_CALL if home else SICK_VISIT, complaint, home=home)
        ref = f"Encounter/{enc['id']}"
        yield enc
        vital, vital_text = self.vitals(ref, day, minute, who, temperature, ill.code[0] == "J")
        yield from vital
        recovery = day + timedelta(days=rng.randint(5, 12))
        context = rng.choice(_by_age(CONTEXTS, self.age(day)))
        note = f"{context} {rng.choice(COURSES)}"
        condition = self.condition(ref, day, minute, who, (ill.code, ill.display),
                                   onset=day - timedelta(days=sick_days),
                                   resolved=recovery if recovery <= self.today else None, note=note,
                                   category=ENCOUNTER_DIAGNOSIS, severity=rng.choice(("mild", "mild", "moderate")))
        yield condition
        drugs = self._drugs(ill, day, temperature)
        for key in drugs:
            yield self.prescription(ref, f"Condition/{condition['id']}", day, minute, who, key, recovery > self.today)
        if ill.test == "ua" or (ill.test == "cbc" and rng.random() < 0.3):
            yield from (self.urinalysis(ref, day, True) if ill.test == "ua" else
                        self.blood_count(ref, day, "bacterial" if ill.kind == "bacterial" else "viral"))
        if ill.refer and rng.random() < 0.5:
            yield from self.referral(ref, day, who, ill.refer, f"{ill.code} {ill.display}")
        lines = [complaint + ".", f"Анамнез заболевания: болеет {_days(sick_days)}. {context}",
                 f"Объективно: {vital_text}. {'. '.join(ill.findings)}.", f"Диагноз: {ill.code} {ill.display}.",
                 f"Назначения: {'; '.join(DRUGS[k].text for k in drugs) or 'без медикаментозной терапии'}.",
                 f"Рекомендации: {'; '.join(rng.sample(_by_age(ILLNESS_ADVICE, self.age(day)), 2))}."]
        yield self.document(ref, day, minute, who, "Протокол приёма врача-педиатра по заболеванию", PROGRESS_NOTE,
                            lines)
        if recovery <= self.today and rng.random() < 0.7:
            yield from self._follow_up(recovery, ill, who)

    def _complaint(self, ill: Illness, temperature: float) -> str:
        picks = self.rng.sample(ill.symptoms, min(len(ill.symptoms), self.rng.randint(2, 3)))
        if temperature >= 37.1:
            picks.insert(self.rng.randint(0, len(picks)), f"повышение температуры до {_ru(temperature)} °C")
        listed = f"{', '.join(picks[:-1])} и {picks[-1]}" if len(picks) > 1 else picks[0]
        return f"Жалобы на {listed}"

    def _drugs(self, ill: Illness, day: date, temperature: float) -> list[str]:
        age, out = self.age(day), []
        for key in ill.drugs:
            if key == "antipyretic":
                if temperature < 38.0:
                    continue
                key = "ibuprofen" if age >= 0.25 and self.rng.random() < 0.4 else "paracetamol"
            elif key == "nose":
                key = "xylometazoline" if age >= 2 else "oxymetazoline"
            elif key == "antibiotic":
                key = ANTIBIOTICS[ill.code]
                if key.startswith("amoxi") and self.no_penicillin and day >= self.no_penicillin:
                    key = "azithromycin"
            if age >= DRUGS[key].min_age:
                out.append(key)
        return out

    def _follow_up(self, day: date, ill: Illness, who: Member) -> Iterator[Resource]:
        day, minute = self.visit_day(day), self.minute()
        enc = self.encounter(day, minute, who, FOLLOW_UP, f"Повторный осмотр: {ill.display}")
        ref = f"Encounter/{enc['id']}"
        yield enc
        vital, vital_text = self.vitals(ref, day, minute, who, self.normal_temperature())
        yield from vital
        age = self.age(day)
        place = "детский сад" if 3 <= age < 7 else "школу" if age >= 7 else ""
        back = f" Может посещать {place} с {(day + timedelta(days=1)).strftime('%d.%m.%Y')}." if place else ""
        lines = [f"Жалоб нет. {vital_text}.", f"Диагноз: {ill.code} {ill.display}, выздоровление.{back}"]
        yield self.document(ref, day, minute, who, "Протокол повторного приёма врача-педиатра", PROGRESS_NOTE, lines)

    def chronic_visit(self, event: _Event) -> Iterator[Resource]:
        """The diagnosis of a chronic condition, or a dispensary visit for it; the last prescriptions stay active."""
        chronic, day, minute, rng = event.data["chronic"], event.day, self.minute(), self.rng
        first = event.kind == "diagnosis"
        specialist = self.clinic.pick(rng, chronic.role)
        reason = chronic.presenting if first else f"Диспансерное наблюдение: {chronic.display}"
        enc = self.encounter(day, minute, specialist, CONSULTATION if first else DISPENSARY, reason, length=30)
        ref = f"Encounter/{enc['id']}"
        yield enc
        course = chronic.presenting if first else rng.choice(chronic.course)
        if first:
            self.health_group = "III"
            condition = self.condition(ref, day, minute, specialist, (chronic.code, chronic.display),
                                       onset=day - timedelta(days=rng.randint(14, 120)), resolved=None,
                                       note=f"{course}. Взят{'а' if self.female else ''} на диспансерный учёт.",
                                       category=PROBLEM_LIST)
            self.chronic[chronic.code] = f"Condition/{condition['id']}"
            yield condition
        reason_ref = self.chronic[chronic.code]
        for key in chronic.drugs:
            yield self.prescription(ref, reason_ref, day, minute, specialist, key, event.data["last"])
        measured = list(self._chronic_tests(ref, day, minute, specialist, chronic))
        yield from measured
        lines = [f"{'Жалобы' if first else 'Динамика'}: {course}.", f"Диагноз: {chronic.code} {chronic.display}.",
                 *(f"{o['code']['text']}: {_ru(o['valueQuantity']['value'])} {o['valueQuantity']['unit']}."
                   for o in measured),
                 f"Терапия: {'; '.join(DRUGS[k].text for k in chronic.drugs) or 'немедикаментозная'}.",
                 f"Следующий осмотр через {12 // chronic.visits} мес."]
        title = "Протокол первичной консультации" if first else "Протокол диспансерного осмотра"
        yield self.document(ref, day, minute, specialist, f"{title} {ROLES[chronic.role].genitive}", CONSULT_NOTE,
                            lines)

    def _chronic_tests(self, encounter: str, day: date, minute: int, who: Member, chronic: Chronic
                       ) -> Iterator[Resource]:
        rng, when = self.rng, _at(day, minute + 5)
        if chronic.test == "hba1c":
            yield self.observation(encounter, when, who, LABORATORY, HBA1C,
                                   ("valueQuantity", _quantity(round(rng.uniform(6.3, 9.5), 1), "%", "%")))
            yield self.observation(encounter, when, who, LABORATORY, GLUCOSE,
                                   ("valueQuantity", _quantity(round(rng.uniform(4.5, 11.0), 1), "ммоль/л", "mmol/L")))
        elif chronic.test == "peak_flow":
            height = self.growth.at((day - self.birth).days)[1]
            flow = round(max(120.0, 5 * height - 400) * rng.uniform(0.75, 1.05))
            yield self.observation(encounter, when, who, EXAM, PEAK_FLOW,
                                   ("valueQuantity", _quantity(flow, "л/мин", "L/min")))

    def allergy(self, event: _Event) -> Iterator[Resource]:
        allergen, day, rng = event.data["allergen"], event.day, self.rng
        if allergen.category == "medication":
            self.no_penicillin = day  # no more amoxicillin from now on
        outgrown = allergen.outgrown and self.after_birth(allergen.outgrown) <= self.today
        reaction = rng.choice(allergen.reactions)
        resource: Resource = {
            "resourceType": "AllergyIntolerance", "id": self.new_id(),
            "clinicalStatus": _status("allergyintolerance-clinical", "resolved" if outgrown else "active"),
            "verificationStatus": _status("allergyintolerance-verification", "confirmed"),
            "type": "allergy", "category": [allergen.category], "criticality": allergen.criticality,
            "code": {"text": allergen.text}, "patient": {"reference": self.patient},
            "onsetDateTime": day.isoformat(), "recordedDate": _at(day, self.minute()),
            "recorder": {"reference": self.doctor.ref},
            "reaction": [{"manifestation": [{"text": reaction}],
                          "description": f"{reaction} после контакта с аллергеном ({allergen.text.lower()})",
                          "severity": "moderate" if allergen.criticality == "high" else "mild"}],
        }
        if outgrown:
            resource["note"] = [{"text": f"Толерантность сформировалась к {allergen.outgrown} годам"}]
        yield resource


def _dosage(drug: Drug, weight: float) -> dict[str, Any]:
    times = f"{drug.per_day} {_plural(drug.per_day, 'раз', 'раза', 'раз')} в сутки"
    dosage: dict[str, Any] = {"sequence": 1}
    if drug.per_kg:
        mg = min(drug.max_mg, max(5, round(weight * drug.per_kg / 5) * 5))  # doses are rounded to 5 mg
        dose = f"По {mg} мг"
    else:
        dose = drug.fixed[0].upper() + drug.fixed[1:]
    if drug.when:
        dosage["text"] = f"{dose} {drug.when}, не чаще {times}, до {_days(drug.days)}"
    else:
        dosage["text"] = f"{dose} {times}, {_days(drug.days)}"
    dosage["timing"] = {"repeat": {"boundsDuration": {"value": drug.days, "unit": "сут", "system": UCUM, "code": "d"},
                                   "frequency": drug.per_day, "period": 1, "periodUnit": "d"}}
    if drug.when:
        dosage["asNeededBoolean"] = True
    dosage["route"] = {"text": drug.route}
    if drug.per_kg:
        dosage["doseAndRate"] = [{"doseQuantity": _quantity(mg, "мг", "mg")}]
    return dosage


def _measured(value: float, analyte: Analyte) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if analyte.unit:
        out["unit"] = analyte.unit
    out.update({"system": UCUM, "code": analyte.ucum})
    return out


def _blood_count(rng: random.Random, age: float, state: str) -> list[tuple[Analyte, Any]]:
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
    neutrophils = int(_clamp(neutrophils, 10, 90 - eosinophils - monocytes))
    lymphocytes = 100 - neutrophils - eosinophils - monocytes - rng.randint(0, 1)  # the rest: basophils
    esr = round(rng.uniform(2, 9) + (rng.uniform(10, 25) if state == "bacterial" else 0))
    return [(HB, around(HB)), (RBC, around(RBC)), (HCT, around(HCT)), (WBC, around(WBC, shift)),
            (PLT, around(PLT)), (NEU, neutrophils), (LYM, lymphocytes), (MON, monocytes), (EOS, eosinophils),
            (ESR, esr)]


def _blood_conclusion(flags: list[tuple[str, str]]) -> str:
    found = [BLOOD_FLAGS[key] for key in flags if key in BLOOD_FLAGS]
    return f"Выявлено: {', '.join(found)}" if found else "Показатели в пределах возрастной нормы"


def _urinalysis(rng: random.Random, age: float, infection: bool) -> list[tuple[Analyte, Any]]:
    low, high = URINE_SG.normal(age)
    return [
        (URINE_COLOR, rng.choice(("соломенно-жёлтая", "светло-жёлтая", "жёлтая"))),
        (URINE_SG, round(rng.uniform(low, high), 3)), (URINE_PH, round(rng.uniform(5.0, 7.0) * 2) / 2),
        (URINE_PROTEIN, "следы (0,1 г/л)" if infection and rng.random() < 0.5 else "не обнаружен"),
        (URINE_GLUCOSE, "не обнаружена"),
        (URINE_WBC, rng.randint(20, 60) if infection else rng.randint(0, 4)),
        (URINE_RBC, rng.randint(0, 4) if infection else rng.randint(0, 1)),
    ]


def _urine_conclusion(flags: list[tuple[str, str]]) -> str:
    if ("H", "5821-4") in flags:
        return "Лейкоцитурия" + (", следовая протеинурия" if ("H", "20454-5") in flags else "")
    return "Без патологических изменений"


def child_history(
    rng: random.Random, patient_id: str, birth_date: date, gender: str, clinic: Clinic, *,
    new_id: Callable[[], str] | None = None, today: date = TODAY,
) -> Iterator[Resource]:
    """One child's whole record from birth to ``today`` in date order, the Patient itself not included.

    References name the Patient, the clinic's Organization and Practitioners, and resources yielded
    before them. Ids come from ``new_id``, by default a counter under a prefix derived from the patient id.
    """
    chart = _Chart(rng, patient_id, birth_date, gender == "female", clinic, new_id or id_maker(patient_id), today)
    yield from chart.history()


# ---------------------------------------------------------------------------------------------------
# Output, checks and the data set


class CheckFailed(Exception):
    """A resource is not valid R4, reuses an id, or names a resource not written before it."""


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


class _Checker:
    """Checks references against what was written (the shared resources, then one record at a time)."""

    def __init__(self, every: int) -> None:
        from medcard.fhir.validation import validation_issues  # only --check needs medcard itself

        self.validation_issues = validation_issues
        self.every = every
        self.shared: set[str] = set()
        self.record: set[str] = set()
        self.current = self.shared

    def check(self, resource: Resource, nth: int) -> None:
        key = f"{resource['resourceType']}/{resource['id']}"
        for target in _references(resource):
            if target not in self.record and target not in self.shared:
                raise CheckFailed(f"{key}: {target} is not a resource written before it")
        if key in self.record or key in self.shared:
            raise CheckFailed(f"{key}: the id is used twice")
        self.current.add(key)
        if (nth - 1) % self.every == 0:
            problems = self.validation_issues(resource)
            if problems:
                listed = "; ".join(f"{', '.join(p.expression)}: {p.diagnostics}" for p in problems)
                raise CheckFailed(f"{key} is not valid R4: {listed}\n{orjson.dumps(resource).decode()}")


class NdjsonSink:
    """Writes each resource as one line of ``<Type>.ndjson`` through large buffers, counting them."""

    def __init__(self, out: Path, check_every: int = 0) -> None:
        self._stack = ExitStack()
        self._files = {rtype: self._stack.enter_context((out / f"{rtype}.ndjson").open("wb", buffering=1 << 20))
                       for rtype in LOAD_ORDER}
        self.counts = dict.fromkeys(LOAD_ORDER, 0)
        self._checker = _Checker(check_every) if check_every > 0 else None

    def __enter__(self) -> NdjsonSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stack.close()

    def write(self, resource: Resource) -> None:
        rtype = resource["resourceType"]
        nth = self.counts[rtype] = self.counts[rtype] + 1
        if self._checker is not None:
            self._checker.check(resource, nth)
        self._files[rtype].write(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))

    def shared_done(self) -> None:
        """What follows is per-patient records: references may name the shared resources and their own."""
        if self._checker is not None:
            self._checker.current = self._checker.record

    def next_record(self) -> None:
        if self._checker is not None:
            self._checker.record.clear()

    def total(self) -> int:
        return sum(self.counts.values())


def _child_age_days(rng: random.Random, index: int, children: int, years: int) -> int:
    """Ages spread evenly up to ``years``; the last child is ``years`` old and a few weeks."""
    return min(round(years * 365.25 * (index + 1) / children) + rng.randint(1, 40), MAX_AGE_DAYS)


MAX_AGE_DAYS = (TODAY - TODAY.replace(year=TODAY.year - 18)).days - 1  # 17 years and 364 days


def generate(out: Path, children: int, demographic: int, seed: int, years: int = 15, *, check_every: int = 0,
             log: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write the data set into ``out``: the number of resources written per type.

    ``check_every`` > 0 checks every reference and validates every check_every-th resource of each type
    (raising CheckFailed); ``log`` receives progress lines and, at the end, resources per child by age.
    """
    if not 1 <= years <= 17:
        raise ValueError("years is the age of the oldest full-history child: 1 to 17")
    out.mkdir(parents=True, exist_ok=True)
    ids = Identifiers(seed)
    clinics, shared = clinics_and_staff(seed, ids)
    new_patient = id_maker(f"{seed}/Patient")
    by_age: dict[int, list[int]] = {}
    with NdjsonSink(out, check_every) as sink:
        for resource in shared:
            sink.write(resource)
        sink.shared_done()
        for index in range(children):
            rng = random.Random(f"{seed}/child/{index}")
            birth = TODAY - timedelta(days=_child_age_days(rng, index, children, years))
            female, clinic = rng.random() < 0.49, clinics[int(rng.random() * len(clinics))]
            pid, before = new_patient(), sink.total()
            sink.next_record()
            sink.write(patient_resource(rng, pid, index, birth, female, clinic, ids))
            for resource in child_history(rng, pid, birth, "female" if female else "male", clinic):
                sink.write(resource)
            by_age.setdefault(int((TODAY - birth).days / 365.25), []).append(sink.total() - before)
        _demographic(sink, random.Random(f"{seed}/demographic"), range(children, children + demographic), clinics,
                     ids, new_patient, log)
    if log is not None:
        for age, sizes in sorted(by_age.items()):
            log(f"full history, age {age:>2}: {len(sizes)} children, {min(sizes)}-{max(sizes)} resources "
                f"(mean {sum(sizes) / len(sizes):.0f})")
    return dict(sink.counts)


def _demographic(sink: NdjsonSink, rng: random.Random, indexes: range, clinics: list[Clinic], ids: Identifiers,
                 new_patient: Callable[[], str], log: Callable[[str], None] | None) -> None:
    """Patients with no record: 0-17 years old on TODAY, uniformly."""
    today, write, next_record = TODAY.toordinal(), sink.write, sink.next_record
    for done, index in enumerate(indexes, 1):
        birth = date.fromordinal(today - int(rng.random() * (MAX_AGE_DAYS + 1)))
        female, clinic = rng.random() < 0.49, clinics[int(rng.random() * len(clinics))]
        next_record()
        write(patient_resource(rng, new_patient(), index, birth, female, clinic, ids))
        if log is not None and done % 500_000 == 0:
            log(f"{done:,} demographic patients")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="directory for the NDJSON files")
    parser.add_argument("--children", type=int, default=0, help="children with a whole record")
    parser.add_argument("--demographic", type=int, default=0, help="more children with only a Patient resource")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--years", type=int, default=15, help="age of the oldest full-history child (1-17)")
    parser.add_argument("--check", type=int, nargs="?", const=1, default=0, metavar="EVERY",
                        help="check references and validate every resource (or every EVERY-th of each type)")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    try:
        counts = generate(args.out, args.children, args.demographic, args.seed, args.years,
                          check_every=args.check, log=log)
    except CheckFailed as problem:
        log(f"check failed: {problem}")
        return 1
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    for rtype, count in counts.items():
        log(f"{rtype:>20} {count:>12,}")
    log(f"{'total':>20} {total:>12,} resources in {elapsed:.1f} s: {total / elapsed:,.0f} resources/s")
    if args.check:
        sample = "every resource" if args.check == 1 else f"every {args.check}th resource of each type"
        log(f"check: every reference resolved, {sample} valid R4, no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
