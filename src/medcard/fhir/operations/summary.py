"""``Patient/{id}/$summary``: what a clinician sees on opening a child's chart, as one document.

An International Patient Summary-style document Bundle: a Composition (sections: active
problems, allergies, current medications, immunizations, the last visits, the latest vital signs
and growth measurements, pending orders, recent results) followed by the Patient and every
resource the sections name. It is the hot path of the product, so it is **one** SQL statement
whatever the size of the record: each section picks its rows through the index tables (which
carry the patient id), and only the picked resources are read. The sections and codes are data
(``summary.json``).
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from importlib import resources
from typing import Any

from psycopg import AsyncConnection

from medcard.core import jsonutil
from medcard.core.time import fhir_instant, utcnow
from medcard.fhir import bundles, store
from medcard.fhir.operations.base import Operation, OperationCall, Result

EMPTY_REASON = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                            "code": "nilknown", "display": "Nil Known"}]}
EMPTY_TEXT = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Нет записей</div>'}


@cache
def config() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files(__package__).joinpath("summary.json").read_text("utf-8"))
    return data


# The types the sections below show (a requester must be allowed to read each).
SHOWS = ("Condition", "AllergyIntolerance", "MedicationRequest", "MedicationStatement", "Immunization", "Encounter",
         "Observation", "ServiceRequest", "DiagnosticReport")

# Each section: rows (section, type, id, sort key) for one patient, through the index tables.
SECTIONS_SQL = """
WITH
problems AS (
    SELECT 'problems'::text AS s, t.resource_type AS rt, t.resource_id AS id, NULL::timestamptz AS k
      FROM sp_token t
     WHERE t.resource_type = 'Condition' AND t.param = 'clinical-status' AND t.code = ANY(%(problem)s)
       AND t.patient_id = %(p)s),
allergies AS (
    SELECT 'allergies', r.resource_type, r.id, r.last_updated FROM resource r
     WHERE r.patient_id = %(p)s AND r.resource_type = 'AllergyIntolerance' AND NOT r.deleted
       AND NOT EXISTS (SELECT 1 FROM sp_token t WHERE t.resource_type = r.resource_type AND t.resource_id = r.id
                        AND t.param IN ('clinical-status', 'verification-status') AND t.code = ANY(%(allergy_out)s))),
medications AS (
    SELECT 'medications', t.resource_type, t.resource_id, NULL::timestamptz FROM sp_token t
     WHERE t.resource_type IN ('MedicationRequest', 'MedicationStatement') AND t.param = 'status'
       AND t.code = ANY(%(medication)s) AND t.patient_id = %(p)s),
immunizations AS (
    SELECT 'immunizations', r.resource_type, r.id,
           (SELECT max(d.low) FROM sp_date d WHERE d.resource_type = r.resource_type AND d.resource_id = r.id
              AND d.param = 'date') AS k
      FROM resource r
     WHERE r.patient_id = %(p)s AND r.resource_type = 'Immunization' AND NOT r.deleted),
encounters AS (
    SELECT 'encounters', d.resource_type, d.resource_id, d.low FROM sp_date d
     WHERE d.patient_id = %(p)s AND d.resource_type = 'Encounter' AND d.param = 'date'
     ORDER BY d.low DESC LIMIT %(encounters)s),
vitals AS (
    SELECT DISTINCT ON (t.code) 'vitals', t.resource_type, t.resource_id,
           (SELECT max(d.high) FROM sp_date d WHERE d.resource_type = t.resource_type
              AND d.resource_id = t.resource_id AND d.param = 'date') AS k
      FROM sp_token t
     WHERE t.resource_type = 'Observation' AND t.param = 'code' AND t.code = ANY(%(vital)s)
       AND t.patient_id = %(p)s
     ORDER BY t.code, k DESC NULLS LAST),
orders AS (
    SELECT 'orders', t.resource_type, t.resource_id, NULL::timestamptz FROM sp_token t
     WHERE t.resource_type = 'ServiceRequest' AND t.param = 'status' AND t.code = ANY(%(order)s)
       AND t.patient_id = %(p)s),
reports AS (
    SELECT 'results', d.resource_type, d.resource_id, d.low FROM sp_date d
     WHERE d.patient_id = %(p)s AND d.resource_type = 'DiagnosticReport' AND d.param = 'date'
     ORDER BY d.low DESC LIMIT %(reports)s),
labs AS (
    SELECT 'results', d.resource_type, d.resource_id, d.low FROM sp_date d
     WHERE d.patient_id = %(p)s AND d.resource_type = 'Observation' AND d.param = 'date'
       AND d.resource_id IN (SELECT t.resource_id FROM sp_token t WHERE t.resource_type = 'Observation'
                              AND t.param = 'category' AND t.code = 'laboratory' AND t.patient_id = %(p)s)
     ORDER BY d.low DESC LIMIT %(labs)s),
picked AS (
    SELECT 'patient'::text AS s, 'Patient'::text AS rt, %(p)s::text AS id, NULL::timestamptz AS k
    UNION ALL SELECT * FROM problems UNION ALL SELECT * FROM allergies UNION ALL SELECT * FROM medications
    UNION ALL SELECT * FROM immunizations UNION ALL SELECT * FROM encounters UNION ALL SELECT * FROM vitals
    UNION ALL SELECT * FROM orders UNION ALL SELECT * FROM reports UNION ALL SELECT * FROM labs)
SELECT x.s, r.resource_type, r.id, r.content
  FROM picked x JOIN resource r ON r.resource_type = x.rt AND r.id = x.id AND NOT r.deleted
 ORDER BY x.s, x.k DESC NULLS LAST, r.id
"""


def section_params(patient_id: str) -> dict[str, Any]:
    """The parameters of :data:`SECTIONS_SQL` (the chart page reads it within a statement of its own)."""
    c = config()
    return {"p": patient_id, "problem": c["problemStatuses"], "allergy_out": c["allergyExcludedStatuses"],
            "medication": c["medicationStatuses"], "order": c["orderStatuses"], "vital": list(c["vitalSignCodes"]),
            "encounters": c["recentEncounters"], "reports": c["recentReports"], "labs": c["recentLabResults"]}


async def sections(conn: AsyncConnection, patient_id: str) -> list[tuple[str, str, str, str]]:
    """(section, type, id, content) of everything the summary shows, in one round trip."""
    cur = await conn.execute(SECTIONS_SQL, section_params(patient_id))
    return [(s, t, i, content) for s, t, i, content in await cur.fetchall()]


def composition(patient: dict[str, Any], picked: list[tuple[str, str, str, str]], now: str) -> dict[str, Any]:
    c = config()
    by_section: dict[str, list[str]] = {}
    for s, rtype, rid, _ in picked:
        by_section.setdefault(s, []).append(f"{rtype}/{rid}")
    out_sections = []
    for section in c["sections"]:
        entries = by_section.get(section["key"], [])
        item: dict[str, Any] = {"title": section["title"], "code": {"coding": [
            {"system": "http://loinc.org", "code": section["code"], "display": section["display"]}]}}
        if entries:
            item["entry"] = [{"reference": ref} for ref in dict.fromkeys(entries)]
        else:
            item["text"] = EMPTY_TEXT
            item["emptyReason"] = EMPTY_REASON
        out_sections.append(item)
    author = patient.get("managingOrganization") or {"display": "medcard"}
    return {
        "resourceType": "Composition", "id": str(uuid.uuid4()), "status": "final",
        "type": {"coding": [c["document"]]}, "subject": {"reference": f"Patient/{patient['id']}"},
        "date": now, "author": [author], "title": "Сводка по пациенту", "section": out_sections,
    }


async def summary(call: OperationCall) -> Result:
    assert call.resource_id is not None
    async with call.db.connection() as conn:
        picked = await sections(conn, call.resource_id)
        if call.gate is not None:
            shown = await call.gate.content_filter(conn, call.resource_id)
            picked = [row for row in picked if row[0] == "patient" or shown(row[1], row[3])]
        own = next((content for s, _, _, content in picked if s == "patient"), None)
        if own is None:
            await store.read(conn, "Patient", call.resource_id)  # 404 or 410, said properly
            raise AssertionError("unreachable: a readable patient is always in its summary")
    patient = jsonutil.loads(own)
    now = fhir_instant(utcnow())
    doc = composition(patient, picked, now)
    entries = [bundles.entry(full_url=f"{call.base}/Composition/{doc['id']}", content=jsonutil.dumps_str(doc))]
    seen: set[tuple[str, str]] = set()
    for _, rtype, rid, content in sorted(picked, key=lambda row: row[0] != "patient"):
        if (rtype, rid) not in seen:
            seen.add((rtype, rid))
            entries.append(bundles.entry(full_url=f"{call.base}/{rtype}/{rid}", content=content))
    identifier = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}
    return Result(body=bundles.bundle("document", entries, identifier=identifier, timestamp=now))


OPERATION = Operation(
    name="summary",
    definition="http://hl7.org/fhir/uv/ips/OperationDefinition/summary",
    resource_types=("Patient",),
    instance=True,
    type_level=False,
    system=False,
    access="read",
    methods=("GET",),
    handler=summary,
    documentation="The chart summary as an IPS-style document Bundle; one query whatever the record's size.",
    shows=SHOWS,
)
