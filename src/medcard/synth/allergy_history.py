"""The allergy anamnesis of a synthetic child: «аллергоанамнез не отягощён», recorded as such.

A pediatrician asks about allergies at the first visit of the electronic era and records "no known
allergy" (SNOMED CT 716186003) when there is none; a child whose record will show an allergy gets
no such entry. Some doctors never fill it in, so a few records say nothing: the chart's allergy strip
then reads «сведений нет», one of its four states. Drawn from a generator of its own and given an id
derived from the child's, so adding it changes nothing else of the city.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from medcard.synth.fhirdata import Resource, at, seeded
from medcard.synth.record import ELECTRONIC_FROM, Record

NO_KNOWN_ALLERGY = {"coding": [{"system": "http://snomed.info/sct", "code": "716186003",
                                "display": "No known allergy"}], "text": "Аллергия не выявлена"}
RECORDED_CHANCE = 0.9


def none_known(record: Record, events: list[tuple[date, int, str, Any]]) -> Resource | None:
    """The "no known allergy" entry of a child whose life (``events``, planned) has no allergy, or None."""
    if any(kind == "allergy" for _, _, kind, _ in events):
        return None
    rng = seeded(f"{record.patient}/allergy-anamnesis")
    first = next((day for day, _, kind, _ in events if kind == "exam" and day >= ELECTRONIC_FROM), None)
    if first is None or first > record.today or rng.random() >= RECORDED_CHANCE:
        return None
    return {
        "resourceType": "AllergyIntolerance", "id": f"{record.patient.partition('/')[2]}-nka",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                       "code": "active"}]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
        "code": NO_KNOWN_ALLERGY, "patient": {"reference": record.patient},
        "recordedDate": at(first, rng.randint(9 * 60, 18 * 60)), "recorder": {"reference": record.doctor.ref},
        "note": [{"text": "Аллергоанамнез не отягощён"}],
    }
