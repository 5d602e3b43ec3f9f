"""One child's record as the pediatric engine reads it: FHIR resources -> growth, vaccination, examination facts.

The conventions are ``docs/fhir-conventions.md``; this module is their reader. Each ``*_from``
function turns stored resources into the engine's inputs (:mod:`growth`, :mod:`immunization`,
:mod:`examinations`) and lists what it could not use as :class:`Skipped` (reference and reason):
a fact that is unknown, malformed or entered in error is reported, never fatal. :func:`load`
reads the resources one operation needs in one round trip through the patient-id indexes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, cast

from psycopg import AsyncConnection

from medcard.core import jsonutil
from medcard.pediatrics import rules
from medcard.pediatrics.examinations import RecordedExamination, check_record
from medcard.pediatrics.immunization import Child, ImmunizationEvent
from medcard.pediatrics.rules import ChildSex

Resource = dict[str, Any]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
EXEMPTION_UNTIL = "urn:medcard:extension:exemption-until"
RISK_GROUP_SYSTEM = "urn:medcard:code-system:immunization-risk-group"
ENCOUNTER_TYPE = "urn:medcard:code-system:encounter-type"
PREVENTIVE = "preventive-examination"
SPECIALIST = "urn:medcard:code-system:specialist"
EXAMINATION_TEST = "urn:medcard:code-system:examination-test"
OBSERVATION_CODE = "urn:medcard:code-system:observation"
HEALTH_GROUP = "urn:medcard:code-system:health-group"
PE_GROUP = "urn:medcard:code-system:pe-group"

# Growth measurements by LOINC code (fhir-conventions.md, Growth).
WEIGHT, HEIGHT, LENGTH, HEAD, BMI, GESTATION = "29463-7", "8302-2", "8306-3", "9843-4", "39156-5", "76516-4"
GROWTH_CODES = (WEIGHT, HEIGHT, LENGTH, HEAD, BMI, GESTATION)
MeasurementKind = Literal["weight", "height", "head", "bmi"]
_KIND: dict[str, MeasurementKind] = {WEIGHT: "weight", HEIGHT: "height", LENGTH: "height", HEAD: "head", BMI: "bmi"}
# UCUM unit -> factor to the unit the engine uses (kg, cm, kg/m2, weeks).
_UNITS: dict[str, dict[str, float]] = {
    "weight": {"kg": 1.0, "g": 0.001},
    "height": {"cm": 1.0, "mm": 0.1, "m": 100.0},
    "head": {"cm": 1.0, "mm": 0.1},
    "bmi": {"kg/m2": 1.0},
    "gestation": {"wk": 1.0, "d": 1 / 7},
}
_FINAL = frozenset({"final", "amended", "corrected"})
_ENCOUNTER_NOT_HELD = frozenset({"planned", "cancelled", "entered-in-error"})


@dataclass(frozen=True)
class Skipped:
    """A fact the engine could not use, and why (shown to the clinician, never an error)."""

    reference: str
    reason: str


@dataclass(frozen=True)
class Measurement:
    """One growth measurement: weight (kg), length/height (cm), head circumference (cm) or BMI (kg/m²)."""

    reference: str
    on: date
    kind: MeasurementKind
    value: float
    recumbent: bool | None = None  # lengths only: True when measured lying (8306-3)


@dataclass
class Facts:
    """What a reader found in a record; ``skipped`` collects what it could not use."""

    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, resource: Resource, reason: str) -> None:
        self.skipped.append(Skipped(reference(resource), reason))


# --- Small readers ------------------------------------------------------------------------------


def reference(resource: Resource) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def day_of(value: Any) -> date | None:
    """The day of a FHIR date or dateTime as written (the clinic's local day); None unless precise to the day."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def codes(concept: Any, system: str) -> list[str]:
    """The codes of ``system`` in a CodeableConcept."""
    if not isinstance(concept, dict):
        return []
    return [c["code"] for c in concept.get("coding", ()) if isinstance(c, dict) and c.get("system") == system
            and isinstance(c.get("code"), str)]


def _concepts(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def local_id(ref: Any, rtype: str) -> str | None:
    """The id of a literal local reference ``{"reference": "Type/id"}`` to ``rtype``."""
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    parts = ref["reference"].split("/")
    if len(parts) >= 2 and parts[-2] == rtype:
        return str(parts[-1])
    return None


# --- The patient --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientFacts:
    birth_date: date
    sex: ChildSex


def patient_from(patient: Resource) -> PatientFacts | str:
    """The child's birth date and sex, or why the record cannot be evaluated."""
    birth = day_of(patient.get("birthDate"))
    if birth is None:
        return "the patient has no full birth date"
    gender = patient.get("gender", "unknown")
    if gender not in ("male", "female", "other", "unknown"):
        gender = "unknown"
    return PatientFacts(birth, cast(ChildSex, gender))


# --- Growth -------------------------------------------------------------------------------------


@dataclass
class GrowthFacts(Facts):
    measurements: list[Measurement] = field(default_factory=list)
    gestation_weeks: float | None = None


def _quantity(observation: Resource, units: dict[str, float]) -> float | str:
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict):
        return "no valueQuantity"
    value, unit = quantity.get("value"), quantity.get("code") or quantity.get("unit")
    # Stored JSON is read with decimals (jsonutil), so a value may be a Decimal.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal) or not math.isfinite(value) \
            or value <= 0:
        return f"the value {value} is not a positive number"
    if unit not in units:
        return f"the unit {unit!r} is not one of {', '.join(units)}"
    return float(value) * units[unit]


def growth_from(observations: Iterable[Resource]) -> GrowthFacts:
    """Growth measurements and the gestational age at birth from vital-sign Observations."""
    facts = GrowthFacts()
    for obs in observations:
        loinc = codes(obs.get("code"), LOINC)
        found = next((c for c in GROWTH_CODES if c in loinc), None)
        if found is None:
            continue
        if obs.get("status") not in _FINAL:
            facts.skip(obs, f"status {obs.get('status')!r} is not final")
            continue
        kind = "gestation" if found == GESTATION else _KIND[found]
        value = _quantity(obs, _UNITS[kind])
        if isinstance(value, str):
            facts.skip(obs, value)
            continue
        if found == GESTATION:
            facts.gestation_weeks = value if 0 < value <= 45 else facts.gestation_weeks
            continue
        on = day_of(obs.get("effectiveDateTime") or (obs.get("effectivePeriod") or {}).get("start"))
        if on is None:
            facts.skip(obs, "no effective date precise to the day")
            continue
        recumbent = (LENGTH in loinc) if kind == "height" else None
        facts.measurements.append(Measurement(reference(obs), on, _KIND[found], value, recumbent))
    facts.measurements.sort(key=lambda m: (m.on, m.kind, m.reference))
    return facts


# --- Vaccinations -------------------------------------------------------------------------------


@dataclass
class ImmunizationFacts(Facts):
    events: list[ImmunizationEvent] = field(default_factory=list)
    risk_groups: set[str] = field(default_factory=set)


def _diseases(immunization: Resource) -> set[str]:
    return {code for applied in _concepts(immunization.get("protocolApplied")) if isinstance(applied, dict)
            for concept in _concepts(applied.get("targetDisease")) for code in codes(concept, SNOMED)}


def _dose_number(immunization: Resource) -> int | None:
    numbers = [a.get("doseNumberPositiveInt") for a in _concepts(immunization.get("protocolApplied"))
               if isinstance(a, dict)]
    valid = [n for n in numbers if isinstance(n, int) and not isinstance(n, bool) and n >= 1]
    return max(valid) if valid else None


def _exemption_until(immunization: Resource) -> date | str | None:
    for ext in _concepts(immunization.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == EXEMPTION_UNTIL:
            until = day_of(ext.get("valueDate"))
            return until if until is not None else "the exemption-until extension has no valueDate"
    return None


def event_from(immunization: Resource) -> ImmunizationEvent | str:
    """One Immunization as an event (given, refused, or a medical exemption), or why it is skipped."""
    status = immunization.get("status")
    if status not in ("completed", "not-done"):
        return f"status {status!r} is neither completed nor not-done"
    on = day_of(immunization.get("occurrenceDateTime"))
    if on is None:
        return "no occurrenceDateTime precise to the day"
    known = {d for cal in rules.calendars().versions for d in cal.diseases}
    diseases = _diseases(immunization) & known
    if not diseases:
        return "protocolApplied.targetDisease names no disease of the calendar (SNOMED CT)"
    ref = reference(immunization)
    if status == "completed":
        return ImmunizationEvent(on, frozenset(diseases), dose_number=_dose_number(immunization), reference=ref)
    reasons = codes(immunization.get("statusReason"), ACT_REASON)
    if "PATOBJ" in reasons:
        return ImmunizationEvent(on, frozenset(diseases), "not-done", reason="refusal", reference=ref)
    if "MEDPREC" in reasons:
        until = _exemption_until(immunization)
        if isinstance(until, str):
            return until
        if until is not None and until < on:
            return f"the exemption ends ({until}) before it starts ({on})"
        return ImmunizationEvent(on, frozenset(diseases), "not-done", reason="medical-exemption",
                                 exemption_until=until, reference=ref)
    return "not-done without statusReason PATOBJ (refusal) or MEDPREC (medical exemption)"


def immunizations_from(immunizations: Iterable[Resource], flags: Iterable[Resource]) -> ImmunizationFacts:
    """Vaccination events and the calendar's risk groups (active Flags) of one child."""
    facts = ImmunizationFacts()
    for imm in immunizations:
        event = event_from(imm)
        if isinstance(event, str):
            facts.skip(imm, event)
        else:
            facts.events.append(event)
    known = {code for cal in rules.calendars().versions for code in cal.risk_groups}
    for flag in flags:
        group = codes(flag.get("code"), RISK_GROUP_SYSTEM)
        if not group or flag.get("status") != "active":
            continue  # other flags, or no longer active
        if group[0] not in known:
            facts.skip(flag, f"risk group {group[0]!r} is not one of the calendar's ({', '.join(sorted(known))})")
        else:
            facts.risk_groups.add(group[0])
    return facts


def child_from(patient: PatientFacts, facts: ImmunizationFacts) -> Child:
    return Child(patient.birth_date, patient.sex, frozenset(facts.risk_groups))


# --- Preventive examinations --------------------------------------------------------------------


@dataclass
class ExaminationFacts(Facts):
    records: list[RecordedExamination] = field(default_factory=list)
    encounters: dict[date, list[str]] = field(default_factory=dict)  # day -> examination Encounter references


def _is_preventive(encounter: Resource) -> bool:
    return any(PREVENTIVE in codes(t, ENCOUNTER_TYPE) for t in _concepts(encounter.get("type")))


def _specialists(encounter: Resource) -> frozenset[str]:
    found = set(codes(encounter.get("serviceType"), SPECIALIST))
    return frozenset(found)


def _groups(observations: Iterable[Resource], facts: ExaminationFacts) -> dict[str, dict[str, str]]:
    """Examination Encounter id -> {"health": code, "pe": code} from the conclusion Observations."""
    out: dict[str, dict[str, str]] = {}
    for obs in observations:
        kind = codes(obs.get("code"), OBSERVATION_CODE)
        which = "health" if "health-group" in kind else "pe" if "pe-group" in kind else None
        if which is None:
            continue
        encounter = local_id(obs.get("encounter"), "Encounter")
        value = codes(obs.get("valueCodeableConcept"), HEALTH_GROUP if which == "health" else PE_GROUP)
        if obs.get("status") not in _FINAL:
            facts.skip(obs, f"status {obs.get('status')!r} is not final")
        elif encounter is None or not value:
            facts.skip(obs, "no examination encounter or no coded value")
        else:
            out.setdefault(encounter, {})[which] = value[0]
    return out


def _tests(resources: Iterable[Resource], facts: ExaminationFacts) -> None:
    """Each test of the schedule on record, as a record of its own day (the engine counts tests in a window)."""
    for res in resources:
        tests = codes(res.get("code"), EXAMINATION_TEST)
        if not tests:
            continue
        when = res.get("effectiveDateTime") or (res.get("effectivePeriod") or {}).get("start") or res.get("issued")
        on = day_of(when)
        if on is None or res.get("status") in ("entered-in-error", "cancelled", "registered"):
            facts.skip(res, "no effective date, or not a result")
            continue
        facts.records.append(RecordedExamination(on, frozenset(), frozenset(tests)))


def examinations_from(encounters: Sequence[Resource], observations: Sequence[Resource],
                      reports: Sequence[Resource] = ()) -> ExaminationFacts:
    """Examinations on record: the examination Encounters, the specialists seen as part of them, the tests
    and the health and physical-education groups."""
    facts = ExaminationFacts()
    groups = _groups(observations, facts)
    exams = {e.get("id"): e for e in encounters if _is_preventive(e) and not local_id(e.get("partOf"), "Encounter")}
    for enc in encounters:
        if not _is_preventive(enc):
            continue
        parent_id = local_id(enc.get("partOf"), "Encounter")
        parent = exams.get(parent_id) if parent_id else None
        if parent_id and parent is None:
            facts.skip(enc, f"partOf Encounter/{parent_id} is not a preventive examination of this child")
            continue
        if enc.get("status") in _ENCOUNTER_NOT_HELD:
            facts.skip(enc, f"status {enc.get('status')!r}: not held")
            continue
        on = day_of((enc.get("period") or {}).get("start")) or (
            day_of((parent.get("period") or {}).get("start")) if parent else None)
        if on is None:
            facts.skip(enc, "no period.start")
            continue
        own = groups.get(str(enc.get("id")), {}) if parent is None else {}
        record = RecordedExamination(on, _specialists(enc), frozenset(), own.get("health"), own.get("pe"))
        try:
            check_record(record)
        except ValueError as e:
            facts.skip(enc, str(e))
            record = RecordedExamination(on, record.specialists)
        facts.records.append(record)
        if parent is None:
            facts.encounters.setdefault(on, []).append(reference(enc))
    _tests([*observations, *reports], facts)
    facts.records.sort(key=lambda r: r.performed)
    return facts


# --- Reading the record -------------------------------------------------------------------------


def _test_codes() -> list[str]:
    return sorted({code for act in rules.examination_acts().versions for code in act.tests})


LOAD_SQL = """
SELECT r.resource_type, r.content FROM resource r
 WHERE r.patient_id = %(p)s AND r.resource_type = ANY(%(types)s) AND NOT r.deleted
UNION ALL
SELECT r.resource_type, r.content FROM resource r
 WHERE (r.resource_type, r.id) IN (
       SELECT t.resource_type, t.resource_id FROM sp_token t
        WHERE t.resource_type = ANY(%(coded)s) AND t.param = 'code' AND t.code = ANY(%(codes)s)
          AND t.patient_id = %(p)s)
   AND NOT r.deleted
"""


async def load(conn: AsyncConnection, patient_id: str, *, types: Sequence[str] = (),
               coded: Sequence[str] = (), with_codes: Sequence[str] = ()) -> dict[str, list[Resource]]:
    """The Patient and its resources of ``types`` (the whole of each), plus its resources of types ``coded``
    whose code is one of ``with_codes`` (through sp_token), grouped by type; one statement, two index scans."""
    cur = await conn.execute(LOAD_SQL, {"p": patient_id, "types": ["Patient", *types], "coded": list(coded),
                                        "codes": list(with_codes)})
    out: dict[str, list[Resource]] = {}
    for rtype, content in await cur.fetchall():
        out.setdefault(rtype, []).append(jsonutil.loads(content))
    return out


def growth_codes() -> list[str]:
    return list(GROWTH_CODES)


def examination_codes() -> list[str]:
    """Observation/DiagnosticReport codes that the examination schedule reads (tests, groups)."""
    return [*_test_codes(), "health-group", "pe-group"]
