"""``Organization/{id}/$vaccination-worklist``: the children of a clinic or a district with overdue vaccinations.

Also on ``PractitionerRole/{id}`` and ``Practitioner/{id}`` (the district pediatrician, from
``Patient.generalPractitioner``); on an Organization, ``practitioner=PractitionerRole/x`` narrows
the list to that pediatrician's district. Parameters: ``date`` (default today in Moscow),
``disease`` (SNOMED CT codes, comma-separated), ``_count`` (children per page) and ``_cursor``.

The answer is one indexed query on the derived table ``vaccination_due``
(:mod:`medcard.pediatrics.vaccination_due`), whatever the size of the clinic. A Parameters
resource: ``date``, ``total`` (children on the list), one ``child`` per child of the page (the
Patient reference with the name, birth date, and one ``overdue`` per disease: dose number, due
and overdue dates), and ``next``, the URL of the next page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from medcard.core import jsonutil
from medcard.core.errors import BadRequest
from medcard.fhir import paging, store
from medcard.fhir.operations.base import Operation, OperationCall, Result
from medcard.fhir.operations.pediatric_params import Part, date_param, group, last, parameters, part, patient_display
from medcard.pediatrics import rules, vaccination_due
from medcard.pediatrics.vaccination_due import WorklistChild

SNOMED = "http://snomed.info/sct"
HOLDER_TYPES = ("PractitionerRole", "Practitioner", "Organization")


def _practitioner(call: OperationCall) -> tuple[str, str] | None:
    raw = last(call, "practitioner")
    if raw is None:
        return None
    rtype, _, rid = raw.partition("/")
    if rtype not in HOLDER_TYPES[:2] or not rid or "/" in rid:
        raise BadRequest(f"practitioner is PractitionerRole/<id> or Practitioner/<id>, not {raw!r}")
    return rtype, rid


def _diseases(call: OperationCall) -> list[str] | None:
    raw = [c.strip() for k, v in call.params if k == "disease" for c in v.split(",") if c.strip()]
    known = {d: info for cal in rules.calendars().versions for d, info in cal.diseases.items()}
    unknown = [c.split("|")[-1] for c in raw if c.split("|")[-1] not in known]
    if unknown:
        raise BadRequest(f"disease names no disease of the calendar: {', '.join(unknown)} (SNOMED CT codes)")
    return [c.split("|")[-1] for c in raw] or None


def _count(call: OperationCall) -> int:
    raw = last(call, "_count")
    if raw is None:
        return call.page_size
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest("_count must be a positive integer")
    return min(int(raw), call.max_page_size)


def _child(item: WorklistChild) -> Part:
    patient: dict[str, Any] = jsonutil.loads(item.content)
    ref: dict[str, str] = {"reference": f"Patient/{item.patient_id}"}
    if display := patient_display(patient):
        ref["display"] = display
    parts: list[Part] = [part("patient", "Reference", ref)]
    if isinstance(patient.get("birthDate"), str):
        parts.append(part("birthDate", "Date", patient["birthDate"]))
    diseases = {d: info for cal in rules.calendars().versions for d, info in cal.diseases.items()}
    for o in item.overdue:
        info = diseases.get(o.disease)
        concept = {"coding": [{"system": SNOMED, "code": o.disease, **({"display": info.display} if info else {})}],
                   **({"text": info.name_ru} if info else {})}
        detail = [part("disease", "CodeableConcept", concept)]
        if o.dose_number is not None:
            detail.append(part("doseNumber", "PositiveInt", o.dose_number))
        detail += [part("earliest", "Date", o.earliest.isoformat()), part("due", "Date", o.due.isoformat()),
                   part("overdue", "Date", o.overdue.isoformat())]
        parts.append(group("overdue", detail))
    return group("child", parts)


async def worklist(call: OperationCall) -> Result:
    assert call.resource_type is not None
    assert call.resource_id is not None
    on, diseases, count = date_param(call, "date"), _diseases(call), _count(call)
    practitioner = _practitioner(call) if call.resource_type == "Organization" else None
    raw_cursor = last(call, "_cursor")
    after = str(paging.decode(raw_cursor, 1)[0]) if raw_cursor else ""
    holder, organization = f"{call.resource_type}/{call.resource_id}", None
    async with call.db.connection() as conn:
        await store.read(conn, call.resource_type, call.resource_id)  # 404 / 410
        if practitioner is not None:
            await store.read(conn, *practitioner)
            holder, organization = "/".join(practitioner), call.resource_id
        total, children = await vaccination_due.worklist(conn, holder, on, organization=organization,
                                                         diseases=diseases, after=after, count=count)
    if call.gate is not None:  # the list shows these children's data: audited, one entry per child
        call.gate.saw("operation", f"{holder}/$vaccination-worklist", urlencode(call.params) or None,
                      [c.patient_id for c in children])
    params = [part("date", "Date", on.isoformat()), part("total", "Integer", total),
              *(_child(c) for c in children)]
    if len(children) == count and children:
        keep = [(k, v) for k, v in call.params if k != "_cursor"]
        token = paging.encode([children[-1].patient_id])
        url = f"{call.base}/{call.resource_type}/{call.resource_id}/$vaccination-worklist?"
        params.append(part("next", "Uri", url + urlencode([*keep, ("_cursor", token)])))
    return parameters(params)


OPERATION = Operation(
    name="vaccination-worklist",
    definition="urn:medcard:operation:vaccination-worklist",
    resource_types=HOLDER_TYPES,
    instance=True,
    type_level=False,
    system=False,
    access="clinic",
    methods=("GET",),
    handler=worklist,
    documentation="Children of a clinic (or of a district pediatrician: practitioner=) with vaccinations "
                  "overdue on date=; disease=, _count; one indexed query.",
)
