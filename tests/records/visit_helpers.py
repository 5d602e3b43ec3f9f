"""Helpers of the visit tests: a child in a clinic, its pediatrician, and forms saved as the page saves them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx

from helpers import create_account, created_id, post, run_db
from medcard.access.gate import Gate
from medcard.access.requester import Requester, StaffRole
from medcard.records import drafts, visit_save
from medcard.records.protocol import Author
from medcard.records.visit import Child, Errors, Fields, check

NOW = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)  # 10:30 in Moscow on the tests' fixed day


@dataclass(frozen=True)
class Clinic:
    """A clinic, its pediatrician (a Practitioner and a staff requester) and a child attached to it."""

    organization: str
    practitioner: str
    child: Child
    doctor: Requester

    @property
    def author(self) -> Author:
        return Author(f"Practitioner/{self.practitioner}", "Иванова Анна Петровна", "Врач-педиатр",
                      f"Organization/{self.organization}")


def clinic(http: httpx.Client, url: str, birth: date, sex: str = "female", username: str = "dr.ivanova") -> Clinic:
    """A clinic with a child born on ``birth``, written through the API by a backend service."""
    org = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 1"}))
    practitioner = created_id(post(http, "/Practitioner", {"resourceType": "Practitioner",
                                                           "name": [{"family": "Иванова", "given": ["Анна"]}]}))
    child = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": birth.isoformat(), "gender": sex,
        "name": [{"family": "Соколова", "given": ["Вера"]}],
        "managingOrganization": {"reference": f"Organization/{org}"}}))
    account = create_account(url, "staff", username, roles=[("pediatrician", org)], practitioner_id=practitioner)
    doctor = Requester("staff", "Иванова Анна Петровна", account_id=account,
                       roles=(StaffRole("pediatrician", org),), practitioner_id=practitioner)
    return Clinic(org, practitioner, Child(child, birth, sex, f"Organization/{org}"), doctor)  # type: ignore[arg-type]


def new_draft(url: str, c: Clinic, kind: str, fields: Fields | None = None) -> drafts.Draft:
    async def work(conn: Any) -> drafts.Draft:
        return await drafts.create(conn, c.doctor.account_id or "", c.child.id, kind, fields or {})  # type: ignore[arg-type]

    return run_db(url, work)


def submit(url: str, base: str, c: Clinic, key: str, fields: Fields, today: date
           ) -> Errors | visit_save.Saved | visit_save.Stale:
    """Check the form and save it, as the page does: the gate's audit entries written with the visit."""
    async def work(conn: Any) -> Errors | visit_save.Saved | visit_save.Stale:
        checked = await check(conn, fields, c.child, today)
        if isinstance(checked, dict):
            return checked
        gate = Gate(conn, c.doctor)
        result = await visit_save.save(conn, gate, base, c.doctor.account_id or "", key, checked, c.child,
                                       c.author, NOW)
        await gate.flush(conn)
        return result

    return run_db(url, work)


def form(**values: str | list[str]) -> Fields:
    """Form fields as the browser posts them."""
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}
