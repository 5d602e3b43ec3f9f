"""Clinics and staff: children's polyclinics with branches and the people who work there.

Each polyclinic is an Organization with Locations (the main building and its branches); each
employee is a Practitioner with a PractitionerRole at one of them. District pediatricians (and
their district nurses) carry the district as the PractitionerRole's identifier
``urn:medcard:code-system:district|<clinic>-<n>`` (docs/fhir-conventions.md, attachment).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from medcard.synth import names
from medcard.synth.fhirdata import (
    DISTRICT,
    MEDCARD,
    SNILS,
    SPECIALIST,
    TERMINOLOGY,
    Identifiers,
    Resource,
    concept,
    id_maker,
    phone,
    seeded,
)


class Role(NamedTuple):
    title: str  # as on a badge
    genitive: str  # "консультация врача-невролога"
    per_clinic: int
    female_share: float
    specialist: bool  # a code of urn:medcard:code-system:specialist (else a staff role)


# Codes of doctors are the examination acts' specialist codes (data/examinations/*.json).
ROLES = {
    "pediatrician": Role("Врач-педиатр участковый", "врача-педиатра участкового", 6, 0.9, True),
    "neurologist": Role("Врач-невролог", "врача-невролога", 1, 0.8, True),
    "ophthalmologist": Role("Врач-офтальмолог", "врача-офтальмолога", 1, 0.85, True),
    "otorhinolaryngologist": Role("Врач-оториноларинголог", "врача-оториноларинголога", 1, 0.7, True),
    "pediatric-surgeon": Role("Врач — детский хирург", "врача — детского хирурга", 1, 0.4, True),
    "traumatologist-orthopedist": Role("Врач — травматолог-ортопед", "врача — травматолога-ортопеда", 1, 0.35, True),
    "pediatric-dentist": Role("Врач-стоматолог детский", "врача-стоматолога детского", 1, 0.8, True),
    "pediatric-cardiologist": Role("Врач — детский кардиолог", "врача — детского кардиолога", 1, 0.8, True),
    "pediatric-endocrinologist": Role("Врач — детский эндокринолог", "врача — детского эндокринолога", 1, 0.85, True),
    "allergist": Role("Врач — аллерголог-иммунолог", "врача — аллерголога-иммунолога", 1, 0.85, True),
    "pediatric-urologist-andrologist": Role("Врач — детский уролог-андролог", "врача — детского уролога-андролога", 1,
                                            0.2, True),
    "obstetrician-gynecologist": Role("Врач — акушер-гинеколог", "врача — акушера-гинеколога", 1, 0.95, True),
    "child-psychiatrist": Role("Врач — детский психиатр", "врача — детского психиатра", 1, 0.7, True),
    "adolescent-psychiatrist": Role("Врач — подростковый психиатр", "врача — подросткового психиатра", 1, 0.6, True),
    "district-nurse": Role("Медицинская сестра участковая", "медицинской сестры участковой", 6, 1.0, False),
    "nurse": Role("Медицинская сестра кабинета иммунопрофилактики", "медицинской сестры", 2, 1.0, False),
    "lab": Role("Врач клинической лабораторной диагностики", "врача КЛД", 1, 0.9, False),
    "registrar": Role("Медицинский регистратор", "медицинского регистратора", 3, 0.95, False),
    "archivist": Role("Архивариус", "архивариуса", 1, 1.0, False),
}
DISTRICT_ROLES = ("pediatrician", "district-nurse")


@dataclass(frozen=True, slots=True)
class Member:
    """A practitioner as a chart uses them."""

    ref: str  # Practitioner/<id>
    role_ref: str  # PractitionerRole/<id>
    name: str  # "Иванова А. С."
    role: str
    location: str  # Location/<id>
    district: int | None = None


@dataclass(slots=True)
class Clinic:
    """A polyclinic: its Organization, its Locations, the territory it serves and its staff by role."""

    number: int
    ref: str
    district: str
    postal_code: str
    streets: tuple[str, ...]
    locations: list[str] = field(default_factory=list)
    staff: dict[str, tuple[Member, ...]] = field(default_factory=dict)

    def pick(self, rng: random.Random, role: str) -> Member:
        members = self.staff[role]
        return members[int(rng.random() * len(members))]

    def district_of(self, street: int, house: int) -> int:
        """The district (участок, from 1) that serves an address: streets are cut into blocks of houses."""
        return (street * 3 + house // 20) % ROLES["pediatrician"].per_clinic + 1

    def pediatrician(self, district: int) -> Member:
        return self.staff["pediatrician"][district - 1]


def address(rng: random.Random, postal_code: str, district: str, street: str, use: str,
            house: int | None = None) -> dict[str, Any]:
    """A Moscow address; a home address has a flat number."""
    line = f"{street}, д. {house if house is not None else int(rng.random() * 60) + 1}"
    if rng.random() < 0.3:
        line += f", корп. {int(rng.random() * 4) + 1}"
    if use == "home":
        line += f", кв. {int(rng.random() * 420) + 1}"
    return {"use": use, "type": "physical", "text": f"{postal_code}, г. Москва, {line}", "line": [line],
            "city": "Москва", "district": district, "postalCode": postal_code, "country": "RU"}


def person_name(rng: random.Random, female: bool) -> tuple[str, str, str]:
    """An adult's surname, given name and patronymic."""
    family_m, family_f = rng.choice(names.SURNAMES)
    given = rng.choice(names.WOMEN if female else names.MEN)
    patronymic = rng.choice(names.PATRONYMICS)[1 if female else 0]
    return (family_f if female else family_m), given, patronymic


def _organization(rng: random.Random, oid: str, number: int, district: str, postal: str, street: str) -> Resource:
    return {
        "resourceType": "Organization", "id": oid, "active": True,
        "type": [concept(TERMINOLOGY + "organization-type", "prov", "Healthcare Provider", "Медицинская организация")],
        "name": f"ГБУЗ «Детская городская поликлиника № {number} ДЗМ»",
        "alias": [f"ДГП № {number}", f"Государственное бюджетное учреждение здравоохранения города Москвы «Детская "
                  f"городская поликлиника № {number} Департамента здравоохранения города Москвы»"],
        "telecom": [{"system": "phone", "value": f"+7 495 {rng.randint(100, 999)}-{rng.randint(10, 99)}-"
                                                 f"{rng.randint(10, 99)}", "use": "work"}],
        "address": [address(rng, postal, district, street, "work")],
    }


def _location(rng: random.Random, lid: str, org: Resource, name: str, clinic: Clinic, street: str) -> Resource:
    return {
        "resourceType": "Location", "id": lid, "status": "active", "name": f"{org['alias'][0]}, {name}",
        "mode": "instance",
        "type": [concept(TERMINOLOGY + "v3-RoleCode", "PEDC", "Pediatrics clinic", "Детская поликлиника")],
        "address": address(rng, clinic.postal_code, clinic.district, street, "work"),
        "managingOrganization": {"reference": clinic.ref},
    }


def _practitioner(rng: random.Random, pid: str, snils: str, role: Role) -> tuple[Resource, str]:
    female = rng.random() < role.female_share
    family, given, patronymic = person_name(rng, female)
    resource = {
        "resourceType": "Practitioner", "id": pid,
        "identifier": [{"system": SNILS, "value": snils}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given, patronymic],
                  "text": f"{family} {given} {patronymic}"}],
        "telecom": [{"system": "phone", "value": phone(rng), "use": "work"}],
        "gender": "female" if female else "male",
        "qualification": [{"code": {"text": role.title}}],
    }
    return resource, f"{family} {given[0]}. {patronymic[0]}."


def _role_resource(rid: str, code: str, role: Role, practitioner: str, clinic: Clinic, location: str,
                   district: int | None) -> Resource:
    system = SPECIALIST if role.specialist else MEDCARD + "staff-role"
    resource: Resource = {"resourceType": "PractitionerRole", "id": rid}
    if district is not None:
        resource["identifier"] = [{"system": DISTRICT, "value": f"{clinic.number}-{district}"}]
    resource.update({
        "active": True, "practitioner": {"reference": practitioner}, "organization": {"reference": clinic.ref},
        "code": [{"coding": [{"system": system, "code": code}],
                  "text": role.title + (f", участок № {district}" if district is not None else "")}],
        "location": [{"reference": location}],
    })
    return resource


def clinics_and_staff(seed: int, count: int, ids: Identifiers) -> tuple[list[Clinic], list[Resource]]:
    """``count`` polyclinics and their staff, with their resources (Organizations and Locations first)."""
    rng = seeded(f"{seed}/clinics")
    new = {t: id_maker(f"{seed}/{t}") for t in ("Organization", "Location", "Practitioner", "PractitionerRole")}
    clinics: list[Clinic] = []
    places: list[Resource] = []
    people: list[Resource] = []
    staff_index = Identifiers.STAFF
    for n in range(count):
        number, district, postal, streets = names.DISTRICTS[n % len(names.DISTRICTS)]
        number += 150 * (n // len(names.DISTRICTS))  # beyond the list, the same districts under other numbers
        org = _organization(rng, new["Organization"](), number, district, postal, streets[0])
        clinic = Clinic(number, f"Organization/{org['id']}", district, postal, streets)
        places.append(org)
        for i, name in enumerate(("Основное здание", *names.BRANCH_NAMES)):
            location = _location(rng, new["Location"](), org, name, clinic, streets[i % len(streets)])
            places.append(location)
            clinic.locations.append(f"Location/{location['id']}")
        for code, role in ROLES.items():
            members = []
            for k in range(role.per_clinic):
                district_no = k + 1 if code in DISTRICT_ROLES else None
                where = clinic.locations[k % len(clinic.locations)]
                practitioner, short = _practitioner(rng, new["Practitioner"](), ids.snils(staff_index), role)
                staff_index += 1
                role_resource = _role_resource(new["PractitionerRole"](), code, role,
                                               f"Practitioner/{practitioner['id']}", clinic, where, district_no)
                people += [practitioner, role_resource]
                members.append(Member(f"Practitioner/{practitioner['id']}",
                                      f"PractitionerRole/{role_resource['id']}", short, code, where, district_no))
            clinic.staff[code] = tuple(members)
        clinics.append(clinic)
    return clinics, places + people
