"""The CapabilityStatement is true to what is implemented."""

from __future__ import annotations

import httpx

from helpers import body, created_id, post
from medcard.fhir.search import limits
from medcard.fhir.search.query import parse

REQUIRED_TYPES = {
    "Patient", "RelatedPerson", "Practitioner", "PractitionerRole", "Organization", "Location", "Encounter",
    "EpisodeOfCare", "Condition", "Observation", "DiagnosticReport", "ServiceRequest", "Procedure", "Immunization",
    "ImmunizationRecommendation", "AllergyIntolerance", "MedicationRequest", "MedicationStatement", "Medication",
    "CarePlan", "CareTeam", "Appointment", "DocumentReference", "Composition", "Binary", "Consent", "Device",
    "Specimen", "Provenance", "AuditEvent", "Questionnaire", "QuestionnaireResponse", "Flag",
}


def test_metadata_lists_the_required_types_with_their_interactions(http: httpx.Client) -> None:
    cs = body(http.get("/metadata"))
    assert cs["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert set(resources) >= REQUIRED_TYPES
    assert "OperationOutcome" not in resources
    patient = resources["Patient"]
    assert {i["code"] for i in patient["interaction"]} >= {"read", "vread", "create", "update", "patch", "delete",
                                                          "history-instance", "history-type", "search-type"}
    assert {o["name"] for o in patient["operation"]} == {"everything", "summary", "export", "growth", "growth-chart",
                                                         "immds-forecast", "examinations", "record-book",
                                                         "record-archive"}
    assert {o["name"] for o in resources["DocumentReference"]["operation"]} == {"pdf"}
    assert {o["name"] for o in resources["Group"]["operation"]} == {"export"}
    assert {o["name"] for o in cs["rest"][0]["operation"]} == {"export", "import"}
    assert {i["code"] for i in cs["rest"][0]["interaction"]} == {"transaction", "batch", "history-system"}
    assert {"_content", "_text", "phonetic"} <= {p["name"] for p in patient["searchParam"]}
    assert "Observation:subject" in resources["Observation"]["searchInclude"]
    assert "Observation:subject" in patient["searchRevInclude"]


def test_every_advertised_search_parameter_is_accepted(http: httpx.Client) -> None:
    cs = body(http.get("/metadata"))
    for resource in cs["rest"][0]["resource"]:
        params = resource.get("searchParam", [])
        with limits.applied(limits.SearchLimits(criteria=len(params) + 1, or_values=1)):  # all in one search
            parsed = parse(resource["type"], [(p["name"], "x") for p in params])
        assert not parsed.unknown, (resource["type"], parsed.unknown)


def test_each_required_type_can_be_created_read_and_deleted(http: httpx.Client) -> None:
    assert set(MINIMAL) | {"AuditEvent"} == REQUIRED_TYPES
    for rtype, minimal in MINIMAL.items():
        rid = created_id(post(http, f"/{rtype}", {"resourceType": rtype, **minimal}))
        assert http.get(f"/{rtype}/{rid}").status_code == 200
        assert http.delete(f"/{rtype}/{rid}").status_code == 204


def test_audit_events_are_written_by_medcard_alone(http: httpx.Client) -> None:
    event = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2024-01-01T00:00:00Z",
             "agent": [{"requestor": True, "who": SOMEONE}], "source": {"observer": SOMEONE}}
    refused = post(http, "/AuditEvent", event)
    assert refused.status_code == 403, refused.text
    assert "audit log" in refused.json()["issue"][0]["diagnostics"]
    # the refusal itself is in the log, and the log is what AuditEvent search shows
    log = http.get("/AuditEvent", params={"outcome": "4"}).json()
    assert any(e["resource"]["outcomeDesc"].startswith("the audit log") for e in log.get("entry", []))


CODE = {"text": "x"}
SOMEONE = {"display": "x"}
MINIMAL: dict[str, dict[str, object]] = {
    "Patient": {}, "RelatedPerson": {"patient": SOMEONE}, "Practitioner": {},
    "PractitionerRole": {}, "Organization": {}, "Location": {}, "Device": {}, "Medication": {}, "Specimen": {},
    "Flag": {"status": "active", "code": CODE, "subject": {"display": "x"}},
    "Condition": {"subject": {"display": "x"}}, "Observation": {"status": "final", "code": CODE},
    "Encounter": {"status": "planned", "class": {"code": "AMB"}},
    "EpisodeOfCare": {"status": "active", "patient": {"display": "x"}},
    "DiagnosticReport": {"status": "final", "code": CODE},
    "ServiceRequest": {"status": "active", "intent": "order", "subject": {"display": "x"}},
    "Procedure": {"status": "completed", "subject": {"display": "x"}},
    "Immunization": {"status": "completed", "vaccineCode": CODE, "patient": {"display": "x"},
                     "occurrenceString": "2020"},
    "AllergyIntolerance": {"patient": {"display": "x"}},
    "MedicationRequest": {"status": "active", "intent": "order", "medicationCodeableConcept": CODE,
                          "subject": {"display": "x"}},
    "Binary": {"contentType": "text/plain", "data": "aGVsbG8="},
    "Questionnaire": {"status": "draft"},
    "Consent": {"status": "active", "scope": CODE, "category": [CODE]},
    "ImmunizationRecommendation": {"patient": SOMEONE, "date": "2024-01-01",
                                   "recommendation": [{"vaccineCode": [CODE], "forecastStatus": CODE}]},
    "MedicationStatement": {"status": "active", "medicationCodeableConcept": CODE, "subject": SOMEONE},
    "CarePlan": {"status": "active", "intent": "plan", "subject": SOMEONE},
    "CareTeam": {},
    "Appointment": {"status": "booked", "participant": [{"status": "accepted", "actor": SOMEONE}]},
    "DocumentReference": {"status": "current", "content": [{"attachment": {"title": "x"}}]},
    "Composition": {"status": "final", "type": CODE, "date": "2024-01-01", "author": [SOMEONE], "title": "x"},
    "Provenance": {"target": [SOMEONE], "recorded": "2024-01-01T00:00:00Z", "agent": [{"who": SOMEONE}]},
    "QuestionnaireResponse": {"status": "completed"},
}
