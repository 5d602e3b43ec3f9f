"""What one event of the timeline opens: a visit, a lab report (or one result), a document.

Each is read in a fixed number of statements after the gate's check (:func:`.banner.open_record`):
the event and everything that belongs to it in one, names in one, and for results the same
codes' earlier values (the trend) in one. An id that is not in this patient's record is a 404,
the same as a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from markupsafe import Markup
from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core.errors import NotFound
from medcard.records import fhirview as fv
from medcard.records.ages import age_at
from medcard.records.banner import Banner, open_record
from medcard.records.chart import Value, value_of
from medcard.records.names import load_names
from medcard.records.trend import sparkline
from medcard.records.visit_history import split

MISSING = "no such entry in this record"

VISIT_SQL = """
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE r.resource_type = 'Encounter' AND r.id = %(e)s AND r.patient_id = %(p)s AND NOT r.deleted
UNION ALL
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE (r.resource_type, r.id) IN (SELECT f.resource_type, f.resource_id FROM sp_reference f
        WHERE f.target_type = 'Encounter' AND f.target_id = %(e)s AND f.param IN ('encounter', 'part-of'))
   AND r.patient_id = %(p)s AND NOT r.deleted
"""

REPORT_SQL = """
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE r.resource_type = %(t)s AND r.id = %(id)s AND r.patient_id = %(p)s AND NOT r.deleted
UNION ALL
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE (r.resource_type, r.id) IN (SELECT f.target_type, f.target_id FROM sp_reference f
        WHERE f.resource_type = %(t)s AND f.resource_id = %(id)s AND f.param = 'result')
   AND r.patient_id = %(p)s AND NOT r.deleted
"""

# The patient's values of the given LOINC codes, oldest first: the trend of each result.
TREND_SQL = """
SELECT t.code, d.low, q.value FROM sp_token t
  JOIN sp_date d ON d.resource_type = 'Observation' AND d.resource_id = t.resource_id AND d.param = 'date'
  JOIN sp_quantity q ON q.resource_type = 'Observation' AND q.resource_id = t.resource_id AND q.param = 'value-quantity'
 WHERE t.resource_type = 'Observation' AND t.param = 'code' AND t.system = 'http://loinc.org'
   AND t.code = ANY(%(codes)s) AND t.patient_id = %(p)s
 ORDER BY t.code, d.low
"""

DOCUMENT_SQL = """
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE r.resource_type = 'DocumentReference' AND r.id = %(id)s AND r.patient_id = %(p)s AND NOT r.deleted
"""

# The protocol's parts as the clinician reads them, in this order; a line starting with a label is its part.
SECTIONS = (("complaints", "Жалобы", ("Жалобы:", "Жалобы на", "Жалоб нет")),
            ("history", "Анамнез заболевания", ("Анамнез заболевания:",)),
            ("life_history", "Анамнез жизни", ("Анамнез жизни:",)),
            ("epidemiology", "Эпиданамнез", ("Эпиданамнез:",)),
            ("allergy_history", "Аллергоанамнез", ("Аллергоанамнез:",)),
            ("referral", "Направление", ("Направление:",)),
            ("examination", "Объективно", ("Объективно:",)),
            ("conclusion", "Заключение", ("Заключение:", "Диагноз:")),
            ("prescriptions", "Назначения", ("Назначения:",)),
            ("advice", "Рекомендации", ("Рекомендации:",)))


@dataclass(frozen=True)
class Row:
    title: str
    detail: str = ""
    who: str = ""


@dataclass
class Visit:
    banner: Banner
    id: str
    title: str
    day: date | None
    age: str
    who: str
    reason: str
    sections: list[tuple[str, str]] = field(default_factory=list)  # (label, text) from the protocol
    protocol: str = ""  # the whole text
    protocol_title: str = ""
    diagnoses: list[Row] = field(default_factory=list)
    prescriptions: list[Row] = field(default_factory=list)
    orders: list[Row] = field(default_factory=list)
    measurements: list[Row] = field(default_factory=list)
    reports: list[tuple[str, str, str]] = field(default_factory=list)  # (id, title, conclusion)
    specialists: list[Row] = field(default_factory=list)
    documents: list[tuple[str, str]] = field(default_factory=list)  # (id, title)


@dataclass(frozen=True)
class ResultLine:
    value: Value
    trend: Markup  # inline SVG, or empty
    history: tuple[tuple[date, str], ...]  # every value of the code, newest first (the trend's text)


@dataclass
class LabReport:
    banner: Banner
    id: str
    title: str
    day: date | None
    age: str
    performer: str
    conclusion: str
    lines: list[ResultLine] = field(default_factory=list)
    encounter_id: str = ""


@dataclass
class Document:
    banner: Banner
    id: str
    title: str
    kind: str
    day: date | None
    author: str
    text: str
    encounter_id: str = ""


async def load_visit(conn: AsyncConnection, gate: Gate, patient_id: str, encounter_id: str, today: date) -> Visit:
    opened = await open_record(conn, gate, patient_id, today, purpose="visit")
    cur = await conn.execute(VISIT_SQL, {"p": patient_id, "e": encounter_id})
    rows = [(t, i, fv.parse(c)) for t, i, c in await cur.fetchall() if opened.shown(t, c)]
    encounter = next((c for t, i, c in rows if t == "Encounter" and i == encounter_id), None)
    if encounter is None:
        raise NotFound(MISSING)
    names = await load_names(conn, [[c for *_, c in rows]])
    birth = opened.banner.birth_date
    day = fv.local_day(fv.when_of(encounter))
    who = next((names.of(p.get("individual")) for p in encounter.get("participant") or () if isinstance(p, dict)), "")
    visit = Visit(banner=opened.banner, id=encounter_id,
                  title=fv.text_of(encounter.get("serviceType")) if _consultation(encounter) else
                  fv.texts_of(encounter.get("type")) or "Приём", day=day, age=age_at(birth, day), who=who,
                  reason=fv.texts_of(encounter.get("reasonCode")))
    for rtype, rid, r in rows:
        if (rtype, rid) != ("Encounter", encounter_id):
            _add(visit, rtype, rid, r, names.of)
    return visit


def _consultation(encounter: dict[str, Any]) -> bool:
    service = fv.code_in(encounter.get("serviceType"), fv.SPECIALIST)
    return bool(service) and service != "pediatrician"


def _add(visit: Visit, rtype: str, rid: str, r: dict[str, Any], name_of: Any) -> None:
    if rtype == "Condition":
        code = fv.code_in(r.get("code"), fv.ICD10)
        title = fv.text_of(r.get("code"))
        visit.diagnoses.append(Row(f"{code} {title}" if code else title, fv.text_of(r.get("severity"))))
    elif rtype == "MedicationRequest":
        dose = "; ".join(str(d.get("text")) for d in r.get("dosageInstruction") or () if isinstance(d, dict)
                         and d.get("text"))
        visit.prescriptions.append(Row(fv.text_of(r.get("medicationCodeableConcept")) or "препарат", dose))
    elif rtype == "ServiceRequest":
        when = fv.local_day(r.get("occurrenceDateTime"))
        visit.orders.append(Row(fv.text_of(r.get("code")) or "направление", fv.texts_of(r.get("reasonCode")),
                                f"на {when:%d.%m.%Y}" if when else ""))
    elif rtype == "Observation":
        category = fv.code_in(r.get("category"), "http://terminology.hl7.org/CodeSystem/observation-category")
        if category != "laboratory":
            visit.measurements.append(Row(fv.text_of(r.get("code")) or "показатель", fv.value_text(r)))
    elif rtype == "DiagnosticReport":
        visit.reports.append((rid, fv.text_of(r.get("code")) or "Исследование", str(r.get("conclusion") or "")))
    elif rtype == "Encounter":
        visit.specialists.append(Row(fv.text_of(r.get("serviceType")) or "специалист", "",
                                     next((name_of(p.get("individual")) for p in r.get("participant") or ()
                                           if isinstance(p, dict)), "")))
    elif rtype == "DocumentReference":
        text = fv.attachment_text(r)
        if fv.code_in(r.get("type"), fv.LOINC) in ("11506-3", "11488-4") and not visit.protocol:
            visit.protocol, visit.protocol_title = text, str(r.get("description") or "Протокол")
            visit.sections = protocol_sections(text)
        else:
            visit.documents.append((rid, str(r.get("description") or fv.text_of(r.get("type")) or "Документ")))


def protocol_sections(text: str) -> list[tuple[str, str]]:
    """(label, text) of the protocol's known parts, in the order a clinician reads them; a part typed over
    several lines is read whole (:func:`.visit_history.split`)."""
    found = split(text, [(key, starts) for key, _, starts in SECTIONS])
    return [(label, found[key]) for key, label, _ in SECTIONS if key in found]


async def load_report(conn: AsyncConnection, gate: Gate, patient_id: str, rtype: str, rid: str,
                      today: date) -> LabReport:
    """A DiagnosticReport with its values, or one laboratory Observation, each value with its trend."""
    opened = await open_record(conn, gate, patient_id, today, purpose="results")
    cur = await conn.execute(REPORT_SQL, {"p": patient_id, "t": rtype, "id": rid})
    rows = [(t, i, fv.parse(c)) for t, i, c in await cur.fetchall() if opened.shown(t, c)]
    main = next((c for t, i, c in rows if t == rtype and i == rid), None)
    if main is None:
        raise NotFound(MISSING)
    results = [c for t, i, c in rows if t == "Observation" and i != rid] if rtype == "DiagnosticReport" else [main]
    order = {f"Observation/{x.get('reference', '').split('/')[-1]}": n for n, x in enumerate(main.get("result") or ())
             if isinstance(x, dict)}
    results.sort(key=lambda o: order.get(f"Observation/{o.get('id')}", 999))
    codes = [c for o in results if (c := fv.code_in(o.get("code"), fv.LOINC))]
    cur = await conn.execute(TREND_SQL, {"p": patient_id, "codes": codes})
    series: dict[str, list[tuple[date, float]]] = {}
    for code, at, value in await cur.fetchall():
        series.setdefault(code, []).append((fv.local_day(at.isoformat()) or date.min, float(value)))
    names = await load_names(conn, [[main]])
    day = fv.local_day(fv.when_of(main))
    report = LabReport(banner=opened.banner, id=rid, title=fv.text_of(main.get("code")) or "Исследование", day=day,
                       age=age_at(opened.banner.birth_date, day),
                       performer=next((names.of(p) for p in main.get("performer") or ()), ""),
                       conclusion=str(main.get("conclusion") or ""),
                       encounter_id=(fv.ref_key(main.get("encounter")) or ("", ""))[1])
    for o in results:
        report.lines.append(_line(o, series.get(fv.code_in(o.get("code"), fv.LOINC) or "", []), day))
    return report


def _line(observation: dict[str, Any], points: list[tuple[date, float]], day: date | None) -> ResultLine:
    value = value_of(observation)
    low, high = _limits(observation)
    unit = str((observation.get("valueQuantity") or {}).get("unit") or "")
    label = f"{value.name}: " + ", ".join(f"{d:%d.%m.%Y} — {fv.number(_plain(v))} {unit}".strip() for d, v in points)
    history = tuple((d, f"{fv.number(_plain(v))} {unit}".strip()) for d, v in reversed(points))
    return ResultLine(value, Markup(sparkline(points, low, high, label, day)), history)  # noqa: S704 - built escaped


def _plain(value: float) -> float | int:
    return int(value) if value == int(value) else value


def _limits(observation: dict[str, Any]) -> tuple[float | None, float | None]:
    for rng in observation.get("referenceRange") or ():
        if isinstance(rng, dict):
            low, high = (rng.get("low") or {}).get("value"), (rng.get("high") or {}).get("value")
            return (float(low) if isinstance(low, int | float | Decimal) else None,
                    float(high) if isinstance(high, int | float | Decimal) else None)
    return None, None


async def load_document(conn: AsyncConnection, gate: Gate, patient_id: str, doc_id: str, today: date) -> Document:
    opened = await open_record(conn, gate, patient_id, today, purpose="document")
    cur = await conn.execute(DOCUMENT_SQL, {"p": patient_id, "id": doc_id})
    row = await cur.fetchone()
    if row is None or not opened.shown(row[0], row[2]):
        raise NotFound(MISSING)
    d = fv.parse(row[2])
    names = await load_names(conn, [[d]])
    encounter = next(iter((d.get("context") or {}).get("encounter") or ()), None)
    return Document(banner=opened.banner, id=doc_id, title=str(d.get("description") or fv.text_of(d.get("type"))
                                                               or "Документ"),
                    kind=fv.text_of(d.get("type")), day=fv.local_day(fv.when_of(d)),
                    author=next((names.of(a) for a in d.get("author") or ()), ""), text=fv.attachment_text(d),
                    encounter_id=(fv.ref_key(encounter) or ("", ""))[1])
