"""The record as an International Patient Summary (http://hl7.org/fhir/uv/ips/): a FHIR document Bundle.

A Composition (LOINC 60591-5, "Patient summary Document") with the sections IPS requires and
recommends that a child's record fills: problems, allergies, medications, immunizations, results; then
the Patient, the author (the clinic the child is attached to) and every resource the sections list.
Each section carries a short narrative in Russian, as the Composition's human-readable part.

Streamed in two passes over the record (keys and one line of narrative first, then the resources),
so memory holds the section lists, never the resources themselves.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from medcard.core import jsonutil
from medcard.core.time import fhir_instant
from medcard.fhir import bundles, store

LOINC = "http://loinc.org"
NARRATIVE_LINES = 200  # a section's narrative lists the latest ones; the entries are all there


@dataclass(frozen=True)
class Section:
    key: str
    code: str
    display: str
    title: str
    types: tuple[str, ...]


SECTIONS = (
    Section("problems", "11450-4", "Problem list - Reported", "Проблемы со здоровьем", ("Condition",)),
    Section("allergies", "48765-2", "Allergies and adverse reactions Document", "Аллергии и непереносимость",
            ("AllergyIntolerance",)),
    Section("medications", "10160-0", "History of Medication use Narrative", "Лекарственные назначения",
            ("MedicationStatement", "MedicationRequest")),
    Section("immunizations", "11369-6", "History of Immunization Narrative", "Прививки", ("Immunization",)),
    Section("results", "30954-2", "Relevant diagnostic tests/laboratory data Narrative",
            "Результаты исследований", ("Observation", "DiagnosticReport")),
)
TYPES = sorted({t for s in SECTIONS for t in s.types})
Shown = Callable[[str, str], bool]


@dataclass
class _Listed:
    refs: list[str] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (date, text)


def section_of(rtype: str, resource: dict[str, Any]) -> Section | None:
    """The section a resource belongs in: results are laboratory Observations and the reports."""
    if rtype == "Observation":
        codes = {c.get("code") for cat in resource.get("category", []) for c in cat.get("coding", [])}
        if "laboratory" not in codes:
            return None  # vital signs and examination findings are not IPS results
    if resource.get("status") == "entered-in-error":
        return None
    return next((s for s in SECTIONS if rtype in s.types), None)


def _label(resource: dict[str, Any]) -> str:
    for key in ("code", "vaccineCode", "medicationCodeableConcept"):
        concept = resource.get(key) or {}
        text = concept.get("text") or next((c.get("display") or c.get("code") for c in concept.get("coding", [])
                                            if c.get("display") or c.get("code")), None)
        if text:
            return str(text)
    return str(resource.get("resourceType", ""))


def _when(resource: dict[str, Any]) -> str:
    for key in ("effectiveDateTime", "occurrenceDateTime", "onsetDateTime", "recordedDate", "authoredOn",
                "issued", "dateAsserted", "effectivePeriod"):
        value = resource.get(key)
        if isinstance(value, dict):
            value = value.get("start")
        if isinstance(value, str):
            return value[:10]
    return ""


def _narrative(section: Section, listed: _Listed) -> dict[str, Any]:
    if not listed.lines:
        items = "<p>Сведений нет.</p>"
    else:
        latest = sorted(listed.lines, reverse=True)[:NARRATIVE_LINES]
        rows = "".join(f"<li>{html.escape(d)} {html.escape(t)}</li>" for d, t in latest)
        more = len(listed.lines) - len(latest)
        items = f"<ul>{rows}</ul>" + (f"<p>И ещё {more} (все есть в записях документа).</p>" if more else "")
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{items}</div>'}


def composition(patient: store.Stored, author: str | None, listed: dict[str, _Listed], now: datetime,
                base: str) -> dict[str, Any]:
    """The IPS Composition: who the summary is of, by whom, and a section per part of the record."""
    sections = []
    for s in SECTIONS:
        part = listed[s.key]
        sec: dict[str, Any] = {"title": s.title, "code": {"coding": [{"system": LOINC, "code": s.code,
                                                                        "display": s.display}]},
                               "text": _narrative(s, part)}
        if part.refs:
            sec["entry"] = [{"reference": ref} for ref in part.refs]
        else:
            sec["emptyReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                              "code": "nilknown", "display": "Nil Known"}]}
        sections.append(sec)
    return {"resourceType": "Composition", "id": str(uuid.uuid4()), "status": "final",
            "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
            "subject": {"reference": f"{base}/Patient/{patient.id}"}, "date": fhir_instant(now),
            "author": [{"reference": author} if author else {"display": "medcard"}],
            "title": "Международная сводка о пациенте (IPS)", "confidentiality": "N", "section": sections}


async def ips_document(conn: AsyncConnection, base: str, patient_id: str, shown: Shown, now: datetime
                       ) -> AsyncIterator[bytes]:
    """The IPS document Bundle of a child's record, as the requester may see it, in chunks of JSON."""
    patient = await store.read(conn, "Patient", patient_id)
    listed = {s.key: _Listed() for s in SECTIONS}
    keys: list[tuple[str, str]] = []
    async for s in store.everything(conn, patient_id, types=TYPES):
        if s.content is None or s.patient_id != patient_id or not shown(s.resource_type, s.content):
            continue
        resource = jsonutil.loads(s.content)
        section = section_of(s.resource_type, resource)
        if section is None:
            continue
        listed[section.key].refs.append(bundles.full_url(base, s))
        listed[section.key].lines.append((_when(resource), _label(resource)))
        keys.append((s.resource_type, s.id))
    org = (patient.resource().get("managingOrganization") or {}).get("reference", "")
    author = await store.read_current(conn, "Organization", org[13:]) if org.startswith("Organization/") else None
    if author is not None and author.deleted:
        author = None
    comp = composition(patient, bundles.full_url(base, author) if author else None, listed, now, base)
    identifier = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}
    head = bundles.bundle("document", [], identifier=identifier, timestamp=fhir_instant(now))
    yield (head[:-1] + ',"entry":[').encode()
    yield bundles.entry(full_url=f"urn:uuid:{comp['id']}", content=jsonutil.dumps_str(comp)).encode()
    for extra in (patient, author):
        if extra is not None and extra.content is not None:
            yield ("," + bundles.entry(full_url=bundles.full_url(base, extra), content=extra.content)).encode()
    wanted = set(keys)
    # The second pass reads the rows again: what was added in between is left out (the Composition does
    # not list it); a resource deleted in between would be listed and absent, a window of milliseconds.
    async for s in store.everything(conn, patient_id, types=TYPES):
        if (s.resource_type, s.id) in wanted and s.content is not None:
            yield ("," + bundles.entry(full_url=bundles.full_url(base, s), content=s.content)).encode()
    yield b"]}"
