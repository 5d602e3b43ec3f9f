"""The record book: a child's whole record in one signed PDF.

A summary (the child, the clinic and district doctor, groups, allergies, problems), growth charts
(WHO, the pediatric engine's SVG) with the measurements table, the vaccinations with the forecast,
then every visit and every result in time order, year by year, behind a table of contents whose
entries link to their pages. The record is read once through the gate (as ``$everything``);
WeasyPrint lays the whole book out in memory, so its size bounds the memory (docs/performance.md).

An issued book is kept (the blob store and ``record_book``, documents/kept.py) and served again to a
requester with the same view of the record for as long as nothing it prints has changed
(:func:`kept_record_book`): an unchanged record asked for again renders nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup
from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.config import Settings, get_settings
from medcard.core.time import today_moscow
from medcard.documents import build, kept, kinds, registry, signing, source, views
from medcard.documents.blobs import BlobError, BlobStore, blob_store
from medcard.documents.pdf import number
from medcard.documents.render import Issuer, RenderedPdf, issue, verify_url
from medcard.documents.source import Resource, Source
from medcard.pediatrics import growth_assessment, growth_chart
from medcard.pediatrics import record as facts

CHARTS = (("weight-for-age", "Масса тела"), ("height-for-age", "Длина / рост"), ("bmi-for-age", "Индекс массы тела"),
          ("head-circumference-for-age", "Окружность головы"))
_LAB = "laboratory"
BOOK_VERSION = 1  # bump when a change to this module or documents/build.py changes what a book prints
TEMPLATES = Path(__file__).parent / "templates"
log = logging.getLogger(__name__)


async def record_book(conn: AsyncConnection, gate: Gate, patient_id: str, *, settings: Settings | None = None) -> bytes:
    """The signed PDF of the child's whole record (404 when the requester may not read it, audited): the
    book kept for this record and view when nothing it shows has changed, else a new one (kept)."""
    return (await kept_record_book(conn, gate, patient_id, settings=settings)).data


@dataclass(frozen=True)
class Book:
    """A record book as served: its signed bytes, its registry code, and whether it was a kept one."""

    data: bytes
    code: str
    kept: bool


async def kept_record_book(conn: AsyncConnection, gate: Gate, patient_id: str, *, settings: Settings | None = None,
                           on: date | None = None) -> Book:
    """The record book, served from the blob store when one was issued for the same inputs and view.

    The policy decides first and the read is audited exactly as for a new book (``check_record``, then
    the record read through the gate's content filter); only then is a kept book looked for. It is
    served again (the same bytes, the same registry code: still verifiable) when its ``inputs`` and
    view match (:func:`_view`, :func:`_inputs`), its registry entry is of this child, unrevoked and of
    these bytes, and its blob is intact; otherwise a new book is issued and kept in its place. Runs in
    the caller's transaction, which commits the registry entry and the kept row together.
    """
    settings = settings or get_settings()
    on = on or today_moscow()
    await source.check_record(gate, patient_id, f"Patient/{patient_id}/$record-book")
    src = await source.whole_record(conn, gate, patient_id)
    issuer = _issuer(src, gate)
    view = await _view(conn, gate, src, patient_id)
    blobs = blob_store(settings)
    await kept.lock(conn, patient_id, view)
    found = await kept.find(conn, patient_id, view)
    if found is not None and found.inputs == await _inputs(conn, settings, src, issuer, on):
        data = await _kept_bytes(conn, blobs, found, patient_id)
        if data is not None:
            return Book(data, found.code, kept=True)
    rendered = await _issue(conn, settings, src, issuer, patient_id, on)
    key = await asyncio.to_thread(blobs.put, rendered.data)
    inputs = await _inputs(conn, settings, src, issuer, on)  # after issuing: the clinic's certificate exists now
    await kept.keep(conn, patient_id, view, on, kept.Kept(inputs, rendered.code, key, len(rendered.data)))
    if found is not None and found.blob != key:
        await asyncio.to_thread(blobs.delete, found.blob)  # superseded: never served again
    return Book(rendered.data, rendered.code, kept=False)


async def issue_record_book(conn: AsyncConnection, gate: Gate, patient_id: str, *,
                            settings: Settings | None = None, on: date | None = None) -> RenderedPdf:
    """A new record book with its registry entry (code, verification URL), not kept."""
    settings = settings or get_settings()
    await source.check_record(gate, patient_id, f"Patient/{patient_id}/$record-book")
    src = await source.whole_record(conn, gate, patient_id)
    return await _issue(conn, settings, src, _issuer(src, gate), patient_id, on or today_moscow())


async def _issue(conn: AsyncConnection, settings: Settings, src: Source, issuer: Issuer, patient_id: str,
                 on: date) -> RenderedPdf:
    kind = kinds.KINDS["record-book"]
    context = {**build.header(src, title=kind.title, form="", clinic=issuer.clinic, doctor=issuer.doctor,
                              doctor_label="Участковый врач"),
               **book(src, on)}
    return await issue(conn, settings, kind=kind.code, template="book.html", context=context, issuer=issuer,
                       patient_id=patient_id, docref_id=None)


async def _view(conn: AsyncConnection, gate: Gate, src: Source, patient_id: str) -> str:
    """What of the record this requester is shown, as a key: the readable types, the kinds readable of other
    types, whether drug-addiction matters are left out, and the requester's name when the book prints it (no
    district doctor)."""
    types, kinds, hides_substance_use = await gate.content_view(conn, patient_id)
    view = {"types": None if types is None else sorted(types),
            "kinds": {rtype: sorted(names) for rtype, names in sorted(kinds.items())},
            "hides_substance_use": hides_substance_use,
            "doctor": gate.requester.name if _doctor(src) is None else None}
    return _digest(view)


async def _inputs(conn: AsyncConnection, settings: Settings, src: Source, issuer: Issuer, on: date) -> str:
    """Everything else a book's bytes depend on, as a key: the record as the view shows it (with the
    practitioners and organizations it names), the day it is "as of" (it prints it; the forecast of
    vaccinations depends on it), the issuer and its signing certificate, the verification address, and
    the book's code and templates."""
    certificate = await signing.certificate(conn, issuer.clinic.id)
    return _digest({"version": BOOK_VERSION, "templates": _templates(), "record": src.digest, "on": on.isoformat(),
                    "clinic": asdict(issuer.clinic), "doctor": asdict(issuer.doctor),
                    "certificate": hashlib.sha256(certificate).hexdigest() if certificate else None,
                    "verify": verify_url(settings, "")})


async def _kept_bytes(conn: AsyncConnection, blobs: BlobStore, found: kept.Kept, patient_id: str) -> bytes | None:
    """The kept book's bytes when they may be served again, else None (and a log line naming no patient)."""
    issued = await registry.find(conn, found.code)
    if (issued is None or issued.revoked or issued.kind != "record-book" or issued.patient_id != patient_id
            or issued.sha256.hex() != found.blob):
        log.warning("kept record book %s is revoked or not in the registry as kept: a new one is issued", found.blob)
        return None
    try:
        return await asyncio.to_thread(blobs.get, found.blob)  # checked against its hash
    except BlobError:  # missing or damaged: logged by the store; never served
        log.warning("kept record book %s cannot be served: a new one is issued", found.blob)
        return None


def _digest(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@cache
def _templates() -> str:
    """The SHA-256 of the documents' templates and style sheet: a changed template makes every kept book stale."""
    digest = hashlib.sha256()
    for path in sorted(TEMPLATES.iterdir()):
        digest.update(path.name.encode() + b"\n" + path.read_bytes())
    return digest.hexdigest()


def _doctor(src: Source) -> views.Person | None:
    """The child's district doctor (the first general practitioner known)."""
    return next((p for p in (views.person(src, r) for r in src.patient.get("generalPractitioner", [])) if p), None)


def _issuer(src: Source, gate: Gate) -> Issuer:
    clinic = views.clinic(src, src.patient.get("managingOrganization"))
    if clinic is None:  # no attachment: the clinic of the latest visit
        visits = sorted(src.of("Encounter"), key=views.when)
        clinic = next((c for c in (views.clinic(src, e.get("serviceProvider")) for e in reversed(visits)) if c), None)
    if clinic is None:
        clinic = views.Clinic("medcard", "medcard")
    return Issuer(clinic, _doctor(src) or views.Person(gate.requester.name))


def book(src: Source, on: date) -> dict[str, Any]:
    chronic, _ = build.problems(src)
    chronology = _chronology(src)
    return {
        "on": on, "chronic": chronic, "allergies": build.allergies(src),
        "health_group": build.latest_group(src, "health-group"), "pe_group": build.latest_group(src, "pe-group"),
        "charts": _charts(src), "measurements": _measurements(src),
        "vaccinations": build.vaccination_rows(src, [i for i in src.of("Immunization")
                                                     if i.get("status") == "completed"]),
        **build.forecast(src, on),
        "years": chronology,
        "counts": {"visits": sum(len([x for x in y["items"] if x["type"] == "visit"]) for y in chronology),
                   "results": sum(len([x for x in y["items"] if x["type"] == "report"]) for y in chronology)},
    }


def _assessment(src: Source) -> growth_assessment.Assessment | None:
    patient = facts.patient_from(src.patient)
    if isinstance(patient, str):
        return None
    return growth_assessment.assess(patient, facts.growth_from(src.of("Observation")))


def _charts(src: Source) -> list[dict[str, Any]]:
    """The WHO charts of the indicators the child was measured for (inline SVG: its text in the book's font)."""
    assessed, sex = _assessment(src), src.patient.get("gender")
    if assessed is None or sex not in ("male", "female"):
        return []
    out = []
    for indicator, label in CHARTS:
        points = [(float(r.age_days), r.value) for r in assessed.results
                  if r.indicator == indicator and r.z is not None]
        if not points:
            continue
        svg = growth_chart.render_growth_chart(indicator, sex, points, lang="ru")
        svg = (svg.replace('font-family="sans-serif"', 'font-family="PT Sans"')
               .replace("chart-title", f"chart-{indicator}"))
        out.append({"label": label, "svg": Markup(svg)})  # noqa: S704 - medcard's own SVG of numbers and fixed labels
    return out


def _measurements(src: Source) -> list[dict[str, str]]:
    """One row per day measured: weight, length/height, BMI, head, and their z-scores."""
    assessed = _assessment(src)
    if assessed is None:
        return []
    blank = {k: "" for k in ("weight", "weight_z", "height", "height_z", "bmi", "bmi_z", "head", "head_z")}
    days: dict[date, dict[str, str]] = defaultdict(lambda: dict(blank))
    birth = views.birth_date(src.patient)
    for r in assessed.results:
        row = days[r.on]
        key = {"weight-for-age": "weight", "height-for-age": "height", "bmi-for-age": "bmi",
               "head-circumference-for-age": "head"}.get(r.indicator)
        if key is None:
            continue
        row[key] = number(r.value, 2 if key == "weight" else 1)
        row[key + "_z"] = "" if r.z is None else number(r.z, 2)
    return [{"date": d.isoformat(), "age": build.age_text(birth, d), **days[d]} for d in sorted(days)]


def _chronology(src: Source) -> list[dict[str, Any]]:
    """Every visit and every result (a report, or a laboratory result outside any report) by year, in time order."""
    notes: dict[str, list[Resource]] = defaultdict(list)
    for doc in src.of("DocumentReference"):
        for ref in (doc.get("context") or {}).get("encounter", []):
            notes[str(ref.get("reference"))].append(doc)
    in_reports = {str(x.get("reference")) for r in src.of("DiagnosticReport") for x in r.get("result", [])}
    items: list[dict[str, Any]] = []
    for e in src.of("Encounter"):
        if e.get("status") in ("planned", "cancelled", "entered-in-error"):
            continue
        items.append({"type": "visit", "when": views.when(e), **build.visit_summary(src, e),
                      "visit": build.visit(src, e, None),
                      "text": build.without_structured([p for d in notes.get(f"Encounter/{e['id']}", [])
                                                        for p in build.protocol(d)])})
    for report in build.reports(src, src.of("DiagnosticReport")):
        items.append({"type": "report", **report})
    loose = [o for o in src.of("Observation") if f"Observation/{o['id']}" not in in_reports
             and any(views.code_in(c, "http://terminology.hl7.org/CodeSystem/observation-category") == _LAB
                     for c in o.get("category", []))]
    by_day: dict[str, list[Resource]] = defaultdict(list)
    for o in loose:
        by_day[views.when(o)[:10]].append(o)
    for on, found in by_day.items():  # results outside a report: one entry a day
        items.append({"type": "report", "title": "Результаты исследований", "when": on, "issued": "",
                      "performer": "", "conclusion": "",
                      "results": [{"name": views.text(o.get("code")), "value": views.value(o),
                                   "range": views.reference_range(o), "flag": views.flag(o)}
                                  for o in sorted(found, key=views.when)]})
    for item in items:
        item["lines"] = "\n".join(_line(r) for r in item["results"]) if item["type"] == "report" else _visit_lines(item)
    items.sort(key=lambda x: str(x["when"]))
    years: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        years[str(item["when"])[:4] or "—"].append(item)
    return [{"year": y, "items": years[y]} for y in sorted(years)]


def _visit_lines(item: dict[str, Any]) -> str:
    """A visit as lines of text (see :func:`_line`): why, the doctor's text, diagnoses, prescriptions."""
    visit = item["visit"]
    lines = [item["reason"], *item["text"]]
    lines += [f"Диагноз: {d['code']} {d['title']}" + (f" ({d['status']})" if d["status"] else "")
              for d in visit["diagnoses"]]
    if visit["prescriptions"]:
        lines.append("Назначения: " + "; ".join(m["name"] + (f" ({m['dosage']})" if m["dosage"] else "")
                                                 for m in visit["prescriptions"]))
    return "\n".join(line for line in lines if line)


def _line(result: dict[str, str]) -> str:
    """A result as one line of text: a book of thousands of results lays them out as lines, not table rows
    (WeasyPrint lays out a line of text several times faster than a table row: docs/performance.md)."""
    extra = f" ({result['range']})" if result["range"] else ""
    flag = f" — {result['flag']}" if result["flag"] else ""
    return f"{result['name']}: {result['value']}{extra}{flag}"
