"""A small district written through the FHIR API: a clinic, its district pediatrician, children with
something due, the doctor's orders and their results. Dates are reckoned from the tests' fixed day
(26.11.2026)."""

from __future__ import annotations

from typing import Any

import httpx

from helpers import put

DISTRICT = "urn:medcard:code-system:district"
ENCOUNTER_TYPE = "urn:medcard:code-system:encounter-type"
SPECIALIST = "urn:medcard:code-system:specialist"
SNOMED = "http://snomed.info/sct"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
REFERRAL = [{"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]}]
LAB = [{"coding": [{"system": SNOMED, "code": "108252007", "display": "Laboratory procedure"}]}]

CLINIC, OTHER_CLINIC = "clinic-1", "clinic-2"
DOCTOR, COLLEAGUE = "doc-1", "doc-2"
DOCTOR_ROLE, COLLEAGUE_ROLE = "role-1", "role-2"


def write(http: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    r = put(http, f"/{resource['resourceType']}/{resource['id']}", resource)
    assert r.status_code in (200, 201), r.text
    return resource


def patient(pid: str, family: str, birth: str, *, gp: str = DOCTOR_ROLE, clinic: str = CLINIC,
            gender: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"use": "official", "family": family,
                                                             "given": ["Анна", "Петровна"]}],
            "gender": gender, "birthDate": birth, "managingOrganization": {"reference": f"Organization/{clinic}"},
            "generalPractitioner": [{"reference": f"PractitionerRole/{gp}"}]}


def clinic_and_staff(http: httpx.Client) -> None:
    for org in (CLINIC, OTHER_CLINIC):
        write(http, {"resourceType": "Organization", "id": org, "name": f"ДГП {org}"})
    for doc, role, district in ((DOCTOR, DOCTOR_ROLE, "1-3"), (COLLEAGUE, COLLEAGUE_ROLE, "1-4")):
        write(http, {"resourceType": "Practitioner", "id": doc, "name": [{"family": "Врачева"}]})
        write(http, {"resourceType": "PractitionerRole", "id": role, "active": True,
                     "identifier": [{"system": DISTRICT, "value": district}],
                     "practitioner": {"reference": f"Practitioner/{doc}"},
                     "code": [{"coding": [{"system": SPECIALIST, "code": "pediatrician"}],
                               "text": "Врач-педиатр участковый"}],
                     "organization": {"reference": f"Organization/{CLINIC}"}})


def observation(oid: str, pid: str, name: str, value: float, unit: str, low: float, high: float,
                flag: str | None) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "id": oid, "status": "final", "code": {"text": name},
                           "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-11-20",
                           "valueQuantity": {"value": value, "unit": unit},
                           "referenceRange": [{"low": {"value": low, "unit": unit},
                                               "high": {"value": high, "unit": unit}}]}
    if flag:
        obs["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": flag}]}]
    return obs


def order(sid: str, pid: str, category: list[dict[str, Any]], text: str, *, requester: str = DOCTOR,
          status: str = "active") -> dict[str, Any]:
    return {"resourceType": "ServiceRequest", "id": sid, "status": status, "intent": "order", "category": category,
            "code": {"text": text}, "subject": {"reference": f"Patient/{pid}"}, "authoredOn": "2026-11-18",
            "occurrenceDateTime": "2026-11-30", "requester": {"reference": f"Practitioner/{requester}"},
            "reasonCode": [{"text": "J35.0 Хронический тонзиллит"}]}


def report(rid: str, pid: str, based_on: str, results: list[str], title: str) -> dict[str, Any]:
    return {"resourceType": "DiagnosticReport", "id": rid, "status": "final", "code": {"text": title},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2026-11-20",
            "issued": "2026-11-20T14:00:00+03:00", "basedOn": [{"reference": f"ServiceRequest/{based_on}"}],
            "result": [{"reference": f"Observation/{o}"} for o in results], "conclusion": "См. показатели"}


def district(http: httpx.Client) -> None:
    """The district: see each child's comment."""
    clinic_and_staff(http)
    # one month old on 05.11.2026: the 1-month examination's window opens this month
    write(http, patient("baby", "Малышева", "2026-10-05"))
    # one year old on 10.11.2026: the 12-month examination, done (pediatrician and all specialists seen)
    write(http, patient("toddler", "Годовалова", "2025-11-10"))
    specialists = ["pediatrician", "pediatric-surgeon", "ophthalmologist", "otorhinolaryngologist",
                   "pediatric-dentist", "neurologist", "traumatologist-orthopedist", "child-psychiatrist"]
    write(http, {"resourceType": "Encounter", "id": "exam-12m", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                 "type": [{"coding": [{"system": ENCOUNTER_TYPE, "code": "preventive-examination"}]}],
                 "subject": {"reference": "Patient/toddler"}, "period": {"start": "2026-11-12T10:00:00+03:00"}})
    for n, code in enumerate(specialists):
        write(http, {"resourceType": "Encounter", "id": f"exam-12m-{n}", "status": "finished",
                     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                     "type": [{"coding": [{"system": ENCOUNTER_TYPE, "code": "preventive-examination"}]}],
                     "serviceType": {"coding": [{"system": SPECIALIST, "code": code}]},
                     "subject": {"reference": "Patient/toddler"}, "partOf": {"reference": "Encounter/exam-12m"},
                     "period": {"start": "2026-11-12T10:00:00+03:00"}})
    # seven years old, nothing this month; the doctor ordered a blood count (abnormal) and a urinalysis (normal)
    write(http, patient("pupil", "Школьникова", "2019-06-15"))
    write(http, order("cbc-order", "pupil", LAB, "Общий анализ крови", status="completed"))
    write(http, observation("hb", "pupil", "Гемоглобин", 98, "г/л", 115, 150, "L"))
    write(http, observation("wbc", "pupil", "Лейкоциты", 7.2, "×10⁹/л", 4.5, 13.5, "N"))
    write(http, report("cbc", "pupil", "cbc-order", ["hb", "wbc"], "Общий анализ крови"))
    write(http, order("ua-order", "pupil", LAB, "Общий анализ мочи", status="completed"))
    write(http, observation("ua-wbc", "pupil", "Лейкоциты в моче", 2, "в п/зр", 0, 5, "N"))
    write(http, report("ua", "pupil", "ua-order", ["ua-wbc"], "Общий анализ мочи"))
    # a referral not used yet, and one the ENT doctor saw (a consultation Encounter based on it)
    write(http, order("ref-open", "pupil", REFERRAL, "Консультация врача-невролога"))
    write(http, order("ref-done", "pupil", REFERRAL, "Консультация врача-оториноларинголога", status="completed"))
    write(http, {"resourceType": "Encounter", "id": "consult", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                 "subject": {"reference": "Patient/pupil"}, "basedOn": [{"reference": "ServiceRequest/ref-done"}],
                 "period": {"start": "2026-11-22T10:00:00+03:00"}})
    # the colleague's order and result: not in this doctor's inbox
    write(http, order("other-order", "pupil", LAB, "Общий анализ крови", requester=COLLEAGUE, status="completed"))
    write(http, observation("hb2", "pupil", "Гемоглобин", 180, "г/л", 115, 150, "HH"))
    write(http, report("cbc2", "pupil", "other-order", ["hb2"], "Общий анализ крови"))
    # the colleague's district: not in this doctor's day
    write(http, patient("neighbour", "Соседова", "2026-10-07", gp=COLLEAGUE_ROLE))
    # in the doctor's district but attached to another clinic: the policy hides it from the doctor
    write(http, patient("moved", "Переехавшая", "2026-10-06", clinic=OTHER_CLINIC))
