"""``Patient/{id}/$examinations?date=YYYY-MM-DD``: the child's preventive examinations and where each stands.

A Parameters resource with one ``examination`` per scheduled examination of the act in force on
its due date (514н, 211н; ``actVersion`` names the amending order when the row's version comes
from one): its window, the specialists and tests it requires (``conditional`` ones only for the
children their ``condition`` names, not counted as missing), its status on the
date (``done``, ``due``, ``overdue``, ``not-due``), who and what is still missing, the health and
physical-education groups given, and the examination Encounters on record in its window; plus the
periods no loaded act covers (``gap``) and the facts that could not be read (``skipped``).
"""

from __future__ import annotations

from medcard.fhir.operations.base import Operation, OperationCall, Result
from medcard.fhir.operations.pediatric_params import (
    Part,
    date_param,
    group,
    parameters,
    part,
    patient_facts,
    read_record,
    skipped,
)
from medcard.pediatrics import examinations, record, rules
from medcard.pediatrics.examinations import ExaminationStatus

STATUS_DISPLAY = {"done": "Проведён", "due": "Предстоит (срок наступил)", "overdue": "Просрочен",
                  "not-due": "Срок не наступил"}


def _examination(item: ExaminationStatus, facts: record.ExaminationFacts) -> Part:
    exam = item.examination
    act = exam.act
    parts: list[Part] = [
        part("code", "Code", exam.visit.code), part("label", "String", exam.visit.label_ru),
        part("act", "String", act.meta.number), part("dueFrom", "Date", exam.due_from.isoformat()),
        part("dueUntil", "Date", exam.due_until.isoformat()), part("extended", "Boolean", exam.visit.extended),
        part("status", "Coding", {"system": "urn:medcard:code-system:examination-status", "code": item.status,
                                  "display": STATUS_DISPLAY[item.status]}),
    ]
    if exam.visit.effective.act:
        parts.append(part("actVersion", "String", exam.visit.effective.act))
    for req in exam.specialists:
        specialist = [part("code", "Code", req.code), part("name", "String", req.name_ru),
                      part("seen", "Boolean", req.code in item.seen_by)]
        if req.conditional and req.condition_ru:  # listed for the children the condition names; does not decide
            specialist += [part("conditional", "Boolean", True), part("condition", "String", req.condition_ru)]
        parts.append(group("specialist", specialist))
    parts += [group("test", [part("code", "Code", req.code), part("name", "String", req.name_ru),
                             part("done", "Boolean", req.code not in item.missing_tests)]) for req in exam.tests]
    parts += [part("missingSpecialist", "Code", code) for code in item.missing_specialists]
    parts += [part("missingTest", "Code", code) for code in item.missing_tests]
    if item.completed_on is not None:
        parts.append(part("completedOn", "Date", item.completed_on.isoformat()))
    if item.health_group:
        parts.append(part("healthGroup", "Coding", _group(act.health_groups, record.HEALTH_GROUP, item.health_group)))
    if item.pe_group:
        parts.append(part("peGroup", "Coding", _group(act.pe_groups, record.PE_GROUP, item.pe_group)))
    for day, refs in sorted(facts.encounters.items()):
        if exam.due_from <= day <= exam.due_until:
            parts += [part("encounter", "Reference", {"reference": ref}) for ref in refs]
    return group("examination", parts)


def _group(codes: dict[str, rules.Code] | object, system: str, code: str) -> dict[str, str]:
    entry = codes.get(code) if isinstance(codes, dict) else None
    coding = {"system": system, "code": code}
    if entry is not None:
        coding["display"] = entry.name_ru
    return coding


async def examinations_op(call: OperationCall) -> Result:
    on = date_param(call, "date")
    patient, found = await read_record(call, types=("Encounter",), coded=("Observation", "DiagnosticReport"),
                                       with_codes=record.examination_codes())
    child = patient_facts(patient)
    facts = record.examinations_from(found.get("Encounter", []), found.get("Observation", []),
                                     found.get("DiagnosticReport", []))
    statuses = examinations.examination_statuses(child.birth_date, child.sex, facts.records, on)
    schedule = examinations.examination_schedule(child.birth_date, child.sex)
    gaps = [group("gap", [part("start", "Date", g.start.isoformat()), part("end", "Date", g.end.isoformat())])
            for g in schedule.gaps]
    return parameters([part("date", "Date", on.isoformat()),
                       *(_examination(item, facts) for item in statuses), *gaps, *skipped(facts.skipped)])


OPERATION = Operation(
    name="examinations",
    definition="urn:medcard:operation:examinations",
    resource_types=("Patient",),
    instance=True,
    type_level=False,
    system=False,
    access="read",
    methods=("GET",),
    handler=examinations_op,
    documentation="The preventive-examination schedule of the acts in force (514н, 211н) with each "
                  "examination's status on date=, missing specialists and tests, health and PE groups.",
    shows=("Encounter", "Observation", "DiagnosticReport"),
)
