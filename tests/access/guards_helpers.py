"""Helpers of the privacy guard tests: real accounts, links, tokens and records, made as the matrix makes them.

Every person gets a token for a real account (``person_token``); every record is written through the
API by a backend service; links are made by a registrar (``accounts.link``). Ages are counted on the
clinics' date (``today_moscow``), the date the server's policy decides on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import psycopg

from helpers import bearer, create_account, created_id, person_token, post, run_db
from medcard.access import accounts
from medcard.access.requester import Requester
from medcard.core.identifiers import enp_check_digit, system_uri
from medcard.core.time import today_moscow

ICD10 = "http://hl7.org/fhir/sid/icd-10"
GRANT_CATEGORY = {"coding": [{"system": "urn:medcard:code-system:consent-category", "code": "medcard-access-grant"}]}
REGISTRY = Requester("system", "registry")
_seeds = iter(range(1000, 10**6))


def born(years: int, *, days_short: int = 0) -> str:
    """The birth date of a child who is ``years`` old today (their birthday is today), or who turns
    ``years`` in ``days_short`` days."""
    today = today_moscow()
    try:
        birthday = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        birthday = today.replace(year=today.year - years, day=28)
    return (birthday + timedelta(days=days_short)).isoformat()


def enp(seed: int) -> str:
    """A valid OMS policy number (ENP) of 16 digits."""
    head = f"{7700000000000000 + seed:016d}"[:15]
    return head + enp_check_digit(head)


def ids_in(bundle: dict[str, Any], rtype: str) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == rtype}


def consent(child: str, grantee: str, *, by: str | None = None, status: str = "active",
            period: dict[str, str] | None = None, category: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Consent granting the grantee's account access to the child's record."""
    grant: dict[str, Any] = {
        "resourceType": "Consent", "status": status,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [category or GRANT_CATEGORY], "patient": {"reference": f"Patient/{child}"},
        "performer": [{"reference": by} if by else {"display": "Мать"}],
        "policyRule": {"text": "Доступ к медицинской карте"},
        "provision": {"actor": [{"role": {"text": "grantee"}, "reference": {
            "identifier": {"system": "urn:medcard:account", "value": grantee}}}]}}
    if period is not None:
        grant["provision"]["period"] = period
    return grant


class World:
    """Records and accounts of one test, made through the API (as a backend service) and the account functions."""

    def __init__(self, http: httpx.Client, url: str) -> None:
        self.http = http
        self.url = url

    # records ---------------------------------------------------------------------------

    def create(self, resource: dict[str, Any]) -> str:
        return created_id(post(self.http, f"/{resource['resourceType']}", resource))

    def organization(self, name: str) -> str:
        return self.create({"resourceType": "Organization", "name": name})

    def practitioner(self, family: str) -> str:
        return self.create({"resourceType": "Practitioner", "name": [{"family": family}]})

    def child(self, birth_date: str, *, clinic: str | None = None, family: str = "Соколова",
              oms: bool = True, extension: list[dict[str, Any]] | None = None) -> str:
        patient: dict[str, Any] = {"resourceType": "Patient", "birthDate": birth_date, "gender": "female",
                                   "name": [{"family": family, "given": ["Вера"]}]}
        if oms:
            patient["identifier"] = [{"system": system_uri("enp"), "value": enp(next(_seeds))}]
        if clinic is not None:
            patient["managingOrganization"] = {"reference": f"Organization/{clinic}"}
        if extension:
            patient["extension"] = extension
        return self.create(patient)

    def condition(self, child: str, code: str) -> str:
        return self.create({"resourceType": "Condition", "subject": {"reference": f"Patient/{child}"},
                            "code": {"coding": [{"system": ICD10, "code": code}]}})

    def observation(self, child: str, code: str = "29463-7", performer: str | None = None) -> str:
        obs: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                               "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                               "subject": {"reference": f"Patient/{child}"}, "effectiveDateTime": "2026-03-02",
                               "valueQuantity": {"value": 31.5, "unit": "kg", "system": "http://unitsofmeasure.org",
                                                 "code": "kg"}}
        if performer is not None:
            obs["performer"] = [{"reference": f"Practitioner/{performer}"}]
        return self.create(obs)

    def grant(self, child: str, grantee: str, *, by: str | None = None, status: str = "active",
              period: dict[str, str] | None = None, category: dict[str, Any] | None = None) -> str:
        """An access grant (a Consent) to the grantee's account, written by a backend service; ``by``
        is the grantor (e.g. ``Patient/x``)."""
        return self.create(consent(child, grantee, by=by, status=status, period=period, category=category))

    # people ----------------------------------------------------------------------------

    def family(self, name: str, *, patient_id: str | None = None, level: str = "standard") -> str:
        """A family account (``patient_id``: the teenager's own account); its id."""
        return create_account(self.url, "family", f"{name}@example.ru", patient_id=patient_id, level=level)

    def staff(self, name: str, role: str, clinic: str, practitioner: str | None = None) -> str:
        return create_account(self.url, "staff", name, roles=[(role, clinic)], practitioner_id=practitioner)

    def token(self, account: str, scope: str = "user/*.*", *, patient_id: str | None = None) -> dict[str, str]:
        """Authorization headers of a token for the account."""
        return bearer(person_token(self.url, account, scope, patient_id=patient_id))

    def link(self, account: str, child: str, relationship: str = "parent") -> str:
        """A registrar links the account to the child, having checked the documents; the link's id."""
        async def work(conn: psycopg.AsyncConnection[Any]) -> str:
            return await accounts.link(conn, REGISTRY, account, child, relationship, "свидетельство II-МЮ 100200")

        return run_db(self.url, work)

    def parent_of(self, child: str, name: str) -> dict[str, str]:
        """A linked parent's token headers."""
        account = self.family(name)
        self.link(account, child)
        return self.token(account)

    def own_account(self, child: str, name: str) -> dict[str, str]:
        """The teenager's own full (verified) account's token headers."""
        return self.token(self.family(name, patient_id=child, level="full"))

    # the store -------------------------------------------------------------------------

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql, args).fetchall())
