"""A policy decides once per request: what it read (a child's facts, a care relation) holds for the request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg

from conftest import FIXED_TODAY
from helpers import created_id, post, put, run_db
from medcard.access.policy import Policy
from medcard.access.requester import Requester, StaffRole

DOCTOR = Requester("staff", "Д-р Петрова", roles=(StaffRole("pediatrician", "org-elsewhere"),),
                   practitioner_id="dr-petrova")


def test_a_care_relation_is_read_once_per_request(http: httpx.Client, database_url: str) -> None:
    assert put(http, "/Practitioner/dr-petrova", {"resourceType": "Practitioner", "id": "dr-petrova"}).status_code \
        in (200, 201)
    child = created_id(post(http, "/Patient", {"resourceType": "Patient", "birthDate": "2019-05-01"}))
    referral = created_id(post(http, "/ServiceRequest", {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{child}"}, "performer": [{"reference": "Practitioner/dr-petrova"}]}))

    async def decisions(conn: psycopg.AsyncConnection[Any]) -> list[tuple[bool, str]]:
        policy = Policy(conn, DOCTOR, FIXED_TODAY)
        first = await policy.decide(child, "Observation", "read")
        ended = await asyncio.to_thread(http.delete, f"/ServiceRequest/{referral}")  # the referral ends meanwhile
        assert ended.status_code == 204
        again = await policy.decide(child, "Observation", "read")
        other_type = await policy.decide(child, "Condition", "read")
        next_request = await Policy(conn, DOCTOR, FIXED_TODAY).decide(child, "Observation", "read")
        return [(d.allowed, d.reason) for d in (first, again, other_type, next_request)]

    first, again, other_type, next_request = run_db(database_url, decisions)
    assert first == (True, "you hold a referral or an appointment for the child")
    assert again == first  # the decision holds for the rest of the request
    assert other_type == first  # and the relation it read serves the request's other decisions
    assert next_request == (False, "the child is not in your care")  # the next request reads it afresh
