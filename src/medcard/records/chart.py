"""The chart on one screen: the sections of ``/app/patients/{id}`` as a view model.

Built from ``$summary`` (its one statement: problems, allergies, medications, immunizations,
the latest vital signs, pending orders, recent results) and, in a fixed number of further
statements whatever the size of the record:

1. the banner (:mod:`.banner`, which also makes the gate decide and audit the read),
2. the summary's sections (:func:`medcard.fhir.operations.summary.sections`),
3. what the summary leaves out (:data:`EXTRAS_SQL`): the last visits with their diagnoses, the
   specialists' conclusions, documents, the paper card, all growth measurements, the calendar's
   risk flags, the values of the latest report of each kind,
4. the names of the people and places those resources refer to.

The vaccination forecast, the z-scores and the growth chart are computed in Python from what
was read (:mod:`medcard.pediatrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core.time import CLINIC_TZ
from medcard.fhir.operations import summary
from medcard.pediatrics import growth_chart, immunization, record
from medcard.pediatrics.growth import corrected_age_days
from medcard.pediatrics.growth_assessment import assess
from medcard.records import changes
from medcard.records import fhirview as fv
from medcard.records.ages import age_at
from medcard.records.banner import NO_KNOWN_ALLERGY, Banner, open_record
from medcard.records.names import Names, load_names

RECENT_VISITS = 6
RECENT_CONSULTATIONS = 6
RECENT_DOCUMENTS = 8
RECENT_REPORTS = 4
PROTOCOL_TYPES = ("11506-3", "11488-4")  # visit protocols and consult notes: shown with their visits
CONSULT_NOTE = "11488-4"

EXTRAS_SQL = """
WITH
visits AS (
    SELECT d.resource_id AS id, d.low FROM sp_date d
     WHERE d.patient_id = %(p)s AND d.resource_type = 'Encounter' AND d.param = 'date'
       AND NOT EXISTS (SELECT 1 FROM sp_reference f WHERE f.resource_type = 'Encounter'
                        AND f.resource_id = d.resource_id AND f.param = 'part-of')
     ORDER BY d.low DESC LIMIT %(visits)s),
consults AS (
    SELECT d.resource_id AS id, d.low FROM sp_date d
     WHERE d.patient_id = %(p)s AND d.resource_type = 'DocumentReference' AND d.param = 'date'
       AND d.resource_id IN (SELECT t.resource_id FROM sp_token t WHERE t.resource_type = 'DocumentReference'
                              AND t.param = 'type' AND t.code = %(consult)s AND t.patient_id = %(p)s)
     ORDER BY d.low DESC LIMIT %(consults)s),
documents AS (
    SELECT d.resource_id AS id, d.low FROM sp_date d
     WHERE d.patient_id = %(p)s AND d.resource_type = 'DocumentReference' AND d.param = 'date'
       AND d.resource_id NOT IN (SELECT t.resource_id FROM sp_token t WHERE t.resource_type = 'DocumentReference'
                                  AND t.param = 'type' AND t.code = ANY(%(protocols)s) AND t.patient_id = %(p)s)
     ORDER BY d.low DESC LIMIT %(documents)s),
paper AS (
    SELECT t.resource_id AS id FROM sp_token t
     WHERE t.resource_type = 'DocumentReference' AND t.param = 'identifier' AND t.patient_id = %(p)s
       AND t.system LIKE 'urn:medcard:paper-card:%%'),
reports AS (
    SELECT DISTINCT ON (t.code) d.resource_id AS id FROM sp_date d
      JOIN sp_token t ON t.resource_type = 'DiagnosticReport' AND t.resource_id = d.resource_id AND t.param = 'code'
     WHERE d.patient_id = %(p)s AND d.resource_type = 'DiagnosticReport' AND d.param = 'date'
       AND t.patient_id = %(p)s AND t.system = 'http://loinc.org'
     ORDER BY t.code, d.low DESC),
picked(s, rt, id) AS (
    SELECT 'visit', 'Encounter', id FROM visits
    UNION ALL SELECT 'diagnosis', 'Condition', f.resource_id FROM sp_reference f
     WHERE f.target_type = 'Encounter' AND f.target_id IN (SELECT id FROM visits) AND f.resource_type = 'Condition'
       AND f.param = 'encounter'
    UNION ALL SELECT 'consult', 'DocumentReference', id FROM consults
    UNION ALL SELECT 'consult-visit', 'Encounter', f.target_id FROM sp_reference f
     WHERE f.resource_type = 'DocumentReference' AND f.resource_id IN (SELECT id FROM consults)
       AND f.param = 'encounter' AND f.target_type = 'Encounter'
    UNION ALL SELECT 'document', 'DocumentReference', id FROM documents
    UNION ALL SELECT 'paper', 'DocumentReference', id FROM paper
    UNION ALL SELECT 'report', 'DiagnosticReport', id FROM reports
    UNION ALL SELECT 'report-result', 'Observation', f.target_id FROM sp_reference f
     WHERE f.resource_type = 'DiagnosticReport' AND f.resource_id IN (SELECT id FROM reports)
       AND f.param = 'result' AND f.target_type = 'Observation'
    UNION ALL SELECT 'growth', 'Observation', t.resource_id FROM sp_token t
     WHERE t.resource_type = 'Observation' AND t.param = 'code' AND t.code = ANY(%(growth)s) AND t.patient_id = %(p)s
    UNION ALL SELECT 'flag', 'Flag', r.id FROM resource r
     WHERE r.patient_id = %(p)s AND r.resource_type = 'Flag' AND NOT r.deleted)
SELECT x.s, r.resource_type, r.id, r.content
  FROM picked x JOIN resource r ON r.resource_type = x.rt AND r.id = x.id AND NOT r.deleted
"""


# --- The view model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One row of a section: a title, what it says, when (and the age then), who, and where it opens."""

    title: str
    detail: str = ""
    day: date | None = None
    age: str = ""
    who: str = ""
    href_kind: str = ""  # "visit" / "report" / "document": which detail page opens it
    ref_id: str = ""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Value:
    """One result value with its unit, reference range and flag."""

    name: str
    value: str
    range: str
    flag: str  # H, L, N, ... or ''
    flag_text: str


@dataclass(frozen=True)
class Report:
    id: str
    title: str
    day: date | None
    conclusion: str
    values: tuple[Value, ...]

    @property
    def abnormal(self) -> tuple[Value, ...]:
        return tuple(v for v in self.values if v.flag not in ("", "N"))


@dataclass(frozen=True)
class Vaccination:
    disease: str
    status: str  # "overdue", "due", "not-due", "complete", "contraindicated"
    dose: str
    due: date | None
    overdue: date | None
    given: int
    note: str = ""


@dataclass(frozen=True)
class Measured:
    name: str
    value: str
    day: date | None
    z: str  # "z = +0,4 (66-й центиль)" or ''


@dataclass(frozen=True)
class PaperCard:
    number: str
    period: str
    where: str
    description: str
    document_id: str


@dataclass
class Chart:
    banner: Banner
    problems: list[Line] = field(default_factory=list)
    dispensary: list[Line] = field(default_factory=list)
    allergies: list[Line] = field(default_factory=list)
    medications: list[Line] = field(default_factory=list)
    vaccinations_done: list[Line] = field(default_factory=list)
    vaccinations_open: list[Vaccination] = field(default_factory=list)  # overdue, due, next planned
    vaccinations_done_count: int = 0
    exemptions: list[Vaccination] = field(default_factory=list)
    growth_svg: str = ""
    growth: list[Measured] = field(default_factory=list)
    growth_alerts: list[str] = field(default_factory=list)
    visits: list[Line] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    orders: list[Line] = field(default_factory=list)
    consultations: list[Line] = field(default_factory=list)
    documents: list[Line] = field(default_factory=list)
    paper_card: PaperCard | None = None
    hidden: list[str] = field(default_factory=list)  # sections the requester may not see
    previous: tuple[str, datetime] | None = None  # this person's previous opening (audit entry id, time)

    @property
    def next_vaccination(self) -> Vaccination | None:
        return next(iter(self.vaccinations_open), None)


# Everything the chart reads after the gate's decision, in the banner's statement: the summary's sections,
# the extras, and this person's previous opening of the chart (for "what changed since").
CHART_SQL = (f"SELECT s.s, s.resource_type, s.id, s.content FROM ({summary.SECTIONS_SQL}) AS s\nUNION ALL\n"
             f"SELECT e.s, e.resource_type, e.id, e.content FROM ({EXTRAS_SQL}) AS e\nUNION ALL\n"
             "SELECT 'opening', 'AuditEvent', o.id, extract(epoch FROM o.recorded)::text "
             f"FROM ({changes.OPENING_SQL}) AS o(id, recorded)")


def chart_params(patient_id: str, account_id: str | None) -> dict[str, Any]:
    return {**summary.section_params(patient_id), "visits": RECENT_VISITS, "consult": CONSULT_NOTE,
            "consults": RECENT_CONSULTATIONS, "protocols": list(PROTOCOL_TYPES), "documents": RECENT_DOCUMENTS,
            "growth": list(record.GROWTH_CODES), "account": account_id, "opened": changes.OPENED, "opening": None}


async def load_chart(conn: AsyncConnection, gate: Gate, patient_id: str, today: date) -> Chart:
    """The chart of ``patient_id`` as the gate lets the requester see it; reads are audited by the gate.

    Statements: the gate's own (the policy's facts), one for everything the chart shows, one for names."""
    opened = await open_record(conn, gate, patient_id, today,
                               also=(CHART_SQL, chart_params(patient_id, gate.requester.account_id)))
    parts: dict[str, list[dict[str, Any]]] = {}
    previous = None
    for part, _, rid, content in opened.more:
        if part == "opening":
            previous = (rid, datetime.fromtimestamp(float(content), UTC))
        elif part != "patient":
            parts.setdefault(part, []).append(fv.parse(content))
    names = await load_names(conn, [parts.get(p, []) for p in NAMED_PARTS] + [[c for _, _, c in opened.rows]])
    chart = Chart(banner=opened.banner, previous=previous)
    birth = opened.banner.birth_date
    _problems(chart, parts, opened.rows, names, birth)
    _medications(chart, parts, birth)
    _vaccinations(chart, opened.banner, parts, today)
    _growth(chart, opened.banner, parts)
    _visits(chart, parts, names, birth)
    _results(chart, parts, birth)
    _consultations(chart, parts, names, birth)
    _documents(chart, parts, names, birth)
    chart.hidden = [label for rtype, label in HIDDEN_LABELS if not opened.shown(rtype, "{}")]
    return chart


# The parts whose resources name the people and places the chart shows (the rest are never attributed).
NAMED_PARTS = ("problems", "visit", "consult", "document", "paper", "report")


HIDDEN_LABELS = (("Condition", "диагнозы"), ("Immunization", "прививки"), ("Observation", "измерения и анализы"),
                 ("DocumentReference", "документы"), ("Encounter", "приёмы"))


def _day(resource: dict[str, Any]) -> date | None:
    return fv.local_day(fv.when_of(resource))


def _problems(chart: Chart, parts: dict[str, list[dict[str, Any]]], banner_rows: list[tuple[str, str, dict[str, Any]]],
              names: Names, birth: date | None) -> None:
    for c in sorted(parts.get("problems", []), key=lambda c: str(c.get("onsetDateTime") or ""), reverse=True):
        code = fv.code_in(c.get("code"), fv.ICD10)
        onset = fv.local_day(c.get("onsetDateTime") or c.get("recordedDate"))
        chart.problems.append(Line(title=fv.text_of(c.get("code")) or "диагноз без названия", detail=code or "",
                                   day=onset, age=age_at(birth, onset), who=names.of(c.get("recorder"))))
    for _, _, plan in banner_rows:
        if plan.get("resourceType") == "CarePlan" and plan.get("status") == "active":
            detail = "; ".join(str(a.get("detail", {}).get("description", "")) for a in plan.get("activity") or ()
                               if isinstance(a, dict))
            start = fv.local_day((plan.get("period") or {}).get("start"))
            chart.dispensary.append(Line(title=str(plan.get("title") or "Диспансерное наблюдение"), detail=detail,
                                         day=start, who=names.of(plan.get("author"))))
    for a in parts.get("allergies", []):
        if fv.code_in(a.get("code"), "http://snomed.info/sct") in NO_KNOWN_ALLERGY:
            continue  # "none known" is the banner's state, not an allergy
        reactions = "; ".join(fv.texts_of(r.get("manifestation")) for r in a.get("reaction") or ()
                              if isinstance(r, dict))
        crit = {"high": "высокая", "low": "низкая"}.get(str(a.get("criticality")), "")
        onset = fv.local_day(a.get("onsetDateTime") or a.get("recordedDate"))
        chart.allergies.append(Line(title=fv.text_of(a.get("code")) or "аллерген не указан",
                                    detail=reactions + (f"; опасность реакции: {crit}" if crit else ""),
                                    day=onset, age=age_at(birth, onset)))


def _medications(chart: Chart, parts: dict[str, list[dict[str, Any]]], birth: date | None) -> None:
    for m in sorted(parts.get("medications", []), key=lambda m: str(m.get("authoredOn") or ""), reverse=True):
        dose = "; ".join(str(d.get("text")) for d in m.get("dosageInstruction") or () if isinstance(d, dict)
                         and d.get("text"))
        day = fv.local_day(m.get("authoredOn"))
        chart.medications.append(Line(title=fv.text_of(m.get("medicationCodeableConcept")) or "препарат не указан",
                                      detail=dose, day=day, age=age_at(birth, day)))
    for o in sorted(parts.get("orders", []), key=lambda o: str(o.get("authoredOn") or ""), reverse=True):
        day = fv.local_day(o.get("occurrenceDateTime") or o.get("authoredOn"))
        chart.orders.append(Line(title=fv.text_of(o.get("code")) or "назначение",
                                 detail=fv.texts_of(o.get("reasonCode")), day=day))


STATUS_ORDER = {"overdue": 0, "due": 1, "not-due": 2}


def _vaccinations(chart: Chart, banner: Banner, parts: dict[str, list[dict[str, Any]]], today: date) -> None:
    given = parts.get("immunizations", [])
    done = [i for i in given if i.get("status") == "completed"]
    chart.vaccinations_done_count = len(done)
    for i in sorted(done, key=lambda i: str(i.get("occurrenceDateTime") or ""), reverse=True)[:8]:
        day = fv.local_day(i.get("occurrenceDateTime"))
        chart.vaccinations_done.append(Line(title=fv.text_of(i.get("vaccineCode")) or "вакцина не указана",
                                            detail=_diseases(i), day=day, age=age_at(banner.birth_date, day)))
    facts = record.patient_from(banner.patient)
    if isinstance(facts, str):
        return
    found = record.immunizations_from(given, parts.get("flag", []))
    child = record.child_from(facts, found)
    forecasts = immunization.forecast(child, found.events, today)
    open_items = []
    for f in forecasts:
        item = Vaccination(disease=f.disease.name_ru, status=f.status, given=f.doses_given,
                           dose=f"{f.dose_number}-я доза" if f.dose_number else "",
                           due=f.dates.due if f.dates else None, overdue=f.dates.overdue if f.dates else None)
        if f.status == "contraindicated":
            until = f.contraindicated_until
            chart.exemptions.append(replace_note(item, f"медотвод до {until:%d.%m.%Y}" if until else "медотвод"))
        elif f.status in STATUS_ORDER and item.due is not None:
            open_items.append(item)
    open_items.sort(key=lambda v: (STATUS_ORDER[v.status], v.due or date.max))
    overdue_or_due = [v for v in open_items if v.status != "not-due"]
    planned = [v for v in open_items if v.status == "not-due"][:3]
    chart.vaccinations_open = overdue_or_due + planned


def replace_note(item: Vaccination, note: str) -> Vaccination:
    return Vaccination(item.disease, item.status, item.dose, item.due, item.overdue, item.given, note)


def _diseases(immunization_resource: dict[str, Any]) -> str:
    found: list[str] = []
    for applied in immunization_resource.get("protocolApplied") or ():
        for concept in (applied or {}).get("targetDisease") or ():
            text = fv.text_of(concept)
            if text and text not in found:
                found.append(text)
    return ", ".join(found)


GROWTH_NAMES = {"weight-for-age": "Масса тела", "height-for-age": "Длина/рост",
                "head-circumference-for-age": "Окружность головы", "bmi-for-age": "ИМТ",
                "weight-for-height": "Масса к длине/росту"}
UNIT_RU = {"kg": "кг", "cm": "см", "kg/m2": "кг/м²"}


# z-scores are read for the last years only (the latest values and recent centile crossings are what a
# visit needs; reading every measurement of a 17-year-old cost more than the rest of the chart, measured);
# the chart plots every weight.
Z_SCORE_YEARS = 3
WEIGHT_FOR_AGE_DAYS = 3652  # the end of WHO's weight-for-age reference (10 years)


def _growth(chart: Chart, banner: Banner, parts: dict[str, list[dict[str, Any]]]) -> None:
    facts = record.patient_from(banner.patient)
    observations = parts.get("growth", [])
    if isinstance(facts, str) or not observations:
        return
    growth_facts = record.growth_from(observations)
    measured = growth_facts.measurements
    if measured:
        since = max(m.on for m in measured).replace(day=1) - timedelta(days=365 * Z_SCORE_YEARS)
        growth_facts = replace(growth_facts, measurements=[m for m in measured if m.on >= since])
    found = assess(facts, growth_facts)
    latest = {r.indicator: r for r in found.results}
    for indicator in GROWTH_NAMES:
        if (r := latest.get(indicator)) is None or (r.z is None and indicator == "weight-for-height"):
            continue
        z = "вне референса ВОЗ"
        if r.z is not None:
            centile = f" ({round(r.centile)}-й центиль)" if r.centile is not None else ""
            z = f"z = {r.z:+.1f}".replace(".", ",") + centile
        value = f"{fv.number(round(r.value, 1))} {UNIT_RU.get(r.unit, r.unit)}"
        chart.growth.append(Measured(GROWTH_NAMES[indicator], value, r.on, z))
    chart.growth_alerts = [f"{GROWTH_NAMES.get(c.indicator, c.indicator)}: пересечение центильных линий "
                           f"{'вверх' if c.direction == 'up' else 'вниз'}" for c in found.crossings[-3:]]
    if facts.sex in ("male", "female"):
        # WHO's weight-for-age stops at 10 years: an older child's chart is BMI-for-age
        older = measured and (max(m.on for m in measured) - facts.birth_date).days > WEIGHT_FOR_AGE_DAYS
        kind, indicator = ("bmi", "bmi-for-age") if older else ("weight", "weight-for-age")
        points = [(float(corrected_age_days((m.on - facts.birth_date).days, growth_facts.gestation_weeks) or 0),
                   m.value) for m in measured if m.kind == kind and m.on >= facts.birth_date]
        if points:
            chart.growth_svg = growth_chart.render_growth_chart(indicator, facts.sex, points)


def _visits(chart: Chart, parts: dict[str, list[dict[str, Any]]], names: Names, birth: date | None) -> None:
    diagnoses: dict[str, list[str]] = {}
    for c in parts.get("diagnosis", []):
        key = fv.ref_key(c.get("encounter"))
        if key:
            code = fv.code_in(c.get("code"), fv.ICD10)
            diagnoses.setdefault(key[1], []).append(f"{code} {fv.text_of(c.get('code'))}" if code else
                                                    fv.text_of(c.get("code")))
    for e in sorted(parts.get("visit", []), key=_start, reverse=True):
        day = _day(e)
        who = _performer(e, names)
        chart.visits.append(Line(title=fv.texts_of(e.get("type")) or "Приём", detail="; ".join(diagnoses.get(
            str(e.get("id")), [])) or fv.texts_of(e.get("reasonCode")), day=day, age=age_at(birth, day), who=who,
            href_kind="visit", ref_id=str(e.get("id"))))


def _start(resource: dict[str, Any]) -> datetime:
    return fv.instant(fv.when_of(resource)) or datetime.min.replace(tzinfo=CLINIC_TZ)


def _performer(encounter: dict[str, Any], names: Names) -> str:
    who = next((names.of(p.get("individual")) for p in encounter.get("participant") or () if isinstance(p, dict)), "")
    specialty = fv.text_of(encounter.get("serviceType"))
    return ", ".join(x for x in (specialty, who) if x)


def _results(chart: Chart, parts: dict[str, list[dict[str, Any]]], birth: date | None) -> None:
    by_ref = {f"Observation/{o.get('id')}": o for o in parts.get("report-result", [])}
    reports = sorted(parts.get("report", []), key=_start, reverse=True)[:RECENT_REPORTS]
    for r in reports:
        values = [value_of(by_ref[ref]) for x in r.get("result") or ()
                  if isinstance(x, dict) and (ref := str(x.get("reference"))) in by_ref]
        chart.reports.append(Report(id=str(r.get("id")), title=fv.text_of(r.get("code")) or "Исследование",
                                    day=_day(r), conclusion=str(r.get("conclusion") or ""), values=tuple(values)))


def value_of(observation: dict[str, Any]) -> Value:
    code = fv.flag(observation)
    return Value(name=fv.text_of(observation.get("code")) or "показатель", value=fv.value_text(observation) or "—",
                 range=fv.reference_range(observation), flag=code, flag_text=fv.FLAG_TEXT.get(code, ""))


def _consultations(chart: Chart, parts: dict[str, list[dict[str, Any]]], names: Names, birth: date | None) -> None:
    visits = {str(e.get("id")): e for e in parts.get("consult-visit", [])}
    for d in sorted(parts.get("consult", []), key=_start, reverse=True):
        key = fv.ref_key(next(iter((d.get("context") or {}).get("encounter") or ()), None))
        visit = visits.get(key[1]) if key else None
        text = fv.attachment_text(d)
        conclusion = fv.labelled(text, "Заключение:") or str(d.get("description") or "")
        specialty = fv.text_of((visit or {}).get("serviceType")) or str(d.get("description") or "")
        author = next((names.of(a) for a in d.get("author") or ()), "")
        day = _day(d)
        chart.consultations.append(Line(title=specialty, detail=conclusion, day=day, age=age_at(birth, day),
                                        who=author, href_kind="visit" if visit else "document",
                                        ref_id=str(visit.get("id")) if visit else str(d.get("id"))))


def _documents(chart: Chart, parts: dict[str, list[dict[str, Any]]], names: Names, birth: date | None) -> None:
    for d in sorted(parts.get("document", []), key=_start, reverse=True):
        if fv.identifier_prefixed(d, fv.PAPER_CARD_PREFIX):
            continue
        day = _day(d)
        chart.documents.append(Line(title=str(d.get("description") or fv.text_of(d.get("type")) or "Документ"),
                                    detail=fv.text_of(d.get("type")), day=day, age=age_at(birth, day),
                                    who=next((names.of(a) for a in d.get("author") or ()), ""),
                                    href_kind="document", ref_id=str(d.get("id"))))
    for d in parts.get("paper", []):
        number = fv.identifier_prefixed(d, fv.PAPER_CARD_PREFIX) or fv.NOT_GIVEN
        period = (d.get("context") or {}).get("period") or {}
        start, end = fv.local_day(period.get("start")), fv.local_day(period.get("end"))
        years = f"{start.year}–{end.year}" if start and end else fv.NOT_GIVEN
        custodian = names.of(d.get("custodian"))
        where = f"архив: {custodian}" if custodian else fv.NOT_GIVEN
        chart.paper_card = PaperCard(number=number, period=years, where=where,
                                     description=str(d.get("description") or ""), document_id=str(d.get("id")))
