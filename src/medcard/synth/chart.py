"""One child's whole record from birth to today, in date order.

Plans the events of a life (examinations, vaccinations, illnesses, chronic conditions,
allergies, certificates) with the pediatric engine and writes each as resources through
:mod:`.examinations`, :mod:`.immunizations`, :mod:`.illness` and :mod:`.documents`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date
from itertools import groupby
from typing import Any

from medcard.pediatrics.immunization import Child
from medcard.pediatrics.rules import ChildSex
from medcard.synth import allergy_history, documents, examinations, illness, immunizations, orders
from medcard.synth.anthropometry import GrowthTrack
from medcard.synth.clinics import Clinic
from medcard.synth.fhirdata import Resource
from medcard.synth.record import ELECTRONIC_FROM, Record
from medcard.synth.vaccination import VaccinationPlan

PRETERM_CHANCE = 0.05
HEPB_RISK_CHANCE = 0.02


def child_history(rng: random.Random, patient_id: str, birth: date, sex: ChildSex, clinic: Clinic, district: int,
                  new_id: Callable[[], str], today: date, card_number: str) -> Iterator[Resource]:
    """The record of one child (the Patient itself not included); references name earlier resources."""
    preterm = rng.random() < PRETERM_CHANCE
    record = Record(rng, f"Patient/{patient_id}", birth, sex, clinic, clinic.pediatrician(district), new_id, today,
                    GrowthTrack(rng, sex, preterm=preterm), health_group=rng.choice(("I", "II", "II")))
    if record.health_group == "II" and rng.random() < 0.3:
        record.pe_group = "preparatory"
    risk = frozenset({"polio-ipv-only"} if preterm else ()) | frozenset(
        {"hepb-risk"} if rng.random() < HEPB_RISK_CHANCE else ())
    card = documents.paper_card(record, card_number, clinic.pick(rng, "archivist").ref)
    if card is not None:
        yield card
    yield from immunizations.risk_flags(record, risk)
    plan = VaccinationPlan(rng, Child(birth, sex, risk), today, combined=rng.random() < 0.45).plan()
    start = max(birth, ELECTRONIC_FROM)
    events: list[tuple[date, int, str, Any]] = []
    for day, exam in examinations.planned_examinations(record):
        events.append((day, 0, "exam", exam))
    for day, group in groupby(plan, key=lambda d: d.day):
        events.append((day, 1, "vaccination", list(group)))
    events += [(day, 2, "illness", ill) for day, ill in illness.plan_illnesses(record, start)]
    events += [(day, 3, "chronic", (chronic, first)) for day, chronic, first in illness.plan_chronic(record, start)]
    events += [(day, 4, "allergy", allergen) for day, allergen in illness.plan_allergy(record, start)]
    events += [(day, 5, "certificate", title) for day, title in documents.plan_certificates(record)]
    events.sort(key=lambda e: (e[0], e[1]))
    if (anamnesis := allergy_history.none_known(record, events)) is not None:
        yield anamnesis
    for day, _, kind, data in events:
        if kind == "exam":
            yield from examinations.preventive_examination(record, day, data)
        elif kind == "vaccination":
            yield from immunizations.vaccinations(record, data)
        elif kind == "illness":
            yield from illness.acute_illness(record, day, data)
        elif kind == "chronic":
            yield from illness.chronic_visit(record, day, *data)
        elif kind == "allergy":
            yield from illness.allergy(record, day, data)
        else:
            yield from documents.certificate(record, day, data)
    yield from orders.recent_orders(record)
