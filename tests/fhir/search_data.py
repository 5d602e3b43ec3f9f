"""A small fixed record set for search tests, with readable ids, loaded by one transaction.

Expected results in the tests are worked out by hand from these resources.
"""

from __future__ import annotations

import base64
from typing import Any

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNILS = "urn:oid:1.2.643.2.69.1.1.1.6.223"
VITAL = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}
LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
ACTIVE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
RESOLVED = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]}
AMB = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}


def _name(family: str, *given: str) -> list[dict[str, Any]]:
    return [{"family": family, "given": list(given)}]


def _obs(oid: str, patient: str, code: str, display: str, value: Any, unit: str, when: str, **extra: Any
         ) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": extra.pop("status", "final"),
            "category": [extra.pop("category", VITAL)],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
            **extra}


RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Organization", "id": "org1", "name": "ДГП № 12"},
    {"resourceType": "Organization", "id": "org2", "name": "ДГП № 30"},
    {"resourceType": "Practitioner", "id": "doc1", "name": _name("Петрова", "Мария", "Ивановна"),
     "identifier": [{"system": SNILS, "value": "11223344595"}]},
    {"resourceType": "Practitioner", "id": "doc2", "name": _name("Сидоров", "Олег")},
    {"resourceType": "Patient", "id": "p1", "name": _name("Иванов", "Пётр", "Сергеевич"), "gender": "male",
     "birthDate": "2019-05-04", "active": True,
     "address": [{"city": "Москва", "line": ["ул. Тверская, д. 7"], "postalCode": "125009"}],
     "telecom": [{"system": "phone", "value": "+79991112233"}, {"system": "email", "value": "ivanov@example.ru"}],
     "identifier": [{"system": SNILS, "value": "12345678964"}],
     "generalPractitioner": [{"reference": "Practitioner/doc1"}],
     "managingOrganization": {"reference": "Organization/org1"}},
    {"resourceType": "Patient", "id": "p2", "name": _name("Иванова", "Анна"), "gender": "female",
     "birthDate": "2021-01-15", "active": True, "address": [{"city": "Москва"}],
     "generalPractitioner": [{"reference": "Practitioner/doc2"}],
     "managingOrganization": {"reference": "Organization/org1"}},
    {"resourceType": "Patient", "id": "p3", "name": _name("Ёлкин", "Семён"), "gender": "male",
     "birthDate": "2015-12-31", "active": False, "address": [{"city": "Зеленоград"}],
     "managingOrganization": {"reference": "Organization/org2"}},
    {"resourceType": "Patient", "id": "p4", "name": [{"family": "Smith", "given": ["John"], "text": "John Smith"}],
     "gender": "unknown"},
    {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": AMB,
     "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "410620009", "display": "Well child visit"}]}],
     "subject": {"reference": "Patient/p1"}, "participant": [{"individual": {"reference": "Practitioner/doc1"}}],
     "serviceProvider": {"reference": "Organization/org1"},
     "period": {"start": "2024-03-01T10:00:00+03:00", "end": "2024-03-01T10:30:00+03:00"},
     "reasonCode": [{"coding": [{"system": ICD10, "code": "J06.9"}], "text": "ОРВИ"}]},
    {"resourceType": "Encounter", "id": "e2", "status": "finished", "class": AMB,
     "subject": {"reference": "Patient/p1"},
     "period": {"start": "2024-06-15T09:00:00+03:00", "end": "2024-06-15T09:20:00+03:00"},
     "participant": [{"individual": {"reference": "Practitioner/doc2"}}]},
    {"resourceType": "Encounter", "id": "e3", "status": "planned", "class": AMB, "subject": {"reference": "Patient/p2"},
     "period": {"start": "2023-12-31T23:30:00+03:00"}, "serviceProvider": {"reference": "Organization/org2"}},
    _obs("o1", "p1", "29463-7", "Body weight", 12.5, "kg", "2024-03-01T10:10:00+03:00",
         encounter={"reference": "Encounter/e1"}),
    _obs("o2", "p1", "8302-2", "Body height", 90, "cm", "2024-06-15"),
    _obs("o3", "p2", "29463-7", "Body weight", 8.0, "kg", "2023-12-31", status="preliminary"),
    {"resourceType": "Observation", "id": "o4", "status": "final", "category": [LAB],
     "code": {"coding": [{"system": LOINC, "code": "58410-2", "display": "CBC panel"}]},
     "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-03-02",
     "component": [{"code": {"coding": [{"system": LOINC, "code": "718-7", "display": "Hemoglobin"}]},
                    "valueQuantity": {"value": 120, "unit": "g/L"}}]},
    {"resourceType": "Observation", "id": "o5", "status": "final", "code": {"text": "Осмотр кожи без кода"},
     "subject": {"reference": "Patient/p2"}, "valueString": "без особенностей"},
    {"resourceType": "Condition", "id": "c1", "clinicalStatus": ACTIVE,
     "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                               "code": "problem-list-item"}]}],
     "code": {"coding": [{"system": ICD10, "code": "J45.9", "display": "Астма неуточнённая"}],
              "text": "Бронхиальная астма"},
     "subject": {"reference": "Patient/p1"}, "onsetDateTime": "2022-05",
     "note": [{"text": "Приступы при физической нагрузке; ингалятор по требованию"}]},
    {"resourceType": "Condition", "id": "c2", "clinicalStatus": RESOLVED,
     "code": {"coding": [{"system": ICD10, "code": "J06.9", "display": "ОРВИ"}]},
     "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
     "onsetDateTime": "2024-03-01"},
    {"resourceType": "Condition", "id": "c3", "clinicalStatus": ACTIVE,
     "code": {"coding": [{"system": ICD10, "code": "J20.9", "display": "Острый бронхит"}]},
     "subject": {"reference": "Patient/p2"}, "onsetDateTime": "2024-01-10"},
    {"resourceType": "Immunization", "id": "i1", "status": "completed",
     "vaccineCode": {"coding": [{"system": "urn:oid:1.2.643.5.1.13.13.11.1078", "code": "37"}], "text": "Пентаксим"},
     "patient": {"reference": "Patient/p1"}, "occurrenceDateTime": "2019-08-04"},
    {"resourceType": "Immunization", "id": "i2", "status": "not-done", "vaccineCode": {"text": "Корь"},
     "patient": {"reference": "Patient/p2"}, "occurrenceDateTime": "2022-01-15"},
    {"resourceType": "DiagnosticReport", "id": "d1", "status": "final",
     "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
     "code": {"coding": [{"system": LOINC, "code": "58410-2"}]}, "subject": {"reference": "Patient/p1"},
     "effectiveDateTime": "2024-03-02", "result": [{"reference": "Observation/o4"}]},
    {"resourceType": "ServiceRequest", "id": "s1", "status": "active", "intent": "order",
     "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005", "display": "Referral"}]}],
     "code": {"text": "Консультация невролога"}, "subject": {"reference": "Patient/p1"},
     "authoredOn": "2024-03-01", "requester": {"reference": "Practitioner/doc1"},
     "performer": [{"reference": "Practitioner/doc2"}]},
    {"resourceType": "Provenance", "id": "prov1", "target": [{"reference": "Condition/c1"}],
     "recorded": "2024-03-01T11:00:00+03:00", "agent": [{"who": {"reference": "Practitioner/doc1"}}]},
    {"resourceType": "DocumentReference", "id": "doc-1", "status": "current", "subject": {"reference": "Patient/p1"},
     "description": "Выписка", "date": "2024-03-01T12:00:00+03:00",
     "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "title": "Выписка после приступа",
                                 "data": base64.b64encode("Обострение бронхиальной астмы купировано.".encode())
                                 .decode()}}]},
]


def transaction() -> dict[str, Any]:
    """All the resources as one transaction of PUTs (so they keep their readable ids)."""
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                      for r in RESOURCES]}
