"""Documents of a synthetic child beyond visit protocols: certificates and the paper card.

Certificates (kindergarten and school entry, 086/у for teenagers, pool and sports) come from a
short visit and are HTML documents; a child born before the electronic era has a
DocumentReference for the archived paper card (form 112/у) covering birth to the era's start.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date, timedelta

from medcard.synth import texts
from medcard.synth.fhirdata import CERTIFICATE, CHECK_UP, PAPER_CARD, Resource, at, ru_date
from medcard.synth.record import ELECTRONIC_FROM, Record

# (age in years from, to, chance, title): certificates a child typically needs
CERTIFICATE_KINDS = (
    (2.5, 3.5, 0.8, "Медицинская справка для поступления в дошкольную образовательную организацию"),
    (6.3, 7.2, 0.85, "Медицинская справка для поступления в общеобразовательную организацию (1 класс)"),
    (15.0, 17.9, 0.5, "Медицинская справка (врачебное профессионально-консультативное заключение) ф. 086/у"),
)
CHECKS_PER_YEAR_FROM_AGE_4 = 0.35


def plan_certificates(record: Record) -> list[tuple[date, str]]:
    rng, out = record.rng, []
    for low, high, chance, title in CERTIFICATE_KINDS:
        if rng.random() < chance:
            day = record.open_day(record.after_birth(rng.uniform(low, high)))
            if ELECTRONIC_FROM <= day <= record.today:
                out.append((day, title))
    year = 4
    while (day := record.after_birth(year + rng.random())) <= record.today:
        if day >= ELECTRONIC_FROM and rng.random() < CHECKS_PER_YEAR_FROM_AGE_4:
            out.append((record.open_day(day), rng.choice(texts.CERTIFICATES)))
        year += 1
    return [(d, t) for d, t in out if d <= record.today]


def certificate(record: Record, day: date, title: str) -> Iterator[Resource]:
    """A short visit and the certificate issued (HTML)."""
    minute = record.minute()
    enc = record.encounter(day, minute, record.doctor, CHECK_UP, title)
    yield enc
    lines = [f"Выдана: {_patient_text(record)}, дата рождения {ru_date(record.birth)}.",
             f"Цель: {title[0].lower() + title[1:]}.",
             f"Группа здоровья: {record.health_group}. Физкультурная группа: {texts.PE_GROUP_TEXT[record.pe_group]}.",
             "Профилактические прививки: по национальному календарю (сведения в карте прививок).",
             f"{'. '.join(record.rng.sample(texts.WELL_FINDINGS, 2))}.",
             "Противопоказаний не выявлено." if record.health_group != "III" else
             "Может посещать с учётом рекомендаций по хроническому заболеванию."]
    yield record.document(f"Encounter/{enc['id']}", day, minute, record.doctor, title, CERTIFICATE, lines, html=True)


def _patient_text(record: Record) -> str:
    return "ребёнку" if record.age(record.today) < 14 else "пациенту"


def paper_card(record: Record, card_number: str, archivist: str) -> Resource | None:
    """The archived paper card (f. 112/у) of a child born before the electronic era, or None."""
    if record.birth >= ELECTRONIC_FROM:
        return None
    end = ELECTRONIC_FROM - timedelta(days=1)
    years = end.year - record.birth.year + 1
    volumes = 1 + years // 6
    text = "\n".join([
        "История развития ребёнка (ф. 112/у)",
        f"Номер карты: {card_number}. Томов: {volumes}.",
        f"Период ведения: {ru_date(record.birth)} — {ru_date(end)}.",
        "Содержит: сведения о рождении, патронажи, плановые осмотры с антропометрией, этапные эпикризы, "
        "листы прививок (ф. 063/у), эпизоды заболеваний и консультации специалистов.",
        f"С {ru_date(ELECTRONIC_FROM)} медицинская документация ведётся в электронном виде; "
        "бумажная карта передана в архив поликлиники.",
    ])
    when = at(ELECTRONIC_FROM + timedelta(days=record.rng.randint(0, 60)), record.minute())
    return {
        "resourceType": "DocumentReference", "id": record.new_id(),
        "identifier": [{"system": f"urn:medcard:paper-card:{record.clinic.number}", "value": card_number}],
        "status": "current", "type": PAPER_CARD, "subject": {"reference": record.patient}, "date": when,
        "author": [{"reference": archivist}], "custodian": {"reference": record.clinic.ref},
        "description": f"Бумажная история развития ребёнка (ф. 112/у) № {card_number}, передана в архив",
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "language": "ru",
                                    "data": base64.b64encode(text.encode()).decode("ascii"),
                                    "title": "История развития ребёнка (ф. 112/у)"}}],
        "context": {"period": {"start": record.birth.isoformat(), "end": end.isoformat()}},
    }
