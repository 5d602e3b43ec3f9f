"""``/verify/{code}``: the public page that says whether medcard issued a document with that code.

Anyone holding the paper (a school nurse, a sports club) can check it: whether such a document
was issued, of which kind, by which organization, when, and whether it was revoked. Nothing of
the child's record is shown, not even the name, unless the reader is signed in and the access
policy lets them read that child's record (that read is decided by the gate and audited).
Until the web layer's shared layout lands, the page is a template of its own in ``templates/``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from medcard import state
from medcard.access import sessions
from medcard.access.authn import requester_for_account
from medcard.access.gate import Gate
from medcard.core.errors import NotFound
from medcard.documents import kinds, pdf, registry, views
from medcard.documents.registry import Issued
from medcard.fhir import store

router = APIRouter()
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}


@router.get("/verify/{code}", include_in_schema=False)
async def verify(request: Request, code: str) -> HTMLResponse:
    db = state.database(request)
    async with db.connection() as conn:
        issued = await registry.find(conn, code)
    if issued is None:
        return _page({"found": False, "code": code[:40]}, status=404)
    context: dict[str, Any] = {"found": True, "code": issued.code, "issued": issued,
                               "kind": kinds.KINDS.get(issued.kind, kinds.Kind(issued.kind, issued.kind)).title}
    context["details"] = await _details(request, issued)
    return _page(context)


async def _details(request: Request, issued: Issued) -> dict[str, str] | None:
    """The child's name and the revocation reason, for a signed-in reader the policy lets read the record."""
    if issued.patient_id is None:
        return None
    account = await sessions.signed_in_account(request)
    if account is None:
        return None
    db = state.database(request)
    async with db.transaction() as conn:
        gate = Gate(conn, requester_for_account(account, source=request.client.host if request.client else None))
        try:
            await gate.check(issued.patient_id, "Patient", "read", entity=f"Patient/{issued.patient_id}",
                             subtype="read", missing="not shown")
        except NotFound:
            await gate.flush(conn)  # the refusal is audited too
            return None
        patient = await store.read_current(conn, "Patient", issued.patient_id)
        await gate.flush(conn)
    resource = patient.resource() if patient is not None and patient.content else {}
    return {"child": views.name(resource), "birth_date": pdf.ru_date(resource.get("birthDate")),
            "doctor": issued.doctor_name or "", "reason": issued.revoked_reason or ""}


def _page(context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    return HTMLResponse(pdf.env().get_template("verify.html").render(**context), status_code=status, headers=HEADERS)
