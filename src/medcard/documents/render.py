"""Issue a document as a signed PDF: ``render`` for a DocumentReference, a function per kind.

Every issue goes the same way (:func:`issue`): a new verification code, the HTML of the kind's
template with the header, the QR code and the code, WeasyPrint to PDF/A-2b, a PAdES signature of
the issuing organization, and a row in the registry of issued documents with the SHA-256 of the
signed bytes. The caller owns the transaction (the registry row and, on first use, the
organization's new key are written on ``conn``).
"""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.config import Settings, get_settings
from medcard.core.errors import Unprocessable
from medcard.core.time import today_moscow
from medcard.documents import build, kinds, pdf, registry, signing, source, views
from medcard.documents.source import Resource, Source

# WeasyPrint's layout is CPU work of tens to hundreds of milliseconds (seconds for a record book): it runs
# off the event loop, one document at a time per process (its font machinery is shared and not meant for
# parallel use). A separate renderer process was tried (ADR 0012): it freed the server's GIL but added a
# second 100-250 MB process per server worker and needs a re-importable __main__ in every program that
# renders; the layout's pure-Python work already yields the GIL to the event loop every few milliseconds.
_RENDERER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medcard-pdf")


@dataclass(frozen=True)
class RenderedPdf:
    """A signed PDF and what the registry knows of it."""

    data: bytes
    code: str
    kind: str
    title: str
    verify_url: str
    sha256: str  # hex, of ``data``
    content_type: str = "application/pdf"

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.code}.pdf"


@dataclass(frozen=True)
class Issuer:
    clinic: views.Clinic
    doctor: views.Person


def verify_url(settings: Settings, code: str) -> str:
    base = (settings.base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    return f"{base}/verify/{code}"


async def to_pdf(markup: str) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(_RENDERER, pdf.to_pdf, markup)


async def issue(conn: AsyncConnection, settings: Settings, *, kind: str, template: str, context: dict[str, Any],
                issuer: Issuer, patient_id: str | None, docref_id: str | None) -> RenderedPdf:
    """Render, sign and register one document."""
    code = registry.new_code()
    url = verify_url(settings, code)
    issued_at = datetime.now(UTC)
    markup = pdf.html(template, {**context, "issued_at": issued_at,
                                 "verify": {"code": code, "url": url, "qr": pdf.qr_svg_uri(url)}})
    data = await to_pdf(markup)
    key = await signing.organization_key(conn, issuer.clinic.id, issuer.clinic.name, settings.secret())
    signed = await signing.sign(data, key, reason=f"{kinds.KINDS[kind].title}; код {code}",
                                location=issuer.clinic.name)
    await registry.record(conn, code, kind=kind, organization_id=issuer.clinic.id, issuer_name=issuer.clinic.name,
                          doctor_name=issuer.doctor.name or None, patient_id=patient_id,
                          document_reference_id=docref_id,
                          data=signed)
    return RenderedPdf(signed, code, kind, str(context.get("title", "")), url, hashlib.sha256(signed).hexdigest())


# --- who issues ---------------------------------------------------------------------------------


def _issuer(src: Source, org_refs: list[Any], doctor_refs: list[Any], gate: Gate) -> Issuer:
    """The issuing clinic (the first organization known) and doctor (the first practitioner known)."""
    clinic = next((c for c in (views.clinic(src, r) for r in org_refs if r) if c), None)
    if clinic is None:
        raise Unprocessable("the document names no issuing organization (custodian, the visit's service provider "
                            "or the child's managing organization)")
    doctor = next((p for p in (views.person(src, r) for r in doctor_refs if r) if p), None)
    return Issuer(clinic, doctor or views.Person(gate.requester.name))


def _org_refs(src: Source, *extra: Any) -> list[Any]:
    return [*extra, src.patient.get("managingOrganization")]


def _encounter_id(docref: Resource) -> str | None:
    for ref in (docref.get("context") or {}).get("encounter", []):
        target = str(ref.get("reference", ""))
        if target.startswith("Encounter/"):
            return target.split("/", 1)[1]
    return None


# --- the kinds ----------------------------------------------------------------------------------


async def render(conn: AsyncConnection, gate: Gate, docref_id: str, *, settings: Settings | None = None) -> RenderedPdf:
    """The signed PDF of a DocumentReference, built from the record it belongs to.

    404 when the DocumentReference is missing or the requester may not see it (audited); 422 when
    medcard has no printed form for its kind.
    """
    settings = settings or get_settings()
    docref, patient_id = await source.document_reference(conn, gate, docref_id)
    kind = kinds.kind_of(docref)
    if kind.code == "visit-protocol":
        return await visit_protocol(conn, gate, docref, patient_id, settings)
    if kind.code == "lab-report":
        return await lab_report(conn, gate, docref, patient_id, settings)
    if kind.code == "vaccination-certificate":
        return await vaccination_certificate(conn, gate, patient_id, settings, docref=docref)
    if kind.code == "extract-027":
        return await extract(conn, gate, patient_id, settings, docref=docref)
    if kind.code == "record-book":
        raise Unprocessable("the record book is made by Patient/{id}/$record-book, not from a DocumentReference")
    return await certificate(conn, gate, docref, patient_id, settings, kind=kind.code)


async def visit_protocol(conn: AsyncConnection, gate: Gate, docref: Resource, patient_id: str,
                         settings: Settings) -> RenderedPdf:
    """The protocol of the visit a DocumentReference documents (``context.encounter``)."""
    encounter_id = _encounter_id(docref)
    if encounter_id is None:
        raise Unprocessable(f"DocumentReference/{docref['id']}: a visit protocol needs context.encounter")
    src = await source.visit_record(conn, gate, patient_id, encounter_id)
    await source.resolve(conn, src, [docref])
    encounter = src.ref(f"Encounter/{encounter_id}")
    if encounter is None:
        raise Unprocessable(f"DocumentReference/{docref['id']}: its visit Encounter/{encounter_id} is not known")
    performers = [p.get("individual") for p in encounter.get("participant", [])]
    issuer = _issuer(src, _org_refs(src, docref.get("custodian"), encounter.get("serviceProvider")),
                     [*docref.get("author", []), *performers], gate)
    title = str(docref.get("description") or kinds.KINDS["visit-protocol"].title)
    context = {**build.header(src, title=title, form="", clinic=issuer.clinic, doctor=issuer.doctor),
               "visit": build.visit(src, encounter, docref)}
    return await issue(conn, settings, kind="visit-protocol", template="visit.html", context=context, issuer=issuer,
                       patient_id=patient_id, docref_id=docref["id"])


async def lab_report(conn: AsyncConnection, gate: Gate, docref: Resource, patient_id: str,
                     settings: Settings) -> RenderedPdf:
    """The results of the DiagnosticReports the DocumentReference relates to (or of its visit)."""
    encounter_id = _encounter_id(docref)
    src = (await source.visit_record(conn, gate, patient_id, encounter_id) if encounter_id else
           await source.patient_record(conn, gate, patient_id, ["DiagnosticReport", "Observation"]))
    await source.resolve(conn, src, [docref])
    related = {str(r.get("reference")) for r in (docref.get("context") or {}).get("related", [])}
    chosen = [r for r in src.of("DiagnosticReport") if f"DiagnosticReport/{r['id']}" in related] or (
        src.of("DiagnosticReport") if encounter_id else [])
    performers = [p for r in chosen for p in r.get("performer", [])]
    issuer = _issuer(src, _org_refs(src, docref.get("custodian")), [*docref.get("author", []), *performers], gate)
    kind = kinds.KINDS["lab-report"]
    context = {**build.header(src, title=kind.title, form=kind.form, clinic=issuer.clinic, doctor=issuer.doctor,
                              doctor_label="Выдал"),
               "reports": build.reports(src, chosen)}
    return await issue(conn, settings, kind="lab-report", template="lab.html", context=context, issuer=issuer,
                       patient_id=patient_id, docref_id=docref["id"])


async def vaccination_certificate(conn: AsyncConnection, gate: Gate, patient_id: str, settings: Settings, *,
                                  docref: Resource | None = None, on: date | None = None) -> RenderedPdf:
    """Form 156/у-93: every vaccination of the child, exemptions and refusals, and the next doses."""
    if docref is None:
        await source.check_record(gate, patient_id, f"Patient/{patient_id}/vaccination-certificate")
    src = await source.patient_record(conn, gate, patient_id, ["Immunization", "Flag"])
    await source.resolve(conn, src, [docref] if docref else [])
    extra = [docref.get("custodian")] if docref else []
    authors = [*docref.get("author", [])] if docref else []
    issuer = _issuer(src, _org_refs(src, *extra), [*authors, *src.patient.get("generalPractitioner", [])], gate)
    kind = kinds.KINDS["vaccination-certificate"]
    context = {**build.header(src, title=kind.title, form=kind.form, clinic=issuer.clinic, doctor=issuer.doctor),
               **build.vaccinations(src, on or today_moscow())}
    return await issue(conn, settings, kind=kind.code, template="vaccination.html", context=context, issuer=issuer,
                       patient_id=patient_id, docref_id=docref["id"] if docref else None)


CERTIFICATE_TYPES = ["Condition", "AllergyIntolerance", "Immunization", "Flag"]
GROUP_CODES = ["health-group", "pe-group"]


async def certificate(conn: AsyncConnection, gate: Gate, docref: Resource, patient_id: str, settings: Settings, *,
                      kind: str) -> RenderedPdf:
    """A certificate (kindergarten, school, sports, 086/у, other) with its fields from the record."""
    src = await source.patient_record(conn, gate, patient_id, CERTIFICATE_TYPES)
    await source.coded_observations(conn, gate, src, GROUP_CODES)
    await source.resolve(conn, src, [docref])
    issuer = _issuer(src, _org_refs(src, docref.get("custodian")), docref.get("author", []), gate)
    spec = kinds.KINDS[kind]
    title = spec.title if kind != "certificate" else kinds.KINDS["certificate"].title
    context = {**build.header(src, title=title, form=spec.form, clinic=issuer.clinic, doctor=issuer.doctor),
               **build.certificate(src, docref, kind, issuer.clinic, today_moscow())}
    return await issue(conn, settings, kind=kind, template="certificate.html", context=context, issuer=issuer,
                       patient_id=patient_id, docref_id=docref["id"])


EXTRACT_VISITS, EXTRACT_RESULTS = 10, 10


async def extract(conn: AsyncConnection, gate: Gate, patient_id: str, settings: Settings, *,
                  docref: Resource | None = None) -> RenderedPdf:
    """An extract from the record (027/у-style) for a doctor elsewhere: problems, allergies, vaccinations,
    the last visits and results."""
    if docref is None:
        await source.check_record(gate, patient_id, f"Patient/{patient_id}/extract")
    src = await source.whole_record(conn, gate, patient_id)
    issuer = _issuer(src, _org_refs(src, *([docref.get("custodian")] if docref else [])),
                     [*(docref.get("author", []) if docref else []), *src.patient.get("generalPractitioner", [])], gate)
    kind = kinds.KINDS["extract-027"]
    context = {**build.header(src, title=kind.title, form=kind.form, clinic=issuer.clinic, doctor=issuer.doctor),
               **build.extract(src, today_moscow(), EXTRACT_VISITS, EXTRACT_RESULTS)}
    return await issue(conn, settings, kind=kind.code, template="extract.html", context=context, issuer=issuer,
                       patient_id=patient_id, docref_id=docref["id"] if docref else None)
