"""A small hand-made record for the chart's tests: one child (p1) with every kind of data the chart
shows, a child with an empty record (p2, another clinic), and a child with no known allergies (p3).

Expected values in the tests are worked out by hand from these resources; today is 26.11.2026
(tests/conftest.py).
"""

from __future__ import annotations

import base64
from typing import Any

from medcard.core.identifiers import enp_check_digit, snils_check_digits

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
SNILS = "urn:oid:1.2.643.2.69.1.1.1.6.223"
ENP = "urn:oid:1.2.643.2.69.1.1.1.6.228"
SPECIALIST = "urn:medcard:code-system:specialist"
TERM = "http://terminology.hl7.org/CodeSystem/"
LAB = [{"coding": [{"system": TERM + "observation-category", "code": "laboratory"}]}]
VITAL = [{"coding": [{"system": TERM + "observation-category", "code": "vital-signs"}]}]
AMB = {"system": TERM + "v3-ActCode", "code": "AMB"}

SNILS_P1 = "112233445" + snils_check_digits("112233445")
ENP_P1 = "770000000000012" + enp_check_digit("770000000000012")
PAPER_CARD = "urn:medcard:paper-card:7"
HOSTILE = "<script>alert(1)</script> t < 38 & ok"


def _text(text: str, kind: str = "text/plain") -> dict[str, Any]:
    return {"contentType": f"{kind}; charset=utf-8", "language": "ru",
            "data": base64.b64encode(text.encode()).decode("ascii")}


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code}


def _lab(oid: str, code: str, name: str, value: float, unit: str, ucum: str, low: float, high: float, flag: str,
         when: str, encounter: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "category": LAB,
            "code": {"coding": [{"system": LOINC, "code": code}], "text": name},
            "subject": {"reference": "Patient/p1"}, "encounter": {"reference": f"Encounter/{encounter}"},
            "effectiveDateTime": when, "valueQuantity": _quantity(value, unit, ucum),
            "interpretation": [{"coding": [{"system": TERM + "v3-ObservationInterpretation", "code": flag}]}],
            "referenceRange": [{"low": _quantity(low, unit, ucum), "high": _quantity(high, unit, ucum)}],
            "performer": [{"reference": "Organization/lab1"}]}


def _vital(oid: str, code: str, name: str, value: float, unit: str, ucum: str, when: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "category": VITAL,
            "code": {"coding": [{"system": LOINC, "code": code}], "text": name},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": when,
            "valueQuantity": _quantity(value, unit, ucum)}


def _encounter(eid: str, when: str, service: str, title: str, kind: str, reason: str, who: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": eid, "status": "finished", "class": AMB,
            "type": [{"coding": [{"system": SNOMED, "code": kind}], "text": title}],
            "serviceType": {"coding": [{"system": SPECIALIST, "code": service}],
                            "text": {"pediatrician": "Врач-педиатр участковый",
                                     "otorhinolaryngologist": "Врач-оториноларинголог"}[service]},
            "subject": {"reference": "Patient/p1"},
            "participant": [{"individual": {"reference": f"Practitioner/{who}"}}],
            "period": {"start": when, "end": when}, "reasonCode": [{"text": reason}],
            "serviceProvider": {"reference": "Organization/org1"}}


def _document(did: str, when: str, code: str | None, title: str, text: str, encounter: str | None,
              who: str = "pr1", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference", "id": did, "status": "current",
        "type": {"coding": [{"system": LOINC, "code": code}], "text": title} if code else {"text": title},
        "subject": {"reference": "Patient/p1"}, "date": when, "author": [{"reference": f"Practitioner/{who}"}],
        "custodian": {"reference": "Organization/org1"}, "description": title,
        "content": [{"attachment": _text(text)}], **extra}
    if encounter:
        doc["context"] = {"encounter": [{"reference": f"Encounter/{encounter}"}]}
    return doc


def _immunization(iid: str, when: str, vaccine: str, *diseases: tuple[str, str]) -> dict[str, Any]:
    return {"resourceType": "Immunization", "id": iid, "status": "completed", "vaccineCode": {"text": vaccine},
            "patient": {"reference": "Patient/p1"}, "occurrenceDateTime": when,
            "protocolApplied": [{"targetDisease": [{"coding": [{"system": SNOMED, "code": c}], "text": t}
                                                   for c, t in diseases], "doseNumberPositiveInt": 1}]}


HEP_B = ("66071002", "Вирусный гепатит B")

RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Organization", "id": "org1", "name": "ДГП № 7"},
    {"resourceType": "Organization", "id": "org2", "name": "ДГП № 30"},
    {"resourceType": "Organization", "id": "lab1", "name": "КДЛ ДГП № 7"},
    {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Иванова", "given": ["Анна", "Петровна"]}]},
    {"resourceType": "Practitioner", "id": "pr2", "name": [{"family": "Лапшин", "given": ["Фёдор", "Павлович"]}]},
    {"resourceType": "PractitionerRole", "id": "role1", "practitioner": {"reference": "Practitioner/pr1"},
     "organization": {"reference": "Organization/org1"}, "identifier": [
         {"system": "urn:medcard:code-system:district", "value": "7-12"}],
     "code": [{"text": "Врач-педиатр участковый"}]},
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "Смирнова", "given": ["Анна", "Сергеевна"]}],
     "identifier": [{"system": SNILS, "value": SNILS_P1}, {"system": ENP, "value": ENP_P1}],
     "gender": "female", "birthDate": "2024-08-10", "managingOrganization": {"reference": "Organization/org1"},
     "generalPractitioner": [{"reference": "PractitionerRole/role1"}]},
    {"resourceType": "Patient", "id": "p2", "name": [{"family": "Петров", "given": ["Иван"]}], "gender": "male",
     "birthDate": "2020-01-05", "managingOrganization": {"reference": "Organization/org2"}},
    {"resourceType": "Patient", "id": "p3", "name": [{"family": "Орлова", "given": ["Вера"]}], "gender": "female",
     "birthDate": "2026-11-14", "managingOrganization": {"reference": "Organization/org1"}},
    {"resourceType": "AllergyIntolerance", "id": "nka3", "patient": {"reference": "Patient/p3"},
     "code": {"coding": [{"system": SNOMED, "code": "716186003"}], "text": "Аллергия не выявлена"}},
    {"resourceType": "RelatedPerson", "id": "rp1", "patient": {"reference": "Patient/p1"}, "active": True,
     "relationship": [{"coding": [{"system": TERM + "v3-RoleCode", "code": "MTH"}], "text": "Мать"}],
     "name": [{"family": "Смирнова", "given": ["Ольга", "Ивановна"]}],
     "telecom": [{"system": "phone", "value": "+7 925 111-22-33"}]},
    {"resourceType": "RelatedPerson", "id": "rp2", "patient": {"reference": "Patient/p1"}, "active": True,
     "relationship": [{"text": "Отец"}], "name": [{"family": "Смирнов", "given": ["Сергей"]}]},
    {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p1"},
     "clinicalStatus": {"coding": [{"system": TERM + "allergyintolerance-clinical", "code": "active"}]},
     "code": {"text": "Амоксициллин"}, "criticality": "high",
     "reaction": [{"manifestation": [{"text": "Крапивница"}]}], "onsetDateTime": "2025-10-01"},
    {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
     "clinicalStatus": {"coding": [{"system": TERM + "condition-clinical", "code": "active"}]},
     "code": {"coding": [{"system": ICD10, "code": "L20.8"}], "text": "Атопический дерматит"},
     "onsetDateTime": "2025-02-01", "recorder": {"reference": "Practitioner/pr1"}},
    {"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
     "category": [{"text": "Диспансерное наблюдение"}], "title": "Диспансерное наблюдение: атопический дерматит",
     "subject": {"reference": "Patient/p1"}, "period": {"start": "2025-02-01"}},
    {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
     "medicationCodeableConcept": {"text": "Эмолент, крем"}, "subject": {"reference": "Patient/p1"},
     "authoredOn": "2025-02-01", "dosageInstruction": [{"text": "2 раза в день"}]},
    _encounter("e1", "2026-03-02T10:00:00+03:00", "pediatrician", "Приём по заболеванию", "185347001",
               "Жалобы на боль в ухе", "pr1"),
    {"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/p1"},
     "encounter": {"reference": "Encounter/e1"},
     "clinicalStatus": {"coding": [{"system": TERM + "condition-clinical", "code": "resolved"}]},
     "code": {"coding": [{"system": ICD10, "code": "H66.9"}], "text": "Средний отит неуточнённый"},
     "onsetDateTime": "2026-03-01", "recordedDate": "2026-03-02T10:10:00+03:00"},
    {"resourceType": "MedicationRequest", "id": "m2", "status": "completed", "intent": "order",
     "medicationCodeableConcept": {"text": "Ибупрофен, суспензия"}, "subject": {"reference": "Patient/p1"},
     "encounter": {"reference": "Encounter/e1"}, "authoredOn": "2026-03-02T10:15:00+03:00",
     "dosageInstruction": [{"text": "По 100 мг при температуре выше 38,5 °C"}]},
    {"resourceType": "ServiceRequest", "id": "s1", "status": "completed", "intent": "order",
     "code": {"text": "Консультация врача-оториноларинголога"}, "subject": {"reference": "Patient/p1"},
     "encounter": {"reference": "Encounter/e1"}, "occurrenceDateTime": "2026-03-10"},
    _document("d1", "2026-03-02T10:25:00+03:00", "11506-3", "Протокол приёма врача-педиатра по заболеванию",
              "Протокол приёма\nЖалобы на боль в ухе.\nОбъективно: барабанная перепонка гиперемирована. "
              f"{HOSTILE}\nДиагноз: H66.9 Средний отит.\nНазначения: ибупрофен.", "e1"),
    _encounter("e2", "2026-03-10T12:00:00+03:00", "otorhinolaryngologist", "Консультация специалиста",
               "11429006", "Консультация по направлению: H66.9", "pr2"),
    _document("d2", "2026-03-10T12:25:00+03:00", "11488-4", "Протокол консультации врача-оториноларинголога",
              "Направление: H66.9 Средний отит.\nОбъективно: носоглоточная миндалина увеличена.\n"
              "Заключение: Гипертрофия аденоидов I степени.\nРекомендации: наблюдение.", "e2", who="pr2"),
    {"resourceType": "DiagnosticReport", "id": "r0", "status": "final",
     "code": {"coding": [{"system": LOINC, "code": "58410-2"}], "text": "Общий (клинический) анализ крови"},
     "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
     "effectiveDateTime": "2025-06-01T09:00:00+03:00", "result": [{"reference": "Observation/o0"}],
     "conclusion": "Показатели в пределах возрастной нормы"},
    _lab("o0", "718-7", "Гемоглобин", 121, "г/л", "g/L", 110, 140, "N", "2025-06-01T09:00:00+03:00", "e1"),
    {"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
     "code": {"coding": [{"system": LOINC, "code": "58410-2"}], "text": "Общий (клинический) анализ крови"},
     "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
     "effectiveDateTime": "2026-03-03T09:00:00+03:00", "performer": [{"reference": "Organization/lab1"}],
     "result": [{"reference": "Observation/o1"}, {"reference": "Observation/o2"}, {"reference": "Observation/o3"}],
     "conclusion": "Выявлено: лейкоцитоз, снижение гемоглобина"},
    _lab("o1", "718-7", "Гемоглобин", 98, "г/л", "g/L", 110, 140, "L", "2026-03-03T09:00:00+03:00", "e1"),
    _lab("o2", "6690-2", "Лейкоциты", 15.2, "×10⁹/л", "10*9/L", 6.0, 17.5, "N", "2026-03-03T09:00:00+03:00", "e1")
    | {"valueQuantity": _quantity(19.4, "×10⁹/л", "10*9/L"),
       "interpretation": [{"coding": [{"system": TERM + "v3-ObservationInterpretation", "code": "H"}]}]},
    _lab("o3", "777-3", "Тромбоциты", 250, "×10⁹/л", "10*9/L", 150, 400, "N", "2026-03-03T09:00:00+03:00", "e1"),
    _immunization("i1", "2024-08-10", "Энджерикс B", HEP_B),
    _immunization("i2", "2024-09-10", "Энджерикс B", HEP_B),
    _vital("w1", "29463-7", "Масса тела", 3.4, "кг", "kg", "2024-08-12"),
    _vital("w2", "29463-7", "Масса тела", 8.1, "кг", "kg", "2025-02-10"),
    _vital("w3", "29463-7", "Масса тела", 12.0, "кг", "kg", "2026-08-11"),
    _vital("h3", "8302-2", "Рост", 87.0, "см", "cm", "2026-08-11"),
    {"resourceType": "Observation", "id": "hg1", "status": "final",
     "code": {"coding": [{"system": "urn:medcard:code-system:observation", "code": "health-group"}]},
     "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-08-11",
     "valueCodeableConcept": {"coding": [{"system": "urn:medcard:code-system:health-group", "code": "II"}]}},
    _document("d3", "2026-05-20T11:00:00+03:00", None, "Медицинская справка для поступления в детский сад",
              "Противопоказаний не выявлено.", None),
    _document("pc1", "2024-12-20T11:00:00+03:00", None, "История развития ребёнка (ф. 112/у)",
              "Бумажная карта", None, identifier=[{"system": PAPER_CARD, "value": "7-000123"}])
    | {"context": {"period": {"start": "2024-08-10", "end": "2024-12-31"}},
       "description": "Бумажная история развития ребёнка (ф. 112/у) № 7-000123, передана в архив"},
]


def transaction() -> dict[str, Any]:
    """The record as one transaction Bundle (PUT, so the ids are the ones above)."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in RESOURCES]}
