"""Recent orders of the district pediatrician: tests with their results, and referrals still to be used.

The workspace's "my day" and inbox list what a doctor ordered and has not closed: results that came
back (a DiagnosticReport whose ``basedOn`` is the doctor's ServiceRequest) and referrals with no
consultation yet (a ServiceRequest of category referral that no Encounter is ``basedOn``). The rest
of a child's history records tests and consultations from long ago, all settled; this module adds,
for some children, a visit in the last three weeks with such orders.

It draws from a generator of its own (seeded by the patient), and runs after the rest of the
child's history, so the resources the other modules make stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta

from medcard.synth.clinics import ROLES
from medcard.synth.fhirdata import (
    CBC_PANEL,
    FOLLOW_UP,
    PROGRESS_NOTE,
    REFERRAL,
    SNOMED,
    SPECIALIST,
    URINE_PANEL,
    Resource,
    at,
    concept,
    seeded,
)
from medcard.synth.labs import lab_report
from medcard.synth.record import Record

LAB_ORDER = [concept(SNOMED, "108252007", "Laboratory procedure", "Лабораторное исследование")]
RECENT_DAYS = 21  # how far back the recent visit may be
LAB_CHANCE = 0.4
REFERRAL_CHANCE = 0.25
PENDING_RESULT_CHANCE = 0.15  # the sample was taken, the result is not in yet
# (specialist, reason) of a referral made at a routine visit
REFERRALS = (
    ("otorhinolaryngologist", "J35.0 Хронический тонзиллит"),
    ("neurologist", "G47.9 Нарушение сна неуточнённое"),
    ("allergist", "L20.8 Другие атопические дерматиты"),
    ("ophthalmologist", "H52.1 Миопия"),
    ("pediatric-cardiologist", "R01.1 Сердечный шум неуточнённый"),
    ("traumatologist-orthopedist", "M41.9 Сколиоз неуточнённый"),
)
LAB_STATES = (("cbc", "normal"), ("cbc", "viral"), ("cbc", "bacterial"), ("cbc", "allergic"),
              ("urinalysis", "normal"), ("urinalysis", "infection"))


def recent_orders(record: Record) -> Iterator[Resource]:
    """For some children: a visit to the district pediatrician in the last weeks, its tests and referral."""
    rng = seeded(f"orders/{record.patient}/{record.today}")
    labs, refer = rng.random() < LAB_CHANCE, rng.random() < REFERRAL_CHANCE
    if not (labs or refer) or (record.today - record.birth).days < 60:
        return
    mine = replace(record, rng=rng)  # the record's own generator stays untouched
    day = record.open_day(record.today - timedelta(days=rng.randint(1, RECENT_DAYS)))
    day = min(day, record.today)
    minute, doctor = mine.minute(), record.doctor
    visit = mine.encounter(day, minute, doctor, FOLLOW_UP, "Плановый приём: контроль состояния")
    ref = f"Encounter/{visit['id']}"
    yield visit
    lines = ["Жалоб активно не предъявляет.", "Объективно: состояние удовлетворительное."]
    if labs:
        kind, state = rng.choice(LAB_STATES)
        yield from _lab(mine, ref, day, minute, kind, state)
        lines.append(f"Назначено: {(CBC_PANEL if kind == 'cbc' else URINE_PANEL)['text'].lower()}.")
    if refer:
        role, reason = rng.choice(REFERRALS)
        yield _referral(mine, ref, day, minute, role, reason)
        lines.append(f"Направление: консультация {ROLES[role].genitive} ({reason}).")
    yield mine.document(ref, day, minute, doctor, "Протокол приёма врача-педиатра участкового", PROGRESS_NOTE, lines)


def _lab(record: Record, encounter: str, day: date, minute: int, kind: str, state: str) -> Iterator[Resource]:
    """The order of a test and, unless it is still in the laboratory, its report ``basedOn`` the order."""
    panel = CBC_PANEL if kind == "cbc" else URINE_PANEL
    pending = record.rng.random() < PENDING_RESULT_CHANCE
    order: Resource = {
        "resourceType": "ServiceRequest", "id": record.new_id(), "status": "active" if pending else "completed",
        "intent": "order", "category": LAB_ORDER, "priority": "routine", "code": panel,
        "subject": {"reference": record.patient}, "encounter": {"reference": encounter},
        "occurrenceDateTime": day.isoformat(), "authoredOn": at(day, minute + 10),
        "requester": {"reference": record.doctor.ref},
    }
    yield order
    if pending:
        return
    for resource in lab_report(record, encounter, day, kind, state=state):
        if resource["resourceType"] == "DiagnosticReport":
            resource["basedOn"] = [{"reference": f"ServiceRequest/{order['id']}"}]
        yield resource


def _referral(record: Record, encounter: str, day: date, minute: int, role: str, reason: str) -> Resource:
    """A referral to a specialist of the clinic, not used yet (no consultation on record)."""
    specialist, spec = record.clinic.pick(record.rng, role), ROLES[role]
    when = record.open_day(day + timedelta(days=record.rng.randint(3, 21)))
    return {
        "resourceType": "ServiceRequest", "id": record.new_id(), "status": "active", "intent": "order",
        "category": REFERRAL, "priority": "routine", "code": {"text": f"Консультация {spec.genitive}"},
        "subject": {"reference": record.patient}, "encounter": {"reference": encounter},
        "occurrenceDateTime": when.isoformat(), "authoredOn": at(day, minute + 12),
        "requester": {"reference": record.doctor.ref},
        "performerType": {"coding": [{"system": SPECIALIST, "code": role}], "text": spec.title},
        "performer": [{"reference": specialist.ref}], "reasonCode": [{"text": reason}],
    }
