"""Immunization resources of a synthetic child, from the plan of :mod:`medcard.synth.vaccination`.

Doses of the maternity hospital and of the paper era are transcribed (``primarySource`` false,
with the document they come from); later ones are given at the polyclinic's vaccination room in
a visit of their own. Refusals and medical exemptions are ``not-done`` Immunizations with the
reasons and the ``exemption-until`` extension of docs/fhir-conventions.md; risk groups are Flags.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from itertools import groupby
from typing import Any

from medcard.pediatrics.rules import calendars
from medcard.synth import texts
from medcard.synth.fhirdata import (
    ACT_REASON,
    ADMINISTERING,
    EXEMPTION_UNTIL,
    MEDCARD,
    SNOMED,
    SYNTH_TAG,
    TERMINOLOGY,
    VACCINATION,
    Resource,
    at,
    concept,
    quantity,
    ru_date,
)
from medcard.synth.record import ELECTRONIC_FROM, Record
from medcard.synth.vaccination import VACCINES, Dose

ROUTES = {"IM": ("Injection, intramuscular", "Внутримышечно"), "IDINJ": ("Injection, intradermal", "Внутрикожно"),
          "PO": ("Swallow, oral", "Перорально"), "SC": ("Injection, subcutaneous", "Подкожно")}
SITES = {"LT": ("left thigh", "Передненаружная поверхность левого бедра"),
         "RT": ("right thigh", "Передненаружная поверхность правого бедра"),
         "LD": ("left deltoid", "Левое плечо, дельтовидная мышца"),
         "RD": ("right deltoid", "Правое плечо, дельтовидная мышца"),
         "LA": ("left arm", "Наружная поверхность левого плеча")}
REACTIONS = ("Реакций на прививку нет", "Реакций нет", "Местная реакция: гиперемия до 1 см в месте введения",
             "Кратковременное повышение температуры до 37,5 °C в день прививки",
             "Поствакцинальный период без особенностей", "Местная реакция: уплотнение до 1,5 см, прошло через 2 дня")
RISK_GROUP_SYSTEM = MEDCARD + "immunization-risk-group"


def _disease(code: str) -> dict[str, Any]:
    disease = next(cal.diseases[code] for cal in calendars().versions if code in cal.diseases)
    return {"coding": [{"system": SNOMED, "code": code, "display": disease.display}], "text": disease.name_ru}


def vaccinations(record: Record, doses: list[Dose]) -> Iterator[Resource]:
    """Every dose, refusal and exemption: transcribed before the electronic era, else in a visit per day."""
    for day, same_day in groupby(doses, key=lambda d: d.day):
        group = list(same_day)
        if day < ELECTRONIC_FROM or record.age_days(day) < 8:
            for dose in group:
                yield immunization(record, "", dose, None)
            continue
        yield from _visit(record, day, group)


def _visit(record: Record, day: date, group: list[Dose]) -> Iterator[Resource]:
    rng = record.rng
    minute = record.minute()
    given = [d for d in group if d.status == "completed"]
    reason = ("Вакцинация против гриппа" if all(d.vaccine == "flu" for d in group) else
              "Вакцинация по национальному календарю профилактических прививок" if given else
              "Осмотр перед вакцинацией")
    doctor = record.doctor
    encounter = record.encounter(day, minute, doctor, VACCINATION, reason, length=15)
    yield encounter
    nurse = record.clinic.pick(rng, "nurse")
    for dose in group:
        yield immunization(record, f"Encounter/{encounter['id']}", dose, nurse.ref, minute + 10)


def immunization(record: Record, encounter: str, dose: Dose, nurse: str | None, minute: int = 0) -> Resource:
    """One Immunization: given here (``nurse`` set), transcribed, refused or exempted."""
    rng, vaccine = record.rng, VACCINES[dose.vaccine]
    minute = minute or rng.randint(480, 1200)
    product = rng.choice(vaccine.products)
    resource: Resource = {"resourceType": "Immunization", "id": record.new_id()}
    if dose.delayed:
        resource["meta"] = {"tag": [{"system": SYNTH_TAG, "code": "delayed",
                                     "display": "Given after the calendar's overdue date"}]}
    resource["status"] = dose.status
    if dose.status == "not-done":
        code = "PATOBJ" if dose.reason == "refusal" else "MEDPREC"
        text = "Отказ законного представителя" if code == "PATOBJ" else "Медицинский отвод"
        resource["statusReason"] = concept(ACT_REASON, code, "patient objection" if code == "PATOBJ" else
                                           "medical precaution", text)
        if dose.exemption_until is not None:
            resource["extension"] = [{"url": EXEMPTION_UNTIL, "valueDate": dose.exemption_until.isoformat()}]
    resource["vaccineCode"] = {"coding": [{"system": MEDCARD + "vaccine", "code": vaccine.code}], "text": product}
    resource["patient"] = {"reference": record.patient}
    if encounter:
        resource["encounter"] = {"reference": encounter}
    resource["occurrenceDateTime"] = at(dose.day, minute)
    transcribed = nurse is None
    recorded = dose.day if not transcribed else min(max(dose.day + timedelta(days=5), ELECTRONIC_FROM), record.today)
    resource["recorded"] = at(recorded, minute)
    if dose.status == "completed":
        resource["primarySource"] = not transcribed
        if transcribed:
            resource["reportOrigin"] = {"text": "Выписка из родильного дома" if record.age_days(dose.day) < 8
                                        else "Карта профилактических прививок (ф. 063/у)"}
        _given(record, resource, dose, nurse)
    else:
        note = rng.choice(texts.REFUSAL_NOTES) if dose.reason == "refusal" else rng.choice(texts.EXEMPTION_REASONS)
        if dose.exemption_until is not None:
            note += f". Медотвод до {ru_date(dose.exemption_until)}"
        elif dose.reason == "medical-exemption":
            note += ". Постоянный медотвод"
        resource["note"] = [{"text": note}]
    resource["protocolApplied"] = [{"targetDisease": [_disease(code) for code in dose.diseases],
                                    "doseNumberPositiveInt": dose.dose_number}]
    return resource


def _given(record: Record, resource: Resource, dose: Dose, nurse: str | None) -> None:
    rng, vaccine, day = record.rng, VACCINES[dose.vaccine], dose.day
    resource["lotNumber"] = f"{rng.randint(100, 999)}{rng.choice('ABCDEKMNPT')}{day.year % 100:02d}"
    resource["expirationDate"] = (day + timedelta(days=rng.randint(120, 700))).isoformat()
    if vaccine.route != "PO":
        infant = record.age_days(day) < 730  # the thigh until 2 years, the shoulder after
        site = "LA" if dose.vaccine in ("bcg", "bcg-m") else rng.choice(("LT", "RT") if infant else ("LD", "RD"))
        resource["site"] = concept(TERMINOLOGY + "v3-ActSite", site, *SITES[site])
    display, text = ROUTES[vaccine.route]
    resource["route"] = concept(TERMINOLOGY + "v3-RouteOfAdministration", vaccine.route, display, text)
    resource["doseQuantity"] = quantity(vaccine.dose_ml, "мл", "mL")
    if nurse is not None:
        resource["performer"] = [{"function": ADMINISTERING, "actor": {"reference": nurse}}]
    notes = [rng.choice(REACTIONS)] if nurse is not None else []
    if dose.delayed:
        notes.append(rng.choice(texts.DELAY_NOTES))
    if notes:
        resource["note"] = [{"text": ". ".join(notes)}]


def risk_flags(record: Record, groups: frozenset[str]) -> Iterator[Resource]:
    """A Flag per risk group of the calendar the child belongs to."""
    cal = calendars().versions[-1]
    for code in sorted(groups):
        yield {"resourceType": "Flag", "id": record.new_id(), "status": "active",
               "code": {"coding": [{"system": RISK_GROUP_SYSTEM, "code": code}],
                        "text": cal.risk_groups[code].name_ru.split(":")[0]},
               "subject": {"reference": record.patient}, "period": {"start": record.birth.isoformat()},
               "author": {"reference": record.doctor.ref}}
