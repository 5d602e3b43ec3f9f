"""A checked visit as FHIR resources, and the one transaction Bundle they are saved in.

The resources are those the synthetic city writes for a visit (docs/fhir-conventions.md), so the
chart, the timeline, the growth and examination engines and the documents read both alike:

- the Encounter (``class`` AMB; a sick visit, or a preventive examination whose pediatrician's part
  is an Encounter ``partOf`` it with ``serviceType`` pediatrician, as the schedule counts it);
- one Condition per diagnosis (ICD-10 code, its Russian title as display and text, the list's version),
  ranked in ``Encounter.diagnosis`` (the main one first);
- vital-sign Observations (weight, length or height, head circumference, temperature, heart rate,
  respiratory rate, SpO₂; BMI from 2 years) coded in LOINC with UCUM units as the FHIR vital signs
  profiles ask; the health and PE groups of an examination;
- a MedicationRequest per prescription, a ServiceRequest per test ordered and per referral;
- an Appointment (``proposed``) for the next visit when it has a date;
- the protocol as a DocumentReference (Progress note, plain text inline), the text a clinician reads.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from medcard.core.time import CLINIC_TZ
from medcard.pediatrics.rules import ExaminationAct
from medcard.records import coding as c
from medcard.records.visit import FEEDING, MEASURES, TEXT_FIELDS, Child, Visit, examination_act
from medcard.records.vitals import LYING_UNDER_DAYS, bmi

Resource = dict[str, Any]
BMI_FROM_DAYS = 730  # the city records BMI from 2 years, when height is measured standing


@dataclass(frozen=True)
class Author:
    """Who writes the visit: their Practitioner, name and title for the protocol, and their clinic."""

    practitioner: str | None  # Practitioner/<id>
    name: str
    title: str
    organization: str | None  # Organization/<id>


class _Builder:
    """Resources of one visit; each gets a ``urn:uuid:`` full URL the transaction replaces with its id."""

    def __init__(self, visit: Visit, child: Child, author: Author, now: datetime, key: str) -> None:
        self.visit, self.child, self.author, self.key = visit, child, author, key
        self.when = c.at(datetime.combine(visit.day, now.astimezone(CLINIC_TZ).timetz()))
        self.patient = {"reference": f"Patient/{child.id}"}
        self.entries: list[tuple[str, Resource]] = []
        self.act: ExaminationAct | None = examination_act(visit.day)

    def add(self, resource: Resource) -> str:
        url = f"urn:uuid:{uuid.uuid4()}"
        self.entries.append((url, resource))
        return url

    def performer(self) -> list[dict[str, str]]:
        return [{"reference": self.author.practitioner}] if self.author.practitioner else []


def _encounter(b: _Builder, title: str) -> Resource:
    visit = b.visit
    resource: Resource = {
        "resourceType": "Encounter", "identifier": [{"system": c.VISIT_FORM, "value": b.key}],
        "status": "finished", "class": c.AMBULATORY,
        "type": [c.PREVENTIVE if visit.kind == "well-child" else c.SICK_VISIT], "subject": b.patient}
    if b.author.practitioner:
        resource["participant"] = [{"type": c.PRIMARY_PERFORMER,
                                    "individual": {"reference": b.author.practitioner}}]
    resource["period"] = {"start": b.when}
    reason = title if visit.kind == "well-child" else (visit.texts.get("complaints") or visit.diagnoses[0].title_ru)
    resource["reasonCode"] = [{"text": reason[:500]}]
    if b.author.organization:
        resource["serviceProvider"] = {"reference": b.author.organization}
    return resource


def _pediatrician_part(b: _Builder, encounter: str) -> Resource:
    """The pediatrician's own part of a preventive examination (how the schedule sees who examined)."""
    resource = _encounter(b, "Профилактический медицинский осмотр")
    resource.pop("identifier")
    resource["serviceType"] = {"coding": [{"system": c.SPECIALIST, "code": "pediatrician"}], "text": "Врач-педиатр"}
    resource["reasonCode"] = [{"text": "Профилактический медицинский осмотр"}]
    resource["partOf"] = {"reference": encounter}
    return resource


def _observation(b: _Builder, encounter: str, category: list[dict[str, Any]], code: dict[str, Any],
                 value: tuple[str, Any]) -> Resource:
    resource: Resource = {"resourceType": "Observation", "status": "final", "category": category, "code": code,
                          "subject": b.patient, "encounter": {"reference": encounter}, "effectiveDateTime": b.when}
    if b.author.practitioner:
        resource["performer"] = b.performer()
    resource[value[0]] = value[1]
    return resource


def _vitals(b: _Builder, encounter: str) -> list[tuple[str, Resource]]:
    """(protocol line, Observation) for each measurement typed, and BMI from 2 years."""
    m, lying = b.visit.measures, b.child.age_days(b.visit.day) < LYING_UNDER_DAYS
    out = []
    codes = {"weight": (c.WEIGHT, "кг", "kg"), "height": (c.LENGTH if lying else c.HEIGHT, "см", "cm"),
             "head": (c.HEAD, "см", "cm"), "temperature": (c.TEMPERATURE, "°C", "Cel"),
             "heart_rate": (c.HEART_RATE, "уд/мин", "/min"), "respiratory_rate": (c.RESPIRATORY_RATE, "/мин", "/min"),
             "spo2": (c.OXYGEN_SATURATION, "%", "%")}
    for measure in MEASURES:
        if measure.field in m:
            code, unit, ucum = codes[measure.field]
            out.append((f"{code['text']}: {c.ru_number(m[measure.field])} {unit}.",
                        _observation(b, encounter, c.VITAL, _copy(code),
                                     ("valueQuantity", c.quantity(m[measure.field], unit, ucum)))))
    if "weight" in m and "height" in m and b.child.age_days(b.visit.day) >= BMI_FROM_DAYS:
        value = bmi(m["weight"], m["height"])
        out.append((f"{c.BMI['text']}: {c.ru_number(value)} кг/м².",
                    _observation(b, encounter, c.VITAL, _copy(c.BMI),
                                 ("valueQuantity", c.quantity(value, "кг/м²", "kg/m2")))))
    return out


def _copy(code: dict[str, Any]) -> dict[str, Any]:
    return {"coding": [dict(x) for x in code["coding"]], "text": code["text"]}


def _condition(b: _Builder, encounter: str, index: int) -> Resource:
    d = b.visit.diagnoses[index]
    resource: Resource = {
        "resourceType": "Condition", "clinicalStatus": c.ACTIVE, "verificationStatus": c.CONFIRMED,
        "category": [c.ENCOUNTER_DIAGNOSIS],
        "code": {"coding": [{"system": c.ICD10, "version": d.version, "code": d.code, "display": d.title_ru}],
                 "text": d.title_ru},
        "subject": b.patient, "encounter": {"reference": encounter}, "onsetDateTime": b.visit.day.isoformat(),
        "recordedDate": b.when}
    if b.author.practitioner:
        resource["recorder"] = {"reference": b.author.practitioner}
    return resource


def _groups(b: _Builder, encounter: str) -> list[Resource]:
    out = []
    for what, value, label in (("health-group", b.visit.health_group, "Группа здоровья"),
                               ("pe-group", b.visit.pe_group, "Медицинская группа для занятий физкультурой")):
        if value is None or b.act is None:
            continue
        codes = b.act.health_groups if what == "health-group" else b.act.pe_groups
        out.append(_observation(b, encounter, c.EXAM, c.medcard_concept("observation", what, label),
                                ("valueCodeableConcept", c.medcard_concept(what, value, codes[value].name_ru))))
    return out


def _prescription(b: _Builder, encounter: str, reason: str | None, index: int) -> Resource:
    p = b.visit.prescriptions[index]
    resource: Resource = {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"text": p.drug}, "subject": b.patient, "encounter": {"reference": encounter},
        "authoredOn": b.when}
    if b.author.practitioner:
        resource["requester"] = {"reference": b.author.practitioner}
    if reason:
        resource["reasonReference"] = [{"reference": reason}]
    resource["dosageInstruction"] = [{"sequence": 1, "text": p.dosage}]
    return resource


def _request(b: _Builder, encounter: str, reason: str, category: list[dict[str, Any]], code: dict[str, Any]
             ) -> Resource:
    resource: Resource = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
                          "category": category, "priority": "routine", "code": code, "subject": b.patient,
                          "encounter": {"reference": encounter}, "authoredOn": b.when}
    if b.author.practitioner:
        resource["requester"] = {"reference": b.author.practitioner}
    resource["reasonCode"] = [{"text": reason}]
    return resource


def _orders(b: _Builder, encounter: str, reason: str) -> list[tuple[str, Resource]]:
    """(protocol text, ServiceRequest) for each test ordered and each referral."""
    out, act = [], b.act
    for code in b.visit.tests:
        name = act.tests[code].name_ru if act else code
        coding = [{"system": c.EXAMINATION_TEST, "code": code}]
        lab = c.LAB_TESTS.get(code)
        if lab:
            coding.insert(0, {"system": c.LOINC, "code": lab[0], "display": lab[1]})
        out.append((name, _request(b, encounter, reason, c.LAB_ORDER if code in c.LAB_TESTS else c.DIAGNOSTIC_ORDER,
                                   {"coding": coding, "text": name})))
    for code in b.visit.referrals:
        title = act.specialists[code].name_ru if act else code
        request = _request(b, encounter, reason, c.REFERRAL,
                           {"text": f"Консультация {c.SPECIALIST_GENITIVE.get(code, title.lower())}"})
        request["performerType"] = {"coding": [{"system": c.SPECIALIST, "code": code}], "text": title}
        out.append((title, request))
    return out


def _appointment(b: _Builder, when: date, reason: str | None) -> Resource:
    participants: list[dict[str, Any]] = [{"actor": b.patient, "required": "required", "status": "needs-action"}]
    if b.author.practitioner:
        participants.append({"actor": {"reference": b.author.practitioner}, "required": "required",
                             "status": "accepted"})
    resource: Resource = {"resourceType": "Appointment", "status": "proposed",
                          "serviceType": [{"text": "Повторный приём"}], "description": "Явка на приём"}
    if reason:
        resource["reasonReference"] = [{"reference": reason}]
    resource.update({"created": b.when, "participant": participants,
                     "requestedPeriod": [{"start": when.isoformat(), "end": when.isoformat()}]})
    return resource


def title_of(visit: Visit) -> str:
    """The protocol's title, as the city's protocols are titled."""
    if visit.kind == "illness":
        return "Протокол приёма врача-педиатра по заболеванию"
    exam = visit.examination
    if exam is None:
        return "Протокол: профилактический медицинский осмотр"
    months = exam.visit.age.years * 12 + exam.visit.age.months
    label = "первичный патронаж новорождённого" if exam.visit.code.endswith("newborn") else \
        f"профилактический медицинский осмотр в {c.age_text(months)}"
    return f"Протокол: {label}"


def _lines(b: _Builder, vitals: list[str], orders: list[str], referrals: list[str]) -> list[str]:
    """The protocol's text after its header: sections in the order of the paper protocol."""
    v, texts = b.visit, b.visit.texts
    complaints = texts.get("complaints", "нет")
    complaints += "" if complaints.endswith((".", "!", "?", "…")) else "."
    # «Жалобы на кашель.» (as the city's older protocols word it, and as repeated from one) is not relabelled
    lines = [complaints if complaints.startswith("Жалобы на ") else f"Жалобы: {complaints}"]
    for name in ("history", "life_history", "epidemiology", "allergy_history"):
        if name in texts:
            lines.append(f"{TEXT_FIELDS[name]}: {texts[name]}")
    if v.feeding:
        lines.append(f"Вскармливание: {FEEDING[v.feeding]}.")
    lines += vitals
    for name in ("examination", "development"):
        if name in texts:
            lines.append(f"{TEXT_FIELDS[name] if name == 'development' else 'Объективно'}: {texts[name]}")
    main, *others = v.diagnoses
    lines.append(f"Диагноз: {main.code} {main.title_ru}.")
    if others:
        lines.append("Сопутствующий: " + "; ".join(f"{d.code} {d.title_ru}" for d in others) + ".")
    if "conclusion" in texts:
        lines.append(f"Заключение: {texts['conclusion']}")
    if b.act is not None and (v.health_group or v.pe_group):
        groups = []
        if v.health_group:
            groups.append(f"Группа здоровья: {v.health_group}.")
        if v.pe_group:
            groups.append(f"Медицинская группа для занятий физической культурой: "
                          f"{b.act.pe_groups[v.pe_group].name_ru.lower()}.")
        lines.append(" ".join(groups))
    lines.append(f"Назначения: {'; '.join(f'{p.drug} — {p.dosage}' for p in v.prescriptions)}."
                 if v.prescriptions else "Назначения: без медикаментозной терапии.")
    if orders:
        lines.append(f"Обследования: {'; '.join(orders)}.")
    if referrals:
        lines.append(f"Направления: {'; '.join(referrals)}.")
    if "advice" in texts:
        lines.append(f"Рекомендации: {texts['advice']}")
    lines.append(f"Явка: {c.ru_date(v.next_visit)}." if v.next_visit else
                 "Явка: по необходимости." if v.next_visit_prn else "Явка: не назначена.")
    return lines


def _document(b: _Builder, encounter: str, title: str, lines: list[str]) -> Resource:
    header = [title, f"Дата: {c.ru_date(b.visit.day)}", f"{b.author.title}: {b.author.name}"]
    text = "\n".join([*header, *lines])
    resource: Resource = {"resourceType": "DocumentReference", "status": "current", "docStatus": "final",
                          "type": _copy(c.PROGRESS_NOTE), "subject": b.patient, "date": b.when}
    if b.author.practitioner:
        resource["author"] = b.performer()
    if b.author.organization:
        resource["custodian"] = {"reference": b.author.organization}
    resource.update({
        "description": title,
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "language": "ru",
                                    "data": base64.b64encode(text.encode()).decode("ascii"), "title": title,
                                    "creation": b.when}}],
        "context": {"encounter": [{"reference": encounter}], "period": {"start": b.when}}})
    return resource


def protocol_text(bundle: dict[str, Any]) -> str:
    """The protocol's text in a Bundle built by :func:`bundle` (for tests and previews)."""
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "DocumentReference":
            return base64.b64decode(entry["resource"]["content"][0]["attachment"]["data"]).decode()
    raise ValueError("the Bundle holds no protocol")


def bundle(visit: Visit, child: Child, author: Author, now: datetime, key: str) -> dict[str, Any]:
    """The transaction Bundle that saves the visit: every resource created together, or none."""
    b = _Builder(visit, child, author, now, key)
    title = title_of(visit)
    reason_text = title
    if visit.kind == "well-child":  # as the city words it: "Профилактический медицинский осмотр в 1 год (211н)"
        reason_text = title[len("Протокол: "):].capitalize()
        if visit.examination is not None:
            reason_text += f" ({visit.examination.act.meta.number})"
    encounter = b.add(_encounter(b, reason_text))
    if visit.kind == "well-child":
        b.add(_pediatrician_part(b, encounter))
    vitals = _vitals(b, encounter)
    for _, observation in vitals:
        b.add(observation)
    conditions = [b.add(_condition(b, encounter, i)) for i in range(len(visit.diagnoses))]
    for resource in _groups(b, encounter):
        b.add(resource)
    for i in range(len(visit.prescriptions)):
        b.add(_prescription(b, encounter, conditions[0], i))
    main = visit.diagnoses[0]
    orders = _orders(b, encounter, f"{main.code} {main.title_ru}")
    for _, request in orders:
        b.add(request)
    if visit.next_visit:
        b.add(_appointment(b, visit.next_visit, conditions[0] if visit.kind == "illness" else None))
    tests = [text for text, r in orders if "performerType" not in r]
    referrals = [text for text, r in orders if "performerType" in r]
    b.add(_document(b, encounter, title, _lines(b, [line for line, _ in vitals], tests, referrals)))
    # Rank 1 is the main diagnosis («Диагноз основной»); the others are comorbidities («Сопутствующий»).
    b.entries[0][1]["diagnosis"] = [
        {"condition": {"reference": url}, "rank": i + 1,
         **({"use": {"coding": [{"system": c.DIAGNOSIS_ROLE, "code": "CM", "display": "Comorbidity diagnosis"}]}}
            if i else {})}
        for i, url in enumerate(conditions)]
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": url, "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
                      for url, r in b.entries]}

