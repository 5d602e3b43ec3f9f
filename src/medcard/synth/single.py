"""One synthetic child with its clinic: for tests and benchmarks that need a single full record.

The city is generated as usual (same seed, same city); the first child at least ``min_age`` years
old on ``today`` is kept with everything its record refers to (the clinics, their staff), and the
rest is dropped as it streams by.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from medcard.synth.fhirdata import Resource
from medcard.synth.writer import CitySize, city

SHARED = ("Organization", "Location", "Practitioner", "PractitionerRole")
MOST_CHILDREN = 400


def _subject(resource: Resource) -> str | None:
    target = resource.get("subject") or resource.get("patient")
    return str(target.get("reference")) if isinstance(target, dict) and target.get("reference") else None


def _age(birth: str, today: date) -> float:
    return (today - date.fromisoformat(birth)).days / 365.25


def child_record(seed: int, min_age: float, today: date) -> Iterator[Resource]:
    """The shared resources and the whole record of the first child at least ``min_age`` years old."""
    chosen: str | None = None
    done = False
    for resource in city(seed, CitySize(children=MOST_CHILDREN, clinics=1), today):
        rtype = resource["resourceType"]
        if rtype in SHARED:
            yield resource
        elif rtype == "Patient":
            if chosen is not None:
                done = True
            elif _age(resource["birthDate"], today) >= min_age:
                chosen = f"Patient/{resource['id']}"
                yield resource
        elif chosen is not None and not done and _subject(resource) == chosen:
            yield resource
        if done:
            return
    if chosen is None:
        raise ValueError(f"no child of {min_age} years or older among {MOST_CHILDREN} children of seed {seed}")
