"""A small, hand-made record of one child for the document tests: every kind of fact a document shows,
with Cyrillic, Latin and symbols (№ « » ° µ ±), and text that looks like markup."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg

from helpers import post
from medcard.access.gate import Gate
from medcard.access.requester import Requester
from medcard.config import Settings
from medcard.documents import render as documents
from medcard.documents.render import RenderedPdf

Resource = dict[str, Any]
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
CHILD_NAME = "Ёлкина-Щербакова Анна-Мария Юрьевна"
CLINIC_NAME = "ГБУЗ «Детская городская поликлиника № 7 ДЗМ»"
DOCTOR_NAME = "Соловьёва Ирина Петровна"
SCRIPT_NOTE = "Жалобы со слов мамы <script>alert('x')</script> & «кашель» ± 2 дня, t° 38,2, µ-тест"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def entry(resource: Resource) -> Resource:
    rid = resource["id"]
    return {"fullUrl": f"{resource['resourceType']}/{rid}", "resource": resource,
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{rid}"}}


def quantity(value: float, unit: str, code: str) -> Resource:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code}


def obs(rid: str, code: str, display: str, value: Resource, *, category: str = "vital-signs", when: str,
        encounter: str = "Encounter/enc-1", extra: Resource | None = None) -> Resource:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "category": [{"coding": [{"system": OBS_CAT, "code": category}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
            "subject": {"reference": "Patient/child-1"}, "encounter": {"reference": encounter},
            "effectiveDateTime": when, **value, **(extra or {})}


def base_record(*, note: str = SCRIPT_NOTE, long_note: str = "") -> list[Resource]:
    """The clinic, its doctor, the child and one visit with everything a protocol shows, and its documents."""
    visit_text = "\n".join(["Протокол приёма врача-педиатра", "Дата: 10.11.2026", note,
                            "Объективно: зев гиперемирован, дыхание везикулярное.", long_note])
    return [
        {"resourceType": "Organization", "id": "org-7", "active": True, "name": CLINIC_NAME,
         "telecom": [{"system": "phone", "value": "+7 495 123-45-67"}],
         "address": [{"text": "Москва, ул. Строителей, д. 5"}]},
        {"resourceType": "Practitioner", "id": "doc-1", "active": True,
         "name": [{"use": "official", "family": "Соловьёва", "given": ["Ирина", "Петровна"], "text": DOCTOR_NAME}],
         "qualification": [{"code": {"text": "Врач-педиатр участковый"}}]},
        {"resourceType": "PractitionerRole", "id": "role-1", "active": True,
         "practitioner": {"reference": "Practitioner/doc-1"}, "organization": {"reference": "Organization/org-7"},
         "code": [{"text": "Врач-педиатр участковый"}]},
        {"resourceType": "Patient", "id": "child-1", "gender": "female", "birthDate": "2022-03-15",
         "name": [{"use": "official", "family": "Ёлкина-Щербакова", "given": ["Анна-Мария", "Юрьевна"],
                   "text": CHILD_NAME}],
         "address": [{"text": "Москва, ул. Ленина, д. 1, кв. 2"}],
         "managingOrganization": {"reference": "Organization/org-7"},
         "generalPractitioner": [{"reference": "PractitionerRole/role-1"}]},
        {"resourceType": "Encounter", "id": "enc-1", "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "type": [{"text": "Приём по заболеванию"}], "subject": {"reference": "Patient/child-1"},
         "participant": [{"individual": {"reference": "PractitionerRole/role-1"}}],
         "period": {"start": "2026-11-10T09:30:00+03:00", "end": "2026-11-10T09:50:00+03:00"},
         "reasonCode": [{"text": "Жалобы на кашель и насморк"}],
         "serviceProvider": {"reference": "Organization/org-7"}},
        obs("t-1", "8310-5", "Температура тела", {"valueQuantity": quantity(38.2, "°C", "Cel")},
            when="2026-11-10T09:33:00+03:00"),
        obs("w-1", "29463-7", "Масса тела", {"valueQuantity": quantity(14.1, "kg", "kg")},
            when="2026-11-10T09:34:00+03:00"),
        obs("h-1", "8302-2", "Рост", {"valueQuantity": quantity(96.5, "cm", "cm")}, when="2026-11-10T09:34:00+03:00"),
        {"resourceType": "Condition", "id": "cond-1",
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                        "code": "active"}]},
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                   "code": "encounter-diagnosis"}]}],
         "code": {"coding": [{"system": ICD10, "code": "J06.9", "display": "Острая инфекция верхних дыхательных путей "
                              "неуточнённая"}], "text": "ОРВИ"},
         "subject": {"reference": "Patient/child-1"}, "encounter": {"reference": "Encounter/enc-1"},
         "onsetDateTime": "2026-11-08", "note": [{"text": note}]},
        {"resourceType": "MedicationRequest", "id": "med-1", "status": "active", "intent": "order",
         "medicationCodeableConcept": {"text": "Ибупрофен, суспензия 100 мг/5 мл"},
         "subject": {"reference": "Patient/child-1"}, "encounter": {"reference": "Encounter/enc-1"},
         "authoredOn": "2026-11-10T09:45:00+03:00", "requester": {"reference": "PractitionerRole/role-1"},
         "dosageInstruction": [{"text": "по 7 мл при t° > 38,5 °C, не чаще 3 раз в сутки"}]},
        {"resourceType": "ServiceRequest", "id": "sr-1", "status": "active", "intent": "order",
         "code": {"text": "Консультация врача-оториноларинголога"}, "subject": {"reference": "Patient/child-1"},
         "encounter": {"reference": "Encounter/enc-1"}, "occurrenceDateTime": "2026-11-17",
         "performerType": {"text": "Врач-оториноларинголог"}},
        obs("lab-1", "6690-2", "Лейкоциты", {"valueQuantity": quantity(11.8, "10*9/л", "10*9/L"),
                                              "interpretation": [{"coding": [{"code": "H"}]}],
                                              "referenceRange": [{"low": quantity(5.5, "10*9/л", "10*9/L"),
                                                                  "high": quantity(11.0, "10*9/л", "10*9/L")}]},
            category="laboratory", when="2026-11-11T08:30:00+03:00"),
        obs("lab-2", "718-7", "Гемоглобин", {"valueQuantity": quantity(121, "г/л", "g/L"),
                                             "referenceRange": [{"low": quantity(110, "г/л", "g/L"),
                                                                 "high": quantity(140, "г/л", "g/L")}]},
            category="laboratory", when="2026-11-11T08:30:00+03:00"),
        {"resourceType": "DiagnosticReport", "id": "dr-1", "status": "final",
         "code": {"text": "Общий (клинический) анализ крови"}, "subject": {"reference": "Patient/child-1"},
         "encounter": {"reference": "Encounter/enc-1"}, "effectiveDateTime": "2026-11-11T08:30:00+03:00",
         "issued": "2026-11-11T13:00:00+03:00", "result": [{"reference": "Observation/lab-1"},
                                                           {"reference": "Observation/lab-2"}],
         "conclusion": "Лейкоцитоз 11,8 × 10⁹/л"},
        {"resourceType": "Immunization", "id": "imm-1", "status": "completed",
         "vaccineCode": {"text": "Инфанрикс Гекса"}, "patient": {"reference": "Patient/child-1"},
         "occurrenceDateTime": "2022-05-20T10:00:00+03:00", "lotNumber": "A21CB№5",
         "note": [{"text": "Реакций нет"}],
         "protocolApplied": [{"targetDisease": [{"coding": [{"system": "http://snomed.info/sct", "code": c}]}
                                                for c in ("397430003", "27836007", "76902006", "398102009",
                                                          "709410003", "66071002")],
                              "doseNumberPositiveInt": 1}]},
        {"resourceType": "DocumentReference", "id": "doc-visit", "status": "current",
         "type": {"coding": [{"system": LOINC, "code": "11506-3"}], "text": "Протокол приёма"},
         "subject": {"reference": "Patient/child-1"}, "date": "2026-11-10T09:55:00+03:00",
         "author": [{"reference": "PractitionerRole/role-1"}], "custodian": {"reference": "Organization/org-7"},
         "description": "Протокол приёма врача-педиатра по заболеванию",
         "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": _b64(visit_text)}}],
         "context": {"encounter": [{"reference": "Encounter/enc-1"}]}},
        {"resourceType": "DocumentReference", "id": "doc-lab", "status": "current",
         "type": {"coding": [{"system": LOINC, "code": "11502-2"}]},
         "subject": {"reference": "Patient/child-1"}, "date": "2026-11-11T13:05:00+03:00",
         "custodian": {"reference": "Organization/org-7"},
         "content": [{"attachment": {"contentType": "text/plain", "data": _b64("ОАК")}}],
         "context": {"related": [{"reference": "DiagnosticReport/dr-1"}]}},
        {"resourceType": "DocumentReference", "id": "doc-school", "status": "current",
         "type": {"text": "Медицинская справка"}, "subject": {"reference": "Patient/child-1"},
         "date": "2026-11-12T10:00:00+03:00", "author": [{"reference": "PractitionerRole/role-1"}],
         "custodian": {"reference": "Organization/org-7"},
         "description": "Медицинская справка для поступления в дошкольную образовательную организацию",
         "content": [{"attachment": {"contentType": "text/html", "data": _b64(
             "<html><body><p>Противопоказаний к посещению не выявлено.</p></body></html>")}}]},
        {"resourceType": "DocumentReference", "id": "doc-vacc", "status": "current",
         "type": {"coding": [{"system": "urn:medcard:code-system:document-kind", "code": "vaccination-certificate"}]},
         "subject": {"reference": "Patient/child-1"}, "date": "2026-11-12T10:00:00+03:00",
         "custodian": {"reference": "Organization/org-7"},
         "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/none"}}]},
    ]


def bundle(resources: list[Resource]) -> Resource:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [entry(r) for r in resources]}


SYSTEM = Requester("system", "document tests")


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(["/usr/bin/pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], check=True,
                         capture_output=True)
    return out.stdout.decode()


def load(http: httpx.Client, resources: list[dict[str, Any]]) -> None:
    r = post(http, "/", bundle(resources))
    assert r.status_code == 200, r.text


def run_render(url: str, settings: Settings, docref_id: str, requester: Requester = SYSTEM) -> RenderedPdf:
    async def go() -> RenderedPdf:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            gate = Gate(conn, requester)
            rendered = await documents.render(conn, gate, docref_id, settings=settings)
            await gate.flush(conn)
            await conn.commit()
            return rendered

    return asyncio.run(go())
