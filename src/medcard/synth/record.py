"""One child's record under construction: who the child is, and the builders every visit uses.

:class:`Record` carries the child's state (clinic, district pediatrician, growth track, chronic
conditions) and makes the common resources: Encounters, Observations, Conditions, prescriptions,
documents. The visit modules (:mod:`.examinations`, :mod:`.illness`, :mod:`.immunizations`,
:mod:`.documents`) plan and write the events of a life with them.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from medcard.core.wording import plural
from medcard.pediatrics.rules import ChildSex
from medcard.synth.anthropometry import GrowthTrack
from medcard.synth.clinics import ROLES, Clinic, Member
from medcard.synth.fhirdata import (
    ACTIVE,
    AMBULATORY,
    ATC,
    CONFIRMED,
    HOME,
    ICD10,
    PRIMARY_PERFORMER,
    RESOLVED,
    SEVERITY,
    SPECIALIST,
    UCUM,
    Resource,
    at,
    concept,
    days_text,
    quantity,
    ru_date,
    seeded,
)
from medcard.synth.illnesses import DRUGS, Drug

# Records are electronic from the day the first examination act medcard knows (514н) took effect;
# what came before is in the paper card (form 112/у), which went to the archive.
ELECTRONIC_FROM = date(2018, 1, 1)


@dataclass(slots=True)
class Record:
    """A child's record being written: identity, attachment and what earlier events left behind."""

    rng: random.Random
    patient: str  # Patient/<id>
    birth: date
    sex: ChildSex
    clinic: Clinic
    doctor: Member  # the district pediatrician
    new_id: Callable[[], str]
    today: date
    growth: GrowthTrack
    health_group: str = "I"
    pe_group: str = "main"
    no_penicillin: date | None = None
    illness_count: int = 0
    chronic: dict[str, str] = field(default_factory=dict)  # ICD-10 code -> Condition/<id>

    @property
    def female(self) -> bool:
        return self.sex == "female"

    def age(self, day: date) -> float:
        return (day - self.birth).days / 365.25

    def age_days(self, day: date) -> int:
        return (day - self.birth).days

    def after_birth(self, years: float) -> date:
        return self.birth + timedelta(days=round(years * 365.25))

    def open_day(self, day: date) -> date:
        """The day itself, or the Monday after a Sunday (polyclinics are closed on Sundays)."""
        return day + timedelta(days=1) if day.weekday() == 6 else day

    def minute(self) -> int:
        return self.rng.randint(8 * 60, 19 * 60)

    def ending(self, female: str = "а") -> str:
        return female if self.female else ""

    # builders ----------------------------------------------------------------------------------

    def encounter(self, day: date, minute: int, who: Member, kind: dict[str, Any], reason: str, *,
                  home: bool = False, length: int = 20, part_of: str = "") -> Resource:
        """A finished visit; ``serviceType`` is the specialist's code (docs/fhir-conventions.md)."""
        resource: Resource = {
            "resourceType": "Encounter", "id": self.new_id(), "status": "finished",
            "class": HOME if home else AMBULATORY, "type": [kind]}
        role = ROLES[who.role]
        if role.specialist:
            resource["serviceType"] = {"coding": [{"system": SPECIALIST, "code": who.role}], "text": role.title}
        resource.update({
            "subject": {"reference": self.patient},
            "participant": [{"type": PRIMARY_PERFORMER, "individual": {"reference": who.ref}}],
            "period": {"start": at(day, minute), "end": at(day, minute + length)},
            "reasonCode": [{"text": reason}]})
        if not home:
            resource["location"] = [{"location": {"reference": who.location}}]
        resource["serviceProvider"] = {"reference": self.clinic.ref}
        if part_of:
            resource["partOf"] = {"reference": part_of}
        return resource

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

    def condition(self, encounter: str, day: date, minute: int, who: Member, code: str, display: str, *,
                  onset: date, resolved: date | None, note: str, category: dict[str, Any],
                  severity: str = "") -> Resource:
        resource: Resource = {
            "resourceType": "Condition", "id": self.new_id(),
            "clinicalStatus": RESOLVED if resolved else ACTIVE, "verificationStatus": CONFIRMED,
            "category": [category], "code": concept(ICD10, code, display, display),
            "subject": {"reference": self.patient}, "encounter": {"reference": encounter},
            "onsetDateTime": max(onset, self.birth).isoformat(),
        }
        if severity:
            resource["severity"] = SEVERITY[severity]
        if resolved:
            resource["abatementDateTime"] = resolved.isoformat()
        resource.update({"recordedDate": at(day, minute + 10), "recorder": {"reference": who.ref},
                         "note": [{"text": note}]})
        return resource

    def prescription(self, encounter: str, reason: str, day: date, minute: int, who: Member, key: str,
                     active: bool) -> Resource:
        drug = DRUGS[key]
        medication: dict[str, Any] = {"text": drug.text}
        if drug.atc:
            medication = {"coding": [{"system": ATC, "code": drug.atc}], "text": drug.text}
        weight = self.growth.measure(seeded("weight"), max(0, self.age_days(day))).weight_kg
        return {
            "resourceType": "MedicationRequest", "id": self.new_id(), "status": "active" if active else "completed",
            "intent": "order", "medicationCodeableConcept": medication, "subject": {"reference": self.patient},
            "encounter": {"reference": encounter}, "authoredOn": at(day, minute + 15),
            "requester": {"reference": who.ref},
            **({"reasonReference": [{"reference": reason}]} if reason.startswith("Condition/") else
               {"reasonCode": [{"text": reason}]}),
            "dosageInstruction": [dosage(drug, weight)],
        }

    def document(self, encounter: str, day: date, minute: int, who: Member, title: str, kind: dict[str, Any],
                 lines: list[str], *, related: str = "", html: bool = False) -> Resource:
        """A document with its text inline (base64): plain text, or a small HTML page."""
        header = [title, f"Дата: {ru_date(day)}", f"{ROLES[who.role].title}: {who.name}"]
        if html:
            body = "".join(f"<p>{line}</p>" for line in [*header[1:], *lines])
            text, content_type = (f'<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>{title}'
                                  f"</title></head><body><h1>{title}</h1>{body}</body></html>"), "text/html"
        else:
            text, content_type = "\n".join([*header, *lines]), "text/plain"
        context: dict[str, Any] = {}
        if encounter:
            context["encounter"] = [{"reference": encounter}]
        context["period"] = {"start": at(day, minute)}
        if related:
            context["related"] = [{"reference": related}]
        return {
            "resourceType": "DocumentReference", "id": self.new_id(), "status": "current", "docStatus": "final",
            "type": kind, "subject": {"reference": self.patient}, "date": at(day, minute + 25),
            "author": [{"reference": who.ref}], "custodian": {"reference": self.clinic.ref}, "description": title,
            "content": [{"attachment": {"contentType": f"{content_type}; charset=utf-8", "language": "ru",
                                        "data": base64.b64encode(text.encode()).decode("ascii"), "title": title,
                                        "creation": at(day, minute + 25)}}],
            "context": context,
        }


def dosage(drug: Drug, weight: float) -> dict[str, Any]:
    """A dosage instruction in Russian, weight-based where the drug is."""
    times = f"{drug.per_day} {plural(drug.per_day, 'раз', 'раза', 'раз')} в сутки"
    result: dict[str, Any] = {"sequence": 1}
    mg = 0
    if drug.per_kg:
        mg = min(drug.max_mg, max(5, round(weight * drug.per_kg / 5) * 5))  # doses are rounded to 5 mg
        dose = f"По {mg} мг"
    else:
        dose = drug.fixed[0].upper() + drug.fixed[1:]
    if drug.when:
        result["text"] = f"{dose} {drug.when}, не чаще {times}, до {days_text(drug.days)}"
    else:
        result["text"] = f"{dose} {times}, {days_text(drug.days)}"
    result["timing"] = {"repeat": {"boundsDuration": {"value": drug.days, "unit": "сут", "system": UCUM, "code": "d"},
                                   "frequency": drug.per_day, "period": 1, "periodUnit": "d"}}
    if drug.when:
        result["asNeededBoolean"] = True
    result["route"] = {"text": drug.route}
    if drug.per_kg:
        result["doseAndRate"] = [{"doseQuantity": quantity(mg, "мг", "mg")}]
    return result
