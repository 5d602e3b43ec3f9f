"""What a family sees of who reads a child's record: the openings from the audit log, and the
people and links that give access now. Callers have checked, through the gate, that the family
member may read the record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import AsyncConnection

from medcard.access.audit import OUTCOME_SUCCESS
from medcard.access.policy import ACCOUNT_SYSTEM, GRANT_CATEGORY
from medcard.core import jsonutil

ROLE_NAMES = {"pediatrician": "участковый педиатр", "nurse": "медицинская сестра", "specialist": "врач-специалист",
              "registrar": "регистратор", "archivist": "архивариус", "clinic-admin": "администратор поликлиники",
              "city-admin": "администратор города", "family": "семья"}


@dataclass(frozen=True)
class Opening:
    """The openings of the record by one person on one day."""

    day: date
    who: str
    role: str
    clinic: str | None
    times: int
    emergency_reason: str | None  # break-glass, with the reason stated
    shared: bool  # through a share link the family made


@dataclass(frozen=True)
class Holder:
    """Someone who may read the record now."""

    name: str
    how: str  # representative | own | grant
    relationship: str | None = None
    until: str | None = None  # a grant's end date (YYYY-MM-DD)
    consent_id: str | None = None  # a grant's Consent, to revoke it
    account_id: str | None = None


async def openings(conn: AsyncConnection, patient_id: str, viewer_account: str, *, limit: int = 100) -> list[Opening]:
    """Who opened the record and when, by day and person, newest first; the viewer's own openings and
    programs' (no person) are left out, but not openings through a share link the viewer made (they are
    recorded on the maker's account, with purpose PATRQT)."""
    cur = await conn.execute(
        """SELECT (e.recorded AT TIME ZONE 'Europe/Moscow')::date AS day, e.account_id, max(e.agent_name),
                  max(e.agent_role), count(*), max(e.break_glass), bool_or(e.purpose = 'PATRQT'),
                  max(o.content)
             FROM audit_event e
             LEFT JOIN LATERAL (SELECT r.content FROM staff_role s JOIN resource r
                                  ON r.resource_type = 'Organization' AND r.id = s.organization_id
                                 WHERE s.account_id = e.account_id LIMIT 1) o ON true
            WHERE e.patient_id = %s AND e.account_id IS NOT NULL AND e.outcome = %s
              AND (e.account_id <> %s OR e.purpose = 'PATRQT')
            GROUP BY day, e.account_id, e.purpose = 'PATRQT' ORDER BY day DESC, max(e.recorded) DESC LIMIT %s""",
        (patient_id, OUTCOME_SUCCESS, viewer_account, limit))
    found = []
    for day, _, name, role, times, reason, shared, org in await cur.fetchall():
        roles = [ROLE_NAMES.get(r, r) for r in (role or "").split(",") if r]
        clinic = jsonutil.loads(org).get("name") if org else None
        found.append(Opening(day, name or "—", ", ".join(roles) or "—", clinic, int(times), reason, bool(shared)))
    return found


async def holders(conn: AsyncConnection, patient_id: str, today: date) -> list[Holder]:
    """The legal representatives, the teenager's own account, and the grants in force."""
    found: list[Holder] = []
    cur = await conn.execute(
        "SELECT a.display_name, l.relationship, a.id::text FROM representation l JOIN account a ON a.id = l.account_id "
        "WHERE l.patient_id = %s AND l.status = 'active' ORDER BY l.verified_at", (patient_id,))
    found += [Holder(name, "representative", relationship, account_id=aid) for name, relationship, aid
              in await cur.fetchall()]
    cur = await conn.execute("SELECT display_name, id::text FROM account WHERE kind = 'family' AND patient_id = %s "
                             "AND status = 'active'", (patient_id,))
    found += [Holder(name, "own", account_id=aid) for name, aid in await cur.fetchall()]
    for consent in await grants(conn, patient_id):
        end = ((consent.get("provision") or {}).get("period") or {}).get("end")
        if consent.get("status") != "active" or (end and end[:10] < today.isoformat()):
            continue
        grantee = _grantee(consent)
        cur = await conn.execute("SELECT display_name FROM account WHERE id::text = %s", (grantee,))
        row = await cur.fetchone()
        relation = ((consent.get("provision") or {}).get("actor") or [{}])[0].get("role", {}).get("text")
        found.append(Holder(row[0] if row else "—", "grant", relation, end[:10] if end else None, consent["id"],
                            grantee))
    return found


async def grants(conn: AsyncConnection, patient_id: str) -> list[dict[str, Any]]:
    """The child's access-grant Consents (any status)."""
    cur = await conn.execute(
        "SELECT r.content FROM resource r WHERE r.resource_type = 'Consent' AND r.patient_id = %s AND NOT r.deleted",
        (patient_id,))
    found = []
    for (content,) in await cur.fetchall():
        consent = jsonutil.loads(content)
        codes = [c.get("code") for cat in consent.get("category", []) for c in cat.get("coding", [])]
        if GRANT_CATEGORY in codes and _grantee(consent):
            found.append(consent)
    return found


def _grantee(consent: dict[str, Any]) -> str | None:
    for actor in (consent.get("provision") or {}).get("actor", []):
        ident = (actor.get("reference") or {}).get("identifier") or {}
        if ident.get("system") == ACCOUNT_SYSTEM:
            return str(ident.get("value"))
    return None


def grant(patient_id: str, grantee_account: str, relation: str, until: date, today: date, *,
          by_patient: bool, by_name: str) -> dict[str, Any]:
    """The Consent that grants a relative's account read access to the child's record until ``until``."""
    return {
        "resourceType": "Consent", "status": "active", "dateTime": today.isoformat(),
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "urn:medcard:code-system:consent-category", "code": GRANT_CATEGORY}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "performer": [{"reference": f"Patient/{patient_id}"} if by_patient else {"display": by_name}],
        "policyRule": {"text": "Доступ к медицинской карте"},
        "provision": {"period": {"start": today.isoformat(), "end": until.isoformat()},
                      "actor": [{"role": {"text": relation},
                                 "reference": {"identifier": {"system": ACCOUNT_SYSTEM, "value": grantee_account}}}]}}

