"""A family for the portal's tests: a parent of two children (a toddler and a teenager of 15 who has
an own account too), records with visits, a specialist's consultation, results (one above its range),
vaccinations, growth, an active problem, an allergy and a document; and another family's child.

Built through the FHIR API as a backend service and the accounts module, as a registrar would.
``db`` runs database work: ``run_db`` directly, or through ``off_loop`` while a browser is open.
"""

from __future__ import annotations

import base64
import html
import itertools
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import psycopg

from helpers import created_id, post, run_db
from medcard.access import accounts
from medcard.access.requester import Requester
from medcard.core.identifiers import enp_check_digit, system_uri

PASSWORD = "correct horse battery"
REGISTRY = Requester("system", "registry")
Db = Callable[[str, Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]], Any]
_seed = itertools.count(31000)


@dataclass(frozen=True)
class Family:
    parent: str  # usernames
    teen_login: str
    toddler: str  # patient ids
    teen: str
    other: str  # another family's child
    document: str  # a DocumentReference of the toddler


def _patient(http: httpx.Client, clinic: str, family: str, given: str, gender: str, birth: str) -> str:
    head = f"{7700000000000000 + next(_seed):016d}"[:15]
    return created_id(post(http, "/Patient", {
        "resourceType": "Patient", "gender": gender, "birthDate": birth,
        "name": [{"family": family, "given": [given]}], "managingOrganization": {"reference": f"Organization/{clinic}"},
        "identifier": [{"system": system_uri("enp"), "value": head + enp_check_digit(head)}]}))


def _encounter(http: httpx.Client, child: str, doctor: str, on: str, specialist: str, specialty: str,
               title: str) -> str:
    return created_id(post(http, "/Encounter", {
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"text": title}],
        "serviceType": {"coding": [{"system": "urn:medcard:code-system:specialist", "code": specialist}],
                        "text": specialty},
        "subject": {"reference": f"Patient/{child}"},
        "participant": [{"individual": {"reference": f"Practitioner/{doctor}"}}],
        "period": {"start": f"{on}T10:00:00+03:00", "end": f"{on}T10:20:00+03:00"}}))


def _condition(http: httpx.Client, child: str, encounter: str | None, code: str, text: str, status: str,
               onset: str) -> None:
    post(http, "/Condition", {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": status}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}], "text": text},
        "subject": {"reference": f"Patient/{child}"}, "onsetDateTime": onset,
        **({"encounter": {"reference": f"Encounter/{encounter}"}} if encounter else {})})


def _observation(http: httpx.Client, child: str, loinc: str, text: str, value: float, unit: str, ucum: str, on: str,
                 low: float | None = None, high: float | None = None, flag: str | None = None) -> str:
    obs: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}], "text": text},
        "subject": {"reference": f"Patient/{child}"}, "effectiveDateTime": f"{on}T09:00:00+03:00",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": ucum}}
    if low is not None:
        obs["referenceRange"] = [{"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}]
    if flag:
        obs["interpretation"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": flag}]}]
    return created_id(post(http, "/Observation", obs))


def _record(http: httpx.Client, child: str, name: str, clinic: str, doctor: str, ent: str, birth: date,
            today: date) -> str:
    """Visits, a consultation, a blood count with one value high, a hepatitis B dose, growth, a problem,
    an allergy and a certificate; the certificate's id."""
    visit = _encounter(http, child, doctor, (today.replace(day=1)).isoformat(), "pediatrician",
                       "Врач-педиатр участковый", "Приём по заболеванию")
    _condition(http, child, visit, "J06.9", "Острая инфекция верхних дыхательных путей", "resolved",
               today.replace(day=1).isoformat())
    consult = _encounter(http, child, ent, today.replace(day=5).isoformat(), "otorhinolaryngologist",
                         "Врач-оториноларинголог", "Консультация")
    _condition(http, child, consult, "J35.2", "Гипертрофия аденоидов", "active", today.replace(day=5).isoformat())
    on = today.replace(day=10).isoformat()
    hb = _observation(http, child, "718-7", "Гемоглобин", 118, "г/л", "g/L", on, 110, 140, "N")
    wbc = _observation(http, child, "6690-2", "Лейкоциты", 13.2, "×10⁹/л", "10*9/L", on, 5.0, 12.0, "H")
    post(http, "/DiagnosticReport", {
        "resourceType": "DiagnosticReport", "status": "final", "issued": f"{on}T15:00:00+03:00",
        "effectiveDateTime": f"{on}T09:00:00+03:00",
        "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}], "text": "Общий анализ крови"},
        "subject": {"reference": f"Patient/{child}"},
        "result": [{"reference": f"Observation/{hb}"}, {"reference": f"Observation/{wbc}"}]})
    post(http, "/Immunization", {
        "resourceType": "Immunization", "status": "completed",
        "vaccineCode": {"coding": [{"system": "urn:medcard:code-system:vaccine", "code": "hepb"}],
                        "text": "Регевак В"},
        "patient": {"reference": f"Patient/{child}"}, "occurrenceDateTime": birth.isoformat(),
        "protocolApplied": [{"targetDisease": [{"coding": [{"system": "http://snomed.info/sct", "code": "66071002"}]}],
                             "doseNumberPositiveInt": 1}]})
    _observation(http, child, "29463-7", "Масса тела", 12.1 if today.year - birth.year < 5 else 58.0, "кг", "kg",
                 today.replace(day=1).isoformat())
    _observation(http, child, "8302-2", "Рост", 86.0 if today.year - birth.year < 5 else 170.0, "см", "cm",
                 today.replace(day=1).isoformat())
    post(http, "/AllergyIntolerance", {
        "resourceType": "AllergyIntolerance", "patient": {"reference": f"Patient/{child}"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                       "code": "active"}]},
        "code": {"text": "Амоксициллин"}})
    text = f"Медицинская справка\nПациент: {name}\nЗдоров, может посещать детский сад.\n"
    return created_id(post(http, "/DocumentReference", {
        "resourceType": "DocumentReference", "status": "current", "docStatus": "final",
        "type": {"text": "Медицинская справка"}, "description": "Справка в детский сад",
        "subject": {"reference": f"Patient/{child}"}, "date": f"{today.replace(day=12).isoformat()}T12:00:00+03:00",
        "custodian": {"reference": f"Organization/{clinic}"},
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "language": "ru",
                                    "data": base64.b64encode(text.encode()).decode()}}]}))


def make_family(http: httpx.Client, url: str, today: date, db: Db = run_db) -> Family:
    """The family, with sign-ins: the parent and the teenager (password ``PASSWORD``)."""
    clinic = created_id(post(http, "/Organization", {"resourceType": "Organization",
                                                     "name": "Детская поликлиника № 7"}))
    doctor = created_id(post(http, "/Practitioner", {"resourceType": "Practitioner",
                                                     "name": [{"family": "Казакова", "given": ["Татьяна"]}]}))
    ent = created_id(post(http, "/Practitioner", {"resourceType": "Practitioner",
                                                  "name": [{"family": "Орлов", "given": ["Пётр"]}]}))
    toddler_birth = date(today.year - 2, today.month, 1)
    teen_birth = date(today.year - 15, 1, 15)
    toddler = _patient(http, clinic, "Соколова", "Вера", "female", toddler_birth.isoformat())
    teen = _patient(http, clinic, "Соколов", "Иван", "male", teen_birth.isoformat())
    other = _patient(http, clinic, "Чужой", "Пётр", "male", date(today.year - 4, 3, 3).isoformat())
    document = _record(http, toddler, "Соколова Вера", clinic, doctor, ent, toddler_birth, today)
    _record(http, teen, "Соколов Иван", clinic, doctor, ent, teen_birth, today)
    tag = uuid.uuid4().hex[:6]
    parent, teen_login = f"mama-{tag}@example.ru", f"ivan-{tag}@example.ru"
    parent_id = create_account_via(db, url, parent, None, "standard")
    create_account_via(db, url, teen_login, teen, "full")

    async def link(conn: psycopg.AsyncConnection[Any]) -> None:
        for child in (toddler, teen):
            await accounts.link(conn, REGISTRY, parent_id, child, "parent", "свидетельство II-МЮ 100200")

    db(url, link)
    return Family(parent, teen_login, toddler, teen, other, document)


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a form (the sign-in form's CSRF token)."""
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def create_account_via(db: Db, url: str, username: str, patient_id: str | None, level: str) -> str:
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        return await accounts.create(conn, kind="family", username=username,
                                     display_name=username.split("-")[0].title(), password=PASSWORD,
                                     patient_id=patient_id, level=level)

    result: str = db(url, work)
    return result

