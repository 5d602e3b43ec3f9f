"""One child's record as the family portal shows it, read through the access gate.

Each page reads only what it shows (:class:`Reading`: whole types, coded rows of others, the names
of the people and clinics), in one or two statements, and keeps a resource only when the gate's
content filter allows it (a teenager's own view before 16 leaves drug-addiction matters out), so the
portal never shows what the policy hides. The functions here turn FHIR resources into plain facts in
Russian for a parent (ux.md §4): visits with doctor and conclusion, results with their reference
range and a word, vaccinations per disease with the forecast, growth with centiles, problems,
allergies, documents, and what needs attention.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core.time import CLINIC_TZ
from medcard.fhir import store
from medcard.pediatrics import examinations, growth, growth_assessment, immunization, record
from medcard.pediatrics.record import Resource
from medcard.records import fhirview as fv
from medcard.web.i18n import N_

# Resource types the pages read (the record's own and the practitioners and clinics it names).
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
NO_KNOWN_ALLERGY = {"716186003", "409137002"}  # SNOMED: no known allergy / no known drug allergy
PEDIATRICIAN = "pediatrician"
RECENT_DAYS = 30  # a document or result this new is "new" on the start page


@dataclass(frozen=True)
class Phrase:
    """A sentence of the portal: its Russian text, which is also its message id in the catalogs, and the
    values it names. The page translates it into the reader's language (the ``say`` filter)."""

    text: str
    values: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, text: str, **values: Any) -> Phrase:
        return cls(text, tuple(values.items()))

    def __str__(self) -> str:  # in Russian, as the message id says it
        return self.text % dict(self.values) if self.values else self.text

    def __bool__(self) -> bool:
        return bool(self.text)


@dataclass
class Loaded:
    """The resources of one record the requester may see, by type, and the referenced ones by reference."""

    patient: Resource
    by_type: dict[str, list[Resource]]
    refs: dict[str, Resource]
    shown: Callable[[str, str], bool] = lambda rtype, content: True  # the gate's content filter
    memo: dict[tuple[str, date], Any] = field(default_factory=dict)  # the forecasts of this page, worked out once

    def of(self, rtype: str) -> list[Resource]:
        return self.by_type.get(rtype, [])

    def once(self, what: str, on: date, work_out: Callable[[Loaded, date], Any]) -> Any:
        """``work_out(self, on)``, worked out once for this page (the summary and the sections both ask)."""
        if (what, on) not in self.memo:
            self.memo[(what, on)] = work_out(self, on)
        return self.memo[(what, on)]

    async def add_results(self, conn: AsyncConnection, reports: Iterable[Resource]) -> None:
        """The Observations that ``reports`` list as results, read by id (one statement), through the same
        content filter: a page that shows a few reports reads their values, not every measurement."""
        have = {o.get("id") for o in self.of("Observation")}
        wanted = [("Observation", str(x["reference"]).removeprefix("Observation/")) for r in reports
                  for x in r.get("result", []) if str(x.get("reference", "")).startswith("Observation/")]
        found = await store.read_many(conn, [w for w in wanted if w[1] not in have])
        extra = [fv.parse(s.content) for s in found.values()
                 if s.content is not None and s.patient_id == self.patient.get("id")
                 and self.shown("Observation", s.content)]
        self.by_type["Observation"] = [*self.of("Observation"), *extra]


@dataclass(frozen=True)
class Reading:
    """What a page reads of a record: whole types; rows of other types with one of the given codes of a token
    parameter, ``(type, param, codes)``; rows of the last RECENT_DAYS by a date parameter, ``(type, param)``;
    and whether the practitioners and clinics they name are wanted."""

    types: tuple[str, ...]
    coded: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    recent: tuple[tuple[str, str], ...] = ()
    names: bool = False


# The record's own rows of the wanted types (one range scan of resource_patient_idx), the rows it shares
# with other records (resource_compartment), its rows with a wanted code (sp_token's code index, a probe
# per code) and its rows of the last days (sp_date's patient index).
LOAD_SQL = """
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE r.patient_id = %(p)s AND r.resource_type = ANY(%(types)s) AND NOT r.deleted
UNION ALL
SELECT r.resource_type, r.id, r.content FROM resource_compartment c
  JOIN resource r ON r.resource_type = c.resource_type AND r.id = c.resource_id
 WHERE c.patient_id = %(p)s AND c.resource_type = ANY(%(types)s) AND NOT r.deleted
UNION ALL
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE (r.resource_type, r.id) IN (
       SELECT t.resource_type, t.resource_id
         FROM unnest(%(coded_types)s::text[], %(coded_params)s::text[], %(codes)s::text[]) AS k(rtype, param, code)
         JOIN sp_token t ON t.resource_type = k.rtype AND t.param = k.param AND t.code = k.code
                        AND t.patient_id = %(p)s)
   AND NOT r.deleted AND r.patient_id = %(p)s
UNION ALL
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE (r.resource_type, r.id) IN (
       SELECT d.resource_type, d.resource_id
         FROM unnest(%(recent_types)s::text[], %(recent_params)s::text[]) AS k(rtype, param)
         JOIN sp_date d ON d.patient_id = %(p)s AND d.resource_type = k.rtype AND d.param = k.param
                       AND d.low >= %(since)s)
   AND NOT r.deleted AND r.patient_id = %(p)s
"""
NAMED = ("Practitioner", "Organization")  # the people and clinics a parent is told about
NAMING = {"Encounter": ("participant",), "DocumentReference": ("custodian", "author")}  # where the pages name them


# What each page reads. The start page: what needs attention (the forecast, the examinations on record,
# the referrals, the results and documents of the last days). The record: that and the visits, problems,
# allergies, growth and documents. The codes are the rules' (the tests and groups of the examination
# schedule in force, growth's vital signs).
def _examined() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    tests = tuple(record.examination_codes())
    return (("Observation", "code", tests), ("DiagnosticReport", "code", tests),
            ("Encounter", "type", (record.PREVENTIVE,)))


def home_reading() -> Reading:
    return Reading(("Immunization", "Flag", "ServiceRequest"), _examined(),
                   (("DiagnosticReport", "issued"), ("DocumentReference", "date")))


def record_reading() -> Reading:
    return Reading(("Encounter", "DiagnosticReport", "Condition", "AllergyIntolerance", "Immunization", "Flag",
                    "DocumentReference", "ServiceRequest", "CarePlan"),
                   (*_examined(), ("Observation", "code", tuple(record.growth_codes()))), names=True)


def growth_reading() -> Reading:
    return Reading((), (("Observation", "code", tuple(record.growth_codes())),))


RESULTS = Reading(("DiagnosticReport",))
DOCUMENTS = Reading(("DocumentReference",), names=True)


async def load(conn: AsyncConnection, gate: Gate, patient_id: str, reading: Reading, on: date) -> Loaded | None:
    """The record's resources that ``reading`` asks for (recent: since RECENT_DAYS before ``on``) and the gate
    lets the requester see (None: no such patient): one statement for the record, one more for the names of
    the people and clinics it refers to.

    The caller has decided the read of the Patient (``open_chart``); this filters by content. Only what a
    page shows is read: the whole record of a 17-year-old is 500-900 resources, a page shows a few dozen."""
    shown = await gate.content_filter(conn, patient_id)
    coded = [(rtype, param, code) for rtype, param, codes in reading.coded for code in codes]
    cur = await conn.execute(LOAD_SQL, {
        "p": patient_id, "types": ["Patient", *reading.types],
        "coded_types": [c[0] for c in coded], "coded_params": [c[1] for c in coded], "codes": [c[2] for c in coded],
        "recent_types": [r[0] for r in reading.recent], "recent_params": [r[1] for r in reading.recent],
        "since": datetime.combine(on - timedelta(days=RECENT_DAYS), time.min, CLINIC_TZ)})
    by_type: dict[str, list[Resource]] = defaultdict(list)
    patient: Resource | None = None
    seen: set[tuple[str, str]] = set()
    for rtype, rid, content in await cur.fetchall():
        if (rtype, rid) in seen or not shown(rtype, content):
            continue
        seen.add((rtype, rid))
        resource: Resource = fv.parse(content)
        if rtype == "Patient":
            if rid == patient_id:
                patient = resource
        else:
            by_type[rtype].append(resource)
    if patient is None:
        return None
    refs = await _named(conn, by_type, shown) if reading.names else {}
    return Loaded(patient, dict(by_type), refs, shown)


async def _named(conn: AsyncConnection, by_type: dict[str, list[Resource]],
                 shown: Callable[[str, str], bool]) -> dict[str, Resource]:
    """The practitioners and clinics the resources refer to, by reference ("Practitioner/123")."""
    wanted = {ref for rtype, keys in NAMING.items() for r in by_type.get(rtype, ()) for ref in _references(r, keys)}
    pairs = [tuple(ref.split("/", 1)) for ref in wanted]
    found = await store.read_many(conn, [(t, i) for t, i in pairs if t in NAMED])
    return {f"{t}/{i}": fv.parse(s.content) for (t, i), s in found.items()
            if s.content is not None and s.patient_id is None and shown(t, s.content)}


def _references(resource: Resource, keys: tuple[str, ...]) -> Iterable[str]:
    """The references to practitioners and clinics that the pages name: who saw the child, who issued."""
    for key in keys:
        ref = _ref(resource, key)
        if ref.partition("/")[0] in NAMED:
            yield ref


# small readers ------------------------------------------------------------------------------


def name_of(resource: Resource | None) -> str:
    """«Фамилия Имя Отчество» of a Patient or Practitioner; «» when there is none."""
    if not resource:
        return ""
    names = resource.get("name") or []
    if isinstance(names, str):
        return names
    for n in names:
        if n.get("text"):
            return str(n["text"])
        parts = [n.get("family", ""), *n.get("given", [])]
        if any(parts):
            return " ".join(p for p in parts if p)
    return ""


def text_of(concept: Any) -> str:
    """The text of a CodeableConcept (or the first one of a list), else its first display."""
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display"):
            return str(coding["display"])
    return ""


def when(resource: Resource, *keys: str) -> str:
    """The first date-like field of ``keys`` (a period's start too), as an ISO string ('' when none)."""
    for key in keys:
        value = resource.get(key)
        if isinstance(value, dict):
            value = value.get("start")
        if value:
            return str(value)
    return ""


def number(value: Any) -> str:
    """A value as a Russian reads it: decimal comma, no trailing zeros."""
    if isinstance(value, Decimal):
        value = float(value)
    text = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return text.replace(".", ",")


def _ref(resource: Resource, key: str) -> str:
    value = resource.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict) and "individual" in value:
        value = value["individual"]
    return str(value.get("reference", "")) if isinstance(value, dict) else ""


# visits ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    id: str
    on: str
    title: str
    doctor: str
    specialty: str
    conclusion: list[str]
    specialist: bool  # a consultation of a specialist (not the pediatrician)


def visits(loaded: Loaded) -> list[Visit]:
    """Held visits, newest first, with the doctor, the specialty and the diagnoses made there."""
    diagnoses: dict[str, list[str]] = defaultdict(list)
    for c in loaded.of("Condition"):
        enc = (c.get("encounter") or {}).get("reference", "")
        if enc and text_of(c.get("code")):
            diagnoses[enc.removeprefix("Encounter/")].append(text_of(c.get("code")))
    out = []
    for e in loaded.of("Encounter"):
        if e.get("status") in ("planned", "cancelled", "entered-in-error") or e.get("partOf"):
            continue
        specialist_codes = record.codes(e.get("serviceType"), record.SPECIALIST)
        doctor = loaded.refs.get(_ref(e, "participant"))
        title = text_of((e.get("type") or [None])[-1]) or text_of(e.get("reasonCode")) or N_("Приём")
        out.append(Visit(e["id"], when(e, "period"), title, name_of(doctor), text_of(e.get("serviceType")),
                         diagnoses.get(e["id"], []),
                         bool(specialist_codes) and PEDIATRICIAN not in specialist_codes))
    return sorted(out, key=lambda v: v.on, reverse=True)


# results ---------------------------------------------------------------------------------------

FLAG_WORDS = {"normal": (N_("в норме"), "✓"), "high": (N_("выше нормы"), "↑"), "low": (N_("ниже нормы"), "↓"),
              "abnormal": (N_("не в норме"), "!")}
FLAG_EXPLAINED = {
    "normal": N_("Значение в пределах нормы для возраста ребёнка."),
    "high": N_("Значение выше обычного для возраста. Одно отклонение часто ничего не значит — обсудите его с врачом."),
    "low": N_("Значение ниже обычного для возраста. Одно отклонение часто ничего не значит — обсудите его с врачом."),
    "abnormal": N_("Результат отличается от обычного. Обсудите его с врачом на ближайшем приёме."),
}


@dataclass(frozen=True)
class Result:
    name: str
    value: str
    range: Phrase
    flag: str | None  # normal, high, low, abnormal, or None when nothing can be said


@dataclass(frozen=True)
class Report:
    id: str
    on: str
    title: str
    results: list[Result]

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.results if r.flag not in (None, "normal"))


def _flag(obs: Resource, value: float | None, low: float | None, high: float | None) -> str | None:
    codes = [c.get("code") for i in obs.get("interpretation", []) for c in i.get("coding", [])
             if c.get("system") == INTERPRETATION]
    for code in codes:
        if code in ("H", "HH", "HU"):
            return "high"
        if code in ("L", "LL", "LU"):
            return "low"
        if code in ("A", "AA"):
            return "abnormal"
        if code == "N":
            return "normal"
    if value is None or (low is None and high is None):
        return None
    if high is not None and value > high:
        return "high"
    if low is not None and value < low:
        return "low"
    return "normal"


def _float(q: Any) -> float | None:
    if isinstance(q, dict) and isinstance(q.get("value"), (int, float, Decimal)):
        return float(q["value"])
    return None


def result_of(obs: Resource) -> Result:
    """One observation: its value with unit, its reference range and what the flag says."""
    q = obs.get("valueQuantity")
    value, unit = _float(q), (q or {}).get("unit", "") if isinstance(q, dict) else ""
    shown = f"{number(value)} {unit}".strip() if value is not None else (
        obs.get("valueString") or text_of(obs.get("valueCodeableConcept")) or N_("не указано"))
    rng = (obs.get("referenceRange") or [{}])[0]
    low, high = _float(rng.get("low")), _float(rng.get("high"))
    if low is not None and high is not None:
        range_text = Phrase(f"{number(low)}–{number(high)} {unit}".strip())
    elif low is not None:
        range_text = Phrase.of(N_("от %(v)s"), v=f"{number(low)} {unit}".strip())
    elif high is not None:
        range_text = Phrase.of(N_("до %(v)s"), v=f"{number(high)} {unit}".strip())
    else:
        range_text = Phrase(str(rng.get("text", "")))
    return Result(text_of(obs.get("code")), str(shown), range_text, _flag(obs, value, low, high))


def final_reports(loaded: Loaded) -> list[Resource]:
    """The laboratory reports with results a family may read (final, amended...), newest first."""
    done = [r for r in loaded.of("DiagnosticReport")
            if r.get("status") in ("final", "amended", "corrected", "appended")]
    return sorted(done, key=lambda r: when(r, "effectiveDateTime", "effectivePeriod", "issued"), reverse=True)


def reports(loaded: Loaded, limit: int | None = None) -> list[Report]:
    """Laboratory reports with their results (the Observations read), newest first; the first ``limit``."""
    by_ref = {f"Observation/{o['id']}": o for o in loaded.of("Observation")}
    out = []
    for r in final_reports(loaded)[:limit]:
        results = [result_of(by_ref[x["reference"]]) for x in r.get("result", []) if x.get("reference") in by_ref]
        out.append(Report(r["id"], when(r, "effectiveDateTime", "effectivePeriod", "issued"), text_of(r.get("code")),
                          results))
    return out


# vaccinations ----------------------------------------------------------------------------------

VACCINE_STATUS = {"complete": (N_("выполнена"), "ok"), "not-due": (N_("запланирована"), "neutral"),
                  "due": (N_("пора сделать"), "warn"), "overdue": (N_("просрочена"), "alert"),
                  "contraindicated": (N_("медотвод"), "info")}


@dataclass(frozen=True)
class Vaccination:
    disease: str
    status: str  # immunization.Status
    word: str
    tone: str
    doses: int
    last: date | None
    due_from: date | None
    due: date | None
    overdue: date | None


def vaccinations(loaded: Loaded, on: date) -> list[Vaccination]:
    """One row per disease of the national calendar: doses given, the last one, the next one's window."""
    result: list[Vaccination] = loaded.once("vaccinations", on, _vaccinations)
    return result


def _vaccinations(loaded: Loaded, on: date) -> list[Vaccination]:
    facts = record.patient_from(loaded.patient)
    if isinstance(facts, str):
        return []
    imm = record.immunizations_from(loaded.of("Immunization"), loaded.of("Flag"))
    child = record.child_from(facts, imm)
    last: dict[str, date] = {}
    for ev in imm.events:
        for disease in ev.diseases:
            if ev.status == "completed" and (disease not in last or ev.occurred > last[disease]):
                last[disease] = ev.occurred
    out = []
    for f in immunization.forecast(child, imm.events, on):
        word, tone = VACCINE_STATUS[f.status]
        d = f.dates
        out.append(Vaccination(f.disease.name_ru, f.status, word, tone, f.doses_given, last.get(f.disease.snomed),
                               d.earliest if d else None, d.due if d else None, d.overdue if d else None))
    order = {"overdue": 0, "due": 1, "not-due": 2, "contraindicated": 3, "complete": 4}
    return sorted(out, key=lambda v: (order[v.status], v.due or date.max, v.disease))


# examinations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Examination:
    label: str
    status: str  # done, due, overdue, not-due
    due_from: date
    due_until: date


def examinations_due(loaded: Loaded, on: date) -> list[Examination]:
    """Preventive examinations due or overdue now, and the next one to come."""
    result: list[Examination] = loaded.once("examinations", on, _examinations_due)
    return result


def _examinations_due(loaded: Loaded, on: date) -> list[Examination]:
    facts = record.patient_from(loaded.patient)
    if isinstance(facts, str):
        return []
    done = record.examinations_from(loaded.of("Encounter"), loaded.of("Observation"), loaded.of("DiagnosticReport"))
    statuses = examinations.examination_statuses(facts.birth_date, facts.sex, done.records, on)
    out = [Examination(s.examination.visit.label_ru, s.status, s.examination.due_from, s.examination.due_until)
           for s in statuses if s.status in ("due", "overdue")]
    coming = [s for s in statuses if s.status == "not-due"]
    if coming:
        s = min(coming, key=lambda s: s.examination.due_from)
        out.append(Examination(s.examination.visit.label_ru, s.status, s.examination.due_from,
                               s.examination.due_until))
    return out


# growth ----------------------------------------------------------------------------------------

GROWTH_CHARTS = {"weight-for-age": N_("Масса тела"), "height-for-age": N_("Рост (длина тела)")}


@dataclass(frozen=True)
class GrowthLine:
    indicator: str
    label: str
    on: date
    value: Phrase
    centile: int
    words: Phrase


def centile_words(centile: float) -> Phrase:
    """What a centile means to a parent (WHO's 3rd-97th is the usual range)."""
    if centile < 3:
        return Phrase(N_("меньше, чем у 97 из 100 детей того же возраста и пола — покажите график врачу"))
    if centile > 97:
        return Phrase(N_("больше, чем у 97 из 100 детей того же возраста и пола — покажите график врачу"))
    return Phrase.of(N_("больше, чем у %(n)s из 100 детей того же возраста и пола — это обычный диапазон"),
                     n=round(centile))


def growth_points(loaded: Loaded) -> tuple[str | None, dict[str, list[tuple[float, float]]], list[GrowthLine]]:
    """The child's sex, the points of each chart (age in days, value) and the last measurement of each."""
    facts = record.patient_from(loaded.patient)
    sex = loaded.patient.get("gender")
    if isinstance(facts, str) or sex not in growth.SEXES:
        return None, {}, []
    gfacts = record.growth_from(loaded.of("Observation"))
    assessed = growth_assessment.assess(facts, gfacts)
    points: dict[str, list[tuple[float, float]]] = {}
    lines = []
    for indicator, label in GROWTH_CHARTS.items():
        rows = sorted((r for r in assessed.results if r.indicator == indicator and r.z is not None),
                      key=lambda r: r.on)
        if not rows:
            continue
        points[indicator] = [(float(growth.corrected_age_days(r.age_days, gfacts.gestation_weeks) or 0), r.value)
                             for r in rows]
        last = rows[-1]
        assert last.z is not None
        centile = last.centile if last.centile is not None else 100 * 0.5 * (1 + math.erf(last.z / math.sqrt(2)))
        shown = N_("%(v)s кг") if indicator == "weight-for-age" else N_("%(v)s см")
        lines.append(GrowthLine(indicator, label, last.on, Phrase.of(shown, v=number(round(last.value, 1))),
                                max(1, min(99, round(centile))), centile_words(centile)))
    return str(sex), points, lines


# problems, plan, allergies ----------------------------------------------------------------------


def problems(loaded: Loaded) -> list[tuple[str, str]]:
    """Active problems (not yet resolved): (name, since)."""
    out = []
    for c in loaded.of("Condition"):
        status = record.codes(c.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical")
        if status and status[0] in ("active", "recurrence", "relapse") and text_of(c.get("code")):
            out.append((text_of(c.get("code")), when(c, "onsetDateTime", "recordedDate")))
    return sorted(out, key=lambda p: p[1], reverse=True)


@dataclass(frozen=True)
class PlanItem:
    what: str
    on: str
    who: str


def plan(loaded: Loaded) -> list[PlanItem]:
    """The follow-up plan: referrals not yet done and care plans in force, soonest first."""
    out = []
    for s in loaded.of("ServiceRequest"):
        if s.get("status") in ("active", "draft", "on-hold"):
            out.append(PlanItem(text_of(s.get("code")) or N_("Направление"),
                                when(s, "occurrenceDateTime", "occurrencePeriod", "authoredOn"),
                                text_of(s.get("performerType"))))
    for p in loaded.of("CarePlan"):
        if p.get("status") == "active":
            out.append(PlanItem(str(p.get("title") or p.get("description") or N_("План наблюдения")),
                                when(p, "period"), ""))
    return sorted(out, key=lambda p: p.on)


@dataclass(frozen=True)
class Allergies:
    state: str  # known, none-known, not-recorded
    items: list[str] = field(default_factory=list)


def allergies(loaded: Loaded) -> Allergies:
    """The allergy state, never blank (ux.md §6.1): known (named), none known, or not recorded."""
    named, none_known = [], False
    for a in loaded.of("AllergyIntolerance"):
        if a.get("verificationStatus") and "entered-in-error" in record.codes(
                a.get("verificationStatus"), "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"):
            continue
        if set(record.codes(a.get("code"), record.SNOMED)) & NO_KNOWN_ALLERGY:
            none_known = True
            continue
        status = record.codes(a.get("clinicalStatus"),
                              "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical")
        if not status or status[0] == "active":
            named.append(text_of(a.get("code")) or N_("аллерген не указан"))
    if named:
        return Allergies("known", named)
    return Allergies("none-known" if none_known else "not-recorded")


# documents -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    id: str
    on: str
    kind: str
    title: str
    issuer: str


def documents(loaded: Loaded) -> list[Document]:
    """Every document of the record, newest first (entered in error left out)."""
    out = []
    for d in loaded.of("DocumentReference"):
        if d.get("status") == "entered-in-error":
            continue
        custodian = loaded.refs.get(_ref(d, "custodian")) or {}
        issuer = custodian.get("name") or name_of(loaded.refs.get(_ref(d, "author")))
        kind = text_of(d.get("type")) or N_("Документ")
        out.append(Document(d["id"], str(d.get("date", "")), kind, str(d.get("description") or kind), str(issuer)))
    return sorted(out, key=lambda d: (d.on, d.id), reverse=True)


# what needs attention --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    tone: str  # alert, warn, info
    text: Phrase
    anchor: str  # where it is, after the child's address: "#vaccinations" on the record, or "/documents"


def _recent(value: str, on: date) -> bool:
    day = record.day_of(value)
    return day is not None and 0 <= (on - day).days <= RECENT_DAYS


@dataclass(frozen=True)
class Summary:
    """What the start page and the head of the record say of a child: worked out from the record once (a
    page may keep it while the record does not change, :mod:`medcard.portal.kept`)."""

    id: str
    name: str
    birth: str | None
    gender: str | None
    vaccinations: tuple[Vaccination, ...]
    examinations: tuple[Examination, ...]
    plan: tuple[PlanItem, ...]
    recent_results: int  # laboratory reports issued in the last RECENT_DAYS
    recent_documents: int


def summary(loaded: Loaded, on: date) -> Summary:
    patient = loaded.patient
    return Summary(
        str(patient["id"]), name_of(patient), patient.get("birthDate"), patient.get("gender"),
        tuple(vaccinations(loaded, on)), tuple(examinations_due(loaded, on)), tuple(plan(loaded)),
        sum(1 for r in loaded.of("DiagnosticReport") if _recent(when(r, "issued"), on)),
        sum(1 for d in loaded.of("DocumentReference") if _recent(str(d.get("date", "")), on)))


def attention(child: Summary, unread: dict[str, int]) -> list[Attention]:
    """What a parent should look at: vaccinations overdue or due, examinations due, follow-up visits,
    new results and documents (unread notifications, else the last month's)."""
    out = []
    vacc = child.vaccinations
    overdue = [v.disease for v in vacc if v.status == "overdue"]
    due = [v.disease for v in vacc if v.status == "due"]
    if overdue:
        out.append(Attention("alert", Phrase.of(N_("Просрочена прививка: %(what)s"), what=", ".join(overdue)),
                             "#vaccinations"))
    if due:
        out.append(Attention("warn", Phrase.of(N_("Пора сделать прививку: %(what)s"), what=", ".join(due)),
                             "#vaccinations"))
    exams = child.examinations
    missed = [e for e in exams if e.status == "overdue"]
    if len(missed) == 1:
        out.append(Attention("alert", Phrase.of(N_("Пропущен профилактический осмотр: %(what)s"),
                                                what=missed[0].label), "#plan"))
    elif missed:  # one line, not a wall of them: the plan lists each
        out.append(Attention("alert", Phrase.of(N_("Пропущены профилактические осмотры: %(n)s, последний — %(what)s"),
                                                n=len(missed), what=max(missed, key=lambda e: e.due_until).label),
                             "#plan"))
    for e in exams:
        if e.status == "due":
            out.append(Attention("warn", Phrase.of(N_("Пора пройти профилактический осмотр: %(what)s"), what=e.label),
                                 "#plan"))
    for p in child.plan:
        out.append(Attention("info", Phrase.of(N_("Направление: %(what)s"), what=p.what), "#plan"))
    results = unread.get("result") or child.recent_results
    if results:
        out.append(Attention("info", Phrase.of(N_("Новые результаты анализов: %(n)s"), n=results), "#results"))
    docs = unread.get("document") or child.recent_documents
    if docs:
        out.append(Attention("info", Phrase.of(N_("Новые документы: %(n)s"), n=docs), "/documents"))
    if unread.get("access"):
        out.append(Attention("info", Phrase(N_("Изменён доступ к медкарте")), "/access"))
    return out


def next_event(child: Summary, on: date) -> tuple[Phrase, date] | None:
    """The next thing on the calendar: the soonest vaccination or examination window, or a referral."""
    candidates: list[tuple[date, Phrase]] = []
    for v in child.vaccinations:  # what is overdue is on the attention list already
        if v.status in ("due", "not-due") and v.due is not None:
            candidates.append((max(v.due, on), Phrase.of(N_("Прививка: %(what)s"), what=v.disease)))
    for e in child.examinations:
        if e.status != "overdue":
            candidates.append((max(e.due_from, on),
                               Phrase.of(N_("Профилактический осмотр: %(what)s"), what=e.label)))
    for p in child.plan:
        day = record.day_of(p.on)
        if day is not None and day >= on:
            candidates.append((day, Phrase(p.what)))
    if not candidates:
        return None
    day, what = min(candidates, key=lambda c: (c[0], str(c[1])))
    return what, day


def years(loaded: Iterable[Document]) -> list[str]:
    return sorted({d.on[:4] for d in loaded if d.on[:4]}, reverse=True)
