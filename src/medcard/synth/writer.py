"""The synthetic city as a stream of resources, and the NDJSON files it is written to.

:func:`city` yields every resource: the clinics and their staff first, then household by
household each child's Patient, RelatedPersons and record, then the demographic-only patients.
Nothing is kept but the clinics, so memory stays flat whatever the size; the same seed, sizes
and ``today`` give the same resources in the same order, and :func:`write_ndjson` the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import orjson

from medcard.synth.chart import child_history
from medcard.synth.clinics import clinics_and_staff
from medcard.synth.fhirdata import Identifiers, Resource, id_maker, seeded
from medcard.synth.people import demographic_patient, household, patient_resource, related_people

# Types in an order where each file's references point at resources of earlier files or of itself.
LOAD_ORDER = (
    "Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Flag", "Encounter",
    "Condition", "Observation", "DiagnosticReport", "MedicationRequest", "ServiceRequest", "CarePlan",
    "Immunization", "AllergyIntolerance", "DocumentReference",
)


def moscow_today() -> date:
    """Today's date in Europe/Moscow (the default 'today' of the generator)."""
    return datetime.now(ZoneInfo("Europe/Moscow")).date()


@dataclass(frozen=True, slots=True)
class CitySize:
    children: int
    clinics: int = 3
    demographic: int = 0


@dataclass(slots=True)
class Stats:
    """What a generation produced: resources per type, and per full-history child."""

    counts: dict[str, int] = field(default_factory=dict)
    children: int = 0
    child_resources: int = 0
    child_years: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def city(seed: int, size: CitySize, today: date, stats: Stats | None = None) -> Iterator[Resource]:
    """Every resource of the city, streamed."""
    stats = stats if stats is not None else Stats()
    ids = Identifiers(seed)
    clinics, shared = clinics_and_staff(seed, max(1, size.clinics), ids)
    yield from shared
    new_patient = id_maker(f"{seed}/Patient")
    new_related = id_maker(f"{seed}/RelatedPerson")
    index, number = 0, 0
    while index < size.children:
        family = household(seed, number, clinics, ids, today)
        for birth, female in family.children:
            if index >= size.children:
                break
            rng = seeded(f"{seed}/child/{index}")
            pid = new_patient()
            made = [patient_resource(rng, pid, index, birth, female, family, ids),
                    *related_people(new_related, f"Patient/{pid}", family)]
            yield from made
            count = len(made)
            for resource in child_history(rng, pid, birth, "female" if female else "male", family.clinic,
                                          family.district, id_maker(f"{seed}/{pid}"), today,
                                          f"{family.clinic.number}-{index + 1:06d}"):
                yield resource
                count += 1
            stats.children += 1
            stats.child_resources += count
            stats.child_years += (today - birth).days / 365.25
            index += 1
        number += 1
    rng = seeded(f"{seed}/demographic")
    for k in range(size.demographic):
        yield demographic_patient(rng, new_patient(), size.children + k, clinics, ids, today)


class NdjsonSink:
    """Writes each resource as one line of ``<Type>.ndjson`` through large buffers, counting them."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self._stack = ExitStack()
        self._files: dict[str, IO[bytes]] = {}

    def __enter__(self) -> NdjsonSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def write(self, resource: Resource) -> None:
        rtype = resource["resourceType"]
        handle = self._files.get(rtype)
        if handle is None:
            handle = self._files[rtype] = self._stack.enter_context(
                (self.out / f"{rtype}.ndjson").open("wb", buffering=1 << 20))
        handle.write(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))


def write_ndjson(out: Path, seed: int, size: CitySize, today: date, *,
                 each: Callable[[Resource], None] | None = None) -> Stats:
    """Write the city into ``out`` as ``<Type>.ndjson`` files; ``each`` sees every resource (checks, progress)."""
    stats = Stats()
    counts = stats.counts
    with NdjsonSink(out) as sink:
        for resource in city(seed, size, today, stats):
            rtype = resource["resourceType"]
            counts[rtype] = counts.get(rtype, 0) + 1
            sink.write(resource)
            if each is not None:
                each(resource)
    return stats
