"""``/app/patients/{id}/registry``: the registrar's tasks for one child — attachment to a clinic and district,
family accounts (legal representatives) and the paper card.

Each form is posted with its CSRF token; a form with bad values is shown again with each problem next
to its field and nothing saved; attaching is conditional on the version the form was opened with, so a
stale form says so instead of overwriting. The data and its rules are :mod:`medcard.worklists.registry`'s.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from medcard.access.gate import Gate
from medcard.core.errors import NotFound
from medcard.web.gate import page_gate
from medcard.web.render import page
from medcard.web.session import PageUser, form, require_staff
from medcard.worklists import registry

router = APIRouter(include_in_schema=False)
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id
RELATIONSHIPS = (("parent", "Родитель"), ("guardian", "Опекун (попечитель)"), ("adoptive-parent", "Усыновитель"))
FAMILY_FIELDS = ("username", "display_name", "relationship", "document", "identity_document")


def _patient(patient_id: str) -> str:
    if not _ID.fullmatch(patient_id):
        raise NotFound(registry.CHART_MISSING)
    return patient_id


async def _context(request: Request, user: PageUser, patient_id: str) -> dict[str, Any]:
    """What the page shows of the child, read through the page's gate (audited)."""
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        return await _read(conn, gate, patient_id)


async def _read(conn: Any, gate: Gate, patient_id: str) -> dict[str, Any]:
    attachment = await registry.attachment(conn, gate, patient_id)
    clinics = await registry.clinics(conn, gate)
    several = len(clinics) > 1
    return {"attachment": attachment, "clinics": clinics, "links": await registry.family_links(conn, gate, patient_id),
            "clinic_options": [(c.id, c.name) for c in clinics],
            "district_options": [(d.role_id, (f"{c.name}, " if several else "") + f"участок № {d.number}")
                                 for c in clinics for d in c.districts],
            "relationship_names": dict(RELATIONSHIPS),
            "cards": await registry.paper_cards(conn, gate, patient_id), "relationships": RELATIONSHIPS,
            "current": _current(attachment, clinics), "attach_form": {"organization": attachment.organization_id or "",
                                                                      "district": attachment.district_role_id or ""},
            "attach_errors": {}, "family_form": dict.fromkeys(FAMILY_FIELDS, ""), "family_errors": {},
            "stale": False, "saved": None, "made": None}


def _current(attachment: registry.Attachment, clinics: list[registry.ClinicOption]) -> str | None:
    """«ДГП № 118, участок № 6» as the child is attached now, when it is one of the registrar's clinics."""
    for clinic in clinics:
        if clinic.id == attachment.organization_id:
            district = next((d for d in clinic.districts if d.role_id == attachment.district_role_id), None)
            return clinic.name + (f", участок № {district.number}" if district else "")
    return None


@router.get("/app/patients/{patient_id}/registry")
async def registry_page(request: Request, patient_id: str) -> Response:
    user = await require_staff(request)
    context = await _context(request, user, _patient(patient_id))
    context["saved"] = request.query_params.get("saved")
    return page(request, "app/registry.html", context)


@router.post("/app/patients/{patient_id}/registry/attach")
async def attach(request: Request, patient_id: str) -> Response:
    """Attach the child to the clinic and district chosen, if the record is still as the form saw it."""
    user = await require_staff(request)
    patient_id = _patient(patient_id)
    data = await form(request)
    chosen = {"organization": data.get("organization") or "", "district": data.get("district") or ""}
    try:
        async with page_gate(request, user, patient_id=patient_id, write=True) as (conn, gate):
            await registry.attach(conn, gate, patient_id, version=data.get("version") or "",
                                  organization_id=chosen["organization"], district_role_id=chosen["district"])
    except registry.FormInvalid as invalid:
        context = await _context(request, user, patient_id)
        context.update(attach_form=chosen, attach_errors=invalid.fields)
        return page(request, "app/registry.html", context, status=400)
    except registry.StaleForm:
        context = await _context(request, user, patient_id)  # the record as it is now, with its new version
        context.update(attach_form=chosen, stale=True)
        return page(request, "app/registry.html", context, status=409)
    return Response(status_code=303, headers={"Location": f"/app/patients/{patient_id}/registry?saved=attach",
                                              "Cache-Control": "no-store"})


@router.post("/app/patients/{patient_id}/registry/family")
async def link_family(request: Request, patient_id: str) -> Response:
    """Create (or find) the family account and link it to the child; its one-time password is shown once."""
    user = await require_staff(request)
    patient_id = _patient(patient_id)
    data = await form(request)
    values = {name: data.get(name) or "" for name in FAMILY_FIELDS}
    try:
        async with page_gate(request, user, patient_id=patient_id, write=True) as (conn, gate):
            made = await registry.link_family(conn, gate, patient_id, **values)
    except registry.FormInvalid as invalid:
        context = await _context(request, user, patient_id)
        context.update(family_form=values, family_errors=invalid.fields)
        return page(request, "app/registry.html", context, status=400)
    context = await _context(request, user, patient_id)
    context.update(made=made)
    return page(request, "app/registry.html", context)
