"""The CapabilityStatement, generated from what is implemented.

Resource types come from the specification digest, search parameters from the search
registry, operations from the operations registry: adding a parameter or an operation there
is what makes it appear here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from medcard import __version__
from medcard.core import jsonutil
from medcard.fhir.interactions import stored_types
from medcard.fhir.operations import registry as operations
from medcard.fhir.search.params import SearchParam
from medcard.fhir.search.params import registry as search_registry
from medcard.fhir.spec import r4

TYPE_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type",
                     "create", "search-type")
RELEASE_DATE = "2026-11-25"


TEXT_PARAMS = (
    {"name": "_content", "definition": "http://hl7.org/fhir/SearchParameter/Resource-content", "type": "string",
     "documentation": "Words anywhere in the resource's text (Russian stemming)."},
    {"name": "_text", "definition": "http://hl7.org/fhir/SearchParameter/DomainResource-text", "type": "string",
     "documentation": "Words in the narrative (Russian stemming)."},
)


@cache
def _reference_params() -> dict[str, list[SearchParam]]:
    out: dict[str, list[SearchParam]] = {}
    for rtype in stored_types():
        out[rtype] = sorted((p for p in search_registry().for_type(rtype).values() if p.type == "reference"),
                            key=lambda p: p.code)
    return out


def revincludes(rtype: str) -> list[str]:
    """``Source:param`` pairs whose references can point at ``rtype``."""
    return [f"{source}:{p.code}" for source, params in _reference_params().items() for p in params
            if not p.targets or rtype in p.targets]


AUDIT_EVENT = {
    "type": "AuditEvent",
    "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
    "documentation": "The audit log, written by medcard alone: read and search only, through the access policy; "
                     "everyone but backend services names the patient.",
    "interaction": [{"code": "read"}, {"code": "search-type"}],
    "searchParam": [
        {"name": "patient", "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-patient",
         "type": "reference"},
        {"name": "date", "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-date", "type": "date"},
        {"name": "outcome", "definition": "http://hl7.org/fhir/SearchParameter/AuditEvent-outcome", "type": "token"},
    ],
}
SMART_SECURITY = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def _security(base: str) -> dict[str, Any]:
    root = base.rsplit("/fhir/", 1)[0]
    return {
        "cors": False,
        "service": [{"coding": [{"system": SMART_SECURITY, "code": "SMART-on-FHIR"}]}],
        "description": "OAuth 2.0 bearer tokens (SMART on FHIR): see /.well-known/smart-configuration.",
        "extension": [{"url": OAUTH_URIS, "extension": [
            {"url": "authorize", "valueUri": f"{root}/oauth/authorize"},
            {"url": "token", "valueUri": f"{root}/oauth/token"},
            {"url": "revoke", "valueUri": f"{root}/oauth/revoke"},
            {"url": "introspect", "valueUri": f"{root}/oauth/introspect"},
        ]}],
    }


def _resource(rtype: str) -> dict[str, Any]:
    if rtype == "AuditEvent":
        return AUDIT_EVENT
    params = search_registry().for_type(rtype)
    references = _reference_params().get(rtype, [])
    entry: dict[str, Any] = {
        "type": rtype,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
        "interaction": [{"code": c} for c in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "enforced", "local"],
        "searchInclude": ["*", *(f"{rtype}:{p.code}" for p in references)],
        "searchRevInclude": sorted(revincludes(rtype)),
        "searchParam": [
            *({"name": p.code, "definition": p.definition.url, "type": p.type}
              for p in sorted(params.values(), key=lambda p: p.code) if p.definition is not None),
            *TEXT_PARAMS,
        ],
    }
    ops = [op for op in operations() if rtype in op.resource_types]
    if ops:
        entry["operation"] = [{"name": op.name, "definition": op.definition} for op in ops]
    return entry


@cache
def capability_statement(base: str) -> str:
    """The CapabilityStatement as JSON text (built once per base URL)."""
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASE_DATE,
        "publisher": "medcard",
        "kind": "instance",
        "software": {"name": "medcard", "version": __version__},
        "implementation": {"description": "medcard: the record of a city's children's outpatient clinics",
                           "url": base},
        "fhirVersion": r4().fhir_version,
        "format": ["json", "application/fhir+json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "security": _security(base),
            "resource": [_resource(t) for t in stored_types()],
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
            "operation": [{"name": op.name, "definition": op.definition} for op in operations() if op.system],
        }],
    }
    return jsonutil.dumps_str(statement)
