"""Children and their families: households of siblings with parents or a guardian.

A household lives at one address in its polyclinic's territory and is served by one district
pediatrician. FHIR's RelatedPerson belongs to one patient, so each child gets its own
RelatedPerson for each parent; siblings' RelatedPersons for the same parent share that
parent's SNILS (``identifier``), which is how they are known to be one person.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from medcard.synth import names
from medcard.synth.clinics import Clinic, address, person_name
from medcard.synth.fhirdata import ENP, SNILS, TERMINOLOGY, Identifiers, Resource, concept, phone, seeded

MAX_AGE_DAYS = 18 * 365 - 5  # the oldest children are 17


@dataclass(frozen=True, slots=True)
class Parent:
    relation: str  # "mother", "father", "guardian"
    family: str
    given: str
    patronymic: str
    female: bool
    snils: str
    phone: str
    birth: date


@dataclass(slots=True)
class Household:
    """A family: where it lives, who the adults are, and its children's birth dates and sexes."""

    clinic: Clinic
    district: int
    address: dict[str, Any]
    surnames: tuple[str, str]  # male and female forms of the children's surname
    patronymics: tuple[str, str]
    parents: list[Parent] = field(default_factory=list)
    children: list[tuple[date, bool]] = field(default_factory=list)  # (birth, female)


RELATIONS = {"mother": ("MTH", "mother", "Мать"), "father": ("FTH", "father", "Отец"),
             "guardian": ("GUARD", "guardian", "Опекун")}


def household(seed: int, number: int, clinics: list[Clinic], ids: Identifiers, today: date) -> Household:
    """Household ``number`` of the city: 1-3 children, two parents, one, or a guardian."""
    rng = seeded(f"{seed}/household/{number}")
    clinic = clinics[int(rng.random() * len(clinics))]
    street, house = int(rng.random() * len(clinic.streets)), int(rng.random() * 60) + 1
    home = address(rng, clinic.postal_code, clinic.district, clinic.streets[street], "home", house)
    father_name = person_name(rng, False)
    surname_m = father_name[0]
    surname = next((pair for pair in names.SURNAMES if pair[0] == surname_m), (surname_m, surname_m))
    kind = rng.choices(("both", "mother", "father", "guardian"), (0.7, 0.25, 0.03, 0.02))[0]
    first_age = int(rng.random() * MAX_AGE_DAYS)
    oldest = today - timedelta(days=first_age)
    family = Household(clinic, clinic.district_of(street, house), home, surname, _patronymics(father_name[1]))
    adult_index = Identifiers.PARENTS + number * 3
    if kind in ("both", "mother"):
        _, given, patronymic = person_name(rng, True)
        family.parents.append(Parent("mother", surname[1], given, patronymic, True, ids.snils(adult_index),
                                     phone(rng), oldest - timedelta(days=int(rng.uniform(20, 38) * 365.25))))
    if kind in ("both", "father"):
        family.parents.append(Parent("father", surname[0], father_name[1], father_name[2], False,
                                     ids.snils(adult_index + 1), phone(rng),
                                     oldest - timedelta(days=int(rng.uniform(22, 42) * 365.25))))
    if kind == "guardian":
        grandmother = person_name(rng, True)
        family.parents.append(Parent("guardian", grandmother[0], grandmother[1], grandmother[2], True,
                                     ids.snils(adult_index + 2), phone(rng),
                                     oldest - timedelta(days=int(rng.uniform(45, 65) * 365.25))))
    count = rng.choices((1, 2, 3), (0.55, 0.35, 0.10))[0]
    birth = oldest
    for _ in range(count):
        if birth > today:
            break
        family.children.append((birth, rng.random() < 0.49))
        birth += timedelta(days=int(rng.uniform(1.3, 6) * 365.25))
    return family


def _patronymics(father_given: str) -> tuple[str, str]:
    """The children's patronymics from the father's given name (Сергей -> Сергеевич, Сергеевна)."""
    for male, female in names.PATRONYMICS:
        if male[:4] == father_given[:4] or (father_given == "Илья" and male == "Ильич"):
            return male, female
    return "Александрович", "Александровна"


def patient_resource(rng: random.Random, pid: str, index: int, birth: date, female: bool, family: Household,
                     ids: Identifiers) -> Resource:
    """A Moscow child attached to the polyclinic and the district pediatrician of the household."""
    given = rng.choice(names.GIRLS if female else names.BOYS)
    pediatrician = family.clinic.pediatrician(family.district)
    return {
        "resourceType": "Patient", "id": pid,
        "identifier": [{"system": SNILS, "value": ids.snils(index)}, {"system": ENP, "value": ids.enp(index)}],
        "active": True,
        "name": [{"use": "official", "family": family.surnames[1 if female else 0],
                  "given": [given, family.patronymics[1 if female else 0]]}],
        "gender": "female" if female else "male",
        "birthDate": birth.isoformat(),
        "address": [family.address],
        "managingOrganization": {"reference": family.clinic.ref},
        "generalPractitioner": [{"reference": pediatrician.role_ref}],
    }


def related_people(new_id: Any, patient: str, family: Household) -> list[Resource]:
    """The child's parents or guardian as RelatedPersons of this child (linked across siblings by SNILS)."""
    out = []
    for parent in family.parents:
        code, display, text = RELATIONS[parent.relation]
        out.append({
            "resourceType": "RelatedPerson", "id": new_id(),
            "identifier": [{"system": SNILS, "value": parent.snils}],
            "active": True, "patient": {"reference": patient},
            "relationship": [concept(TERMINOLOGY + "v3-RoleCode", code, display, text)],
            "name": [{"use": "official", "family": parent.family, "given": [parent.given, parent.patronymic],
                      "text": f"{parent.family} {parent.given} {parent.patronymic}"}],
            "telecom": [{"system": "phone", "value": parent.phone, "use": "mobile"}],
            "gender": "female" if parent.female else "male",
            "birthDate": parent.birth.isoformat(),
            "address": [family.address],
        })
    return out


def demographic_patient(rng: random.Random, pid: str, index: int, clinics: list[Clinic], ids: Identifiers,
                        today: date) -> Resource:
    """A child with no record yet: a Patient only (the bulk of the 2.3 million)."""
    clinic = clinics[int(rng.random() * len(clinics))]
    street, house = int(rng.random() * len(clinic.streets)), int(rng.random() * 60) + 1
    family = Household(clinic, clinic.district_of(street, house),
                       address(rng, clinic.postal_code, clinic.district, clinic.streets[street], "home", house),
                       names.SURNAMES[int(rng.random() * len(names.SURNAMES))],
                       names.PATRONYMICS[int(rng.random() * len(names.PATRONYMICS))])
    birth = today - timedelta(days=int(rng.random() * MAX_AGE_DAYS))
    return patient_resource(rng, pid, index, birth, rng.random() < 0.49, family, ids)
