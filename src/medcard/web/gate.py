"""The gate of a page: the same :class:`~medcard.access.gate.Gate` and audit flush as the FHIR API.

``async with page_gate(request, user) as (conn, gate):`` gives a connection (a transaction with
``write=True``) and the gate of the signed-in person; what the gate decided is written to the audit
log before the page leaves, and a failed page's entries afterwards (refusals as refusals, the rest
as failures) — it *is* ``fhir.api.access.gated``, handed the page's requester.

Emergency access ("break the glass"): a clinician states a reason once on
``/app/patients/{id}/break-glass``; it is kept server-side with the session for that patient
(``web_break_glass``) for ``break_glass_hours`` of ``policy.json`` at most, and every page of that
patient in that session carries it, so the policy allows the read and the audit log records it as
emergency access with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from psycopg import AsyncConnection
from starlette.requests import Request

from medcard.access import sessions
from medcard.access.gate import Gate
from medcard.access.policy import Decision, may_break_glass, rules
from medcard.fhir.api.access import MAX_REASON, gated
from medcard.state import database as _db
from medcard.web.session import PageUser

CHART_MISSING = "no such patient"  # the one answer for a chart that does not exist and one refused


def break_glass_ttl() -> timedelta:
    return timedelta(hours=float(rules()["break_glass_hours"]))


async def stated_reason(conn: AsyncConnection, user: PageUser, patient_id: str) -> str | None:
    """The emergency-access reason this session stated for the patient, while it lasts."""
    cur = await conn.execute("SELECT reason FROM web_break_glass WHERE session_hash = %s AND patient_id = %s "
                             "AND expires_at > now()", (sessions.id_hash(user.session), patient_id))
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def state_reason(conn: AsyncConnection, user: PageUser, patient_id: str, reason: str) -> None:
    """Keep a stated emergency-access reason with the session (the caller checked ``may_break_glass``)."""
    await conn.execute(
        "INSERT INTO web_break_glass (session_hash, patient_id, reason, expires_at) VALUES (%s, %s, %s, now() + %s) "
        "ON CONFLICT (session_hash, patient_id) DO UPDATE SET reason = EXCLUDED.reason, "
        "created_at = now(), expires_at = EXCLUDED.expires_at",
        (sessions.id_hash(user.session), patient_id, reason[:MAX_REASON], break_glass_ttl()))


@asynccontextmanager
async def page_gate(request: Request, user: PageUser, *, patient_id: str | None = None,
                    write: bool = False) -> AsyncIterator[tuple[AsyncConnection, Gate]]:
    """The page's connection and gate (see the module). ``patient_id``: the patient the page is about,
    whose stated emergency-access reason, if any, the requester carries."""
    requester = user.requester
    if patient_id is not None and may_break_glass(requester):
        async with _db(request).connection() as conn:
            reason = await stated_reason(conn, user, patient_id)
        requester = requester.with_break_glass(reason)
    request.state.requester = requester  # what `gated` authenticates the request as
    async with gated(request, _db(request), write=write) as (conn, gate):
        yield conn, gate


async def open_chart(gate: Gate, patient_id: str) -> Decision:
    """Opening a patient's chart: an audited read of the Patient; a refusal raises the same
    ``NotFound`` as a patient that does not exist (the caller raises ``NotFound(CHART_MISSING)``)."""
    return await gate.check(patient_id, "Patient", "read", entity=f"Patient/{patient_id}", missing=CHART_MISSING)
