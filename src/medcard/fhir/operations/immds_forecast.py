"""``Patient/{id}/$immds-forecast?date=YYYY-MM-DD``: the child's vaccination forecast, as the HL7 ImmDS guide has it.

A Parameters resource whose ``recommendation`` is an ImmunizationRecommendation: one entry per
disease of the national calendar with its ``forecastStatus`` (the standard
immunization-recommendation-status codes; medcard's own ``not-due`` for "not yet due"), the next
dose number and its earliest, due and overdue dates. ``date`` (or ImmDS's ``assessmentDate``) is
the evaluation date, today in Moscow by default. Immunizations and Flags that could not be read are
listed as ``skipped``. One query reads the Patient, its Immunizations and Flags.
"""

from __future__ import annotations

from medcard.fhir.operations.base import Operation, OperationCall, Result
from medcard.fhir.operations.pediatric_params import date_param, parameters, patient_facts, read_record, skipped
from medcard.pediatrics import immunization, record


async def immds_forecast(call: OperationCall) -> Result:
    on = date_param(call, "assessmentDate", "date")
    patient, found = await read_record(call, types=("Immunization", "Flag"))
    facts = record.immunizations_from(found.get("Immunization", []), found.get("Flag", []))
    child = record.child_from(patient_facts(patient), facts)
    forecasts = immunization.forecast(child, facts.events, on)
    resource = immunization.immunization_recommendation(f"Patient/{patient['id']}", forecasts, on)
    return parameters([{"name": "recommendation", "resource": resource}, *skipped(facts.skipped)])


OPERATION = Operation(
    name="immds-forecast",
    definition="http://hl7.org/fhir/us/immds/OperationDefinition/ImmDSForecastOperation",
    resource_types=("Patient",),
    instance=True,
    type_level=False,
    system=False,
    access="read",
    methods=("GET",),
    handler=immds_forecast,
    documentation="The vaccination forecast on date= (default today, Moscow) as an ImmunizationRecommendation "
                  "in Parameters (HL7 ImmDS).",
)
