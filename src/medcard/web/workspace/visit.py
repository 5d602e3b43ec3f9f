"""Writing a visit: ``/app/patients/{id}/visits/new?kind=well-child|illness``.

- ``GET``: the form under the chart's patient banner, restored from the clinician's unsaved draft for
  this child and kind of visit (a draft untouched for ``MEDCARD_VISIT_DRAFT_DAYS`` is not offered), or a
  new draft prefilled (a well-child visit from the examination schedule in force; «Анамнез жизни» from
  an earlier visit). Each text section an earlier visit wrote offers «Повторить из прошлого приёма»
  (:mod:`medcard.records.visit_history`; the page's script fills that one section, no reload).
- ``POST .../visits/draft`` (htmx, on each change and every ~10 s of typing): the draft kept as typed.
- ``POST .../visits/scores`` (htmx, as the vitals are typed): the WHO z-scores, computed on the server.
- ``POST .../visits/new``: checked (:mod:`medcard.records.visit`); problems shown next to their fields
  with nothing saved; otherwise saved once (:mod:`medcard.records.visit_save`) and the browser is sent
  to the chart. A chart changed meanwhile is reported instead of saved over.

Every request passes the page gate: the form's opening and saving are audited; the autosave and the
z-scores are decided by the policy but not written to the audit log each time (they repeat every few
seconds; the opening of the form and the save are the accesses that count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter
from psycopg import AsyncConnection
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import Response

from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.core.errors import BadRequest, NotFound
from medcard.core.time import CLINIC_TZ, today_moscow, utcnow
from medcard.fhir import store
from medcard.fhir.api.routes import base_url
from medcard.records import drafts, visit, visit_history, visit_save, vitals
from medcard.records.banner import Banner, open_record
from medcard.records.coding import ROLE_TITLE
from medcard.records.protocol import Author
from medcard.state import settings
from medcard.terminology import icd10
from medcard.web.gate import CHART_MISSING, page_gate
from medcard.web.i18n import N_
from medcard.web.render import page
from medcard.web.session import PageUser, form, require_staff

router = APIRouter(include_in_schema=False)

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
KIND_TITLE = {"well-child": N_("Профилактический осмотр"), "illness": N_("Приём по заболеванию")}
EMPTY_ROWS = 1  # blank prescription and diagnosis rows offered below those filled


def _patient_id(patient_id: str) -> str:
    if not _ID.fullmatch(patient_id):
        raise NotFound(CHART_MISSING)
    return patient_id


def _kind(value: str | None) -> visit.Kind:
    if value == "well-child":
        return "well-child"
    if value == "illness":
        return "illness"
    raise BadRequest("kind must be well-child or illness")


def _fields(data: ImmutableMultiDict[str, str]) -> visit.Fields:
    """The posted form as the records take it (names to lists of values), without the CSRF token; line breaks
    as ``\n`` (browsers post a textarea's as ``\r\n``), as the protocol writes them and earlier text compares."""
    out: visit.Fields = {}
    for name, value in data.multi_items():
        if name not in ("csrf", "key", "patient", "action"):
            out.setdefault(name, []).append(value.replace("\r\n", "\n"))
    return out


def _child_of(patient: dict[str, Any], patient_id: str) -> visit.Child:
    """What the form needs of the Patient; a record without a birth date or sex cannot have a visit written."""
    birth = visit.parse_date(str(patient.get("birthDate", ""))[:10])
    sex = patient.get("gender")
    if birth is None or sex not in ("male", "female"):
        raise BadRequest("the child's record has no birth date or sex: a visit cannot be written")
    org = (patient.get("managingOrganization") or {}).get("reference")
    return visit.Child(patient_id, birth, sex, org)


async def _child(conn: AsyncConnection, gate: Gate, patient_id: str) -> visit.Child:
    """The child whose visit it is, for the autosave and the z-scores: decided by the policy, not audited
    (they repeat every few seconds; the form's opening and its save are the accesses that count)."""
    await gate.check(patient_id, "Patient", "read", entity=f"Patient/{patient_id}", missing=CHART_MISSING,
                     record=False)
    stored = await store.read_current(conn, "Patient", patient_id)
    if stored is None or stored.deleted or stored.content is None:
        raise NotFound(CHART_MISSING)
    return _child_of(jsonutil.loads(stored.content), patient_id)


@dataclass(frozen=True)
class _Opened:
    """The form's child, its banner (ux.md §2, as on the chart) and the earlier visits' sections."""

    child: visit.Child
    banner: Banner
    earlier: dict[str, visit_history.Earlier]


async def _open(conn: AsyncConnection, gate: Gate, patient_id: str) -> _Opened:
    """The audited opening of the child's record for the form, with the banner and the earlier sections."""
    opened = await open_record(conn, gate, patient_id, today_moscow(), purpose="visit-form")
    child = _child_of(opened.banner.patient, patient_id)
    return _Opened(child, opened.banner, await visit_history.earlier_sections(conn, opened.shown, patient_id))


async def _may_write(gate: Gate, patient_id: str) -> None:
    """Only those who may write the child's record open the form (a registrar may not)."""
    await gate.check(patient_id, "Encounter", "create", entity=f"Patient/{patient_id}", record=False)


def _author(user: PageUser, child: visit.Child) -> Author:
    r = user.requester
    orgs = [f"Organization/{o}" for o in r.organizations]
    organization = child.organization if child.organization in orgs else (orgs[0] if orgs else None)
    role = next((x.role for x in r.roles if x.role in ROLE_TITLE), "")
    return Author(f"Practitioner/{r.practitioner_id}" if r.practitioner_id else None, user.account.display_name,
                  ROLE_TITLE.get(role, "Врач"), organization)


async def _titles(conn: AsyncConnection, fields: visit.Fields) -> dict[str, str]:
    """The Russian title of each ICD-10 code in the diagnosis fields, shown under the field."""
    out: dict[str, str] = {}
    for name in ("diagnosis", "diagnosis_other"):
        for text in fields.get(name, []):
            code = visit.code_of(text)
            if code and code not in out:
                found = await icd10.lookup(conn, code)
                if found is not None:
                    out[code] = found.title_ru
    return out


def _rows(fields: visit.Fields, *names: str, extra: int = EMPTY_ROWS) -> int:
    """Rows to show: up to the last one with anything typed, and ``extra`` blank ones below."""
    filled = max((i + 1 for n in names for i, v in enumerate(fields.get(n, [])) if v.strip()), default=0)
    return max(filled + extra, 1)


# What an illness visit most often orders, offered first (the rest of the act's lists fold away).
COMMON_TESTS = ("cbc", "urinalysis")
COMMON_SPECIALISTS = ("otorhinolaryngologist", "neurologist", "ophthalmologist", "pediatric-surgeon",
                      "traumatologist-orthopedist")
Choice = tuple[str, str, bool]  # code, Russian name, checked


def _choices(items: dict[str, Any], chosen: list[str], first: tuple[str, ...]) -> tuple[list[Choice], list[Choice]]:
    """The act's tests or specialists split into those shown (chosen or usual here) and the rest (folded)."""
    shown: list[Choice] = []
    rest: list[Choice] = []
    for code, item in items.items():
        choice: Choice = (code, item.name_ru, code in chosen)
        (shown if choice[2] or code in first else rest).append(choice)
    return shown, rest


async def _render(request: Request, conn: AsyncConnection, opened: _Opened, draft: drafts.Draft,
                  fields: visit.Fields, *, errors: visit.Errors | None = None, notice: str | None = None,
                  status: int = 200, more_rows: bool = False) -> Response:
    today, child = today_moscow(), opened.child
    day = visit.parse_date(visit.one(fields, "date")) or today
    act = visit.examination_act(day if child.birth_date <= day <= today else today)
    exam = visit.due_examination(child, day) if draft.kind == "well-child" else None
    specialists, tests = visit.schedule_items(exam) if exam else ([], [])
    referable = {c: i for c, i in (act.specialists if act else {}).items()
                 if c not in ("pediatrician", "general-practitioner")}
    context = {
        "kind": draft.kind, "kind_title": KIND_TITLE[draft.kind], "key": draft.key, "child": child,
        "banner": opened.banner, "base": f"/app/patients/{child.id}", "fields": fields,
        "earlier": opened.earlier, "repeated": _repeated(fields, opened.earlier), "errors": errors or {},
        "notice": notice,
        "scores": vitals.scores(fields, child, today), "titles": await _titles(conn, fields),
        "act": act, "exam": exam, "feeding": visit.FEEDING, "today": today.isoformat(),
        "drug_rows": _rows(fields, "drug", "dose", extra=EMPTY_ROWS + (1 if more_rows else 0)),
        "other_rows": min(_rows(fields, "diagnosis_other"), visit.MAX_OTHER_DIAGNOSES),
        "under_one": child.age_days(day) < 365, "lying": child.age_days(day) < vitals.LYING_UNDER_DAYS,
        "limits": visit,
        "tests": _choices(dict(act.tests) if act else {}, fields.get("test", []), (*COMMON_TESTS, *tests)),
        "referrals": _choices(referable, fields.get("referral", []), (*COMMON_SPECIALISTS, *specialists)),
    }
    return page(request, "app/visit_form.html", context, status=status)


def _repeated(fields: visit.Fields, earlier: dict[str, visit_history.Earlier]) -> set[str]:
    """The text sections holding an earlier visit's text unchanged: shown marked until edited (ux.md §3)."""
    return {name for name, was in earlier.items() if visit.one(fields, name) == was.text}


@router.get("/app/patients/{patient_id}/visits/new")
async def visit_form(request: Request, patient_id: str, kind: str = "illness") -> Response:
    """The visit form: the clinician's draft for this child and kind of visit, or a new one."""
    user = await require_staff(request)
    patient_id, chosen = _patient_id(patient_id), _kind(kind)
    async with page_gate(request, user, patient_id=patient_id, write=True) as (conn, gate):
        opened = await _open(conn, gate, patient_id)
        await _may_write(gate, patient_id)
        account = str(user.account.id)
        draft = await drafts.open_draft(conn, account, patient_id, chosen, utcnow() - _lifetime(request))
        if draft is None:
            fields = await visit.prefill(conn, chosen, opened.child, today_moscow())
            if "life_history" in opened.earlier:  # ux.md §3: «Анамнез жизни» comes prefilled
                fields["life_history"] = [opened.earlier["life_history"].text]
            draft = await drafts.create(conn, account, patient_id, chosen, fields)
        return await _render(request, conn, opened, draft, draft.fields)


def _lifetime(request: Request) -> timedelta:
    """How long an untouched draft is offered (``MEDCARD_VISIT_DRAFT_DAYS``)."""
    return timedelta(days=settings(request).visit_draft_days)


@router.post("/app/patients/{patient_id}/visits/draft")
async def autosave(request: Request, patient_id: str) -> Response:
    """The form as typed, kept on the server (htmx); answers with the draft's status line."""
    user = await require_staff(request)
    patient_id = _patient_id(patient_id)
    data = await form(request)
    async with page_gate(request, user, patient_id=patient_id, write=True) as (conn, gate):
        await _child(conn, gate, patient_id)
        try:
            kept = await drafts.autosave(conn, str(user.account.id), data.get("key") or "", patient_id,
                                         _fields(data))
        except drafts.DraftTooLarge:
            kept = False
    moment = utcnow().astimezone(CLINIC_TZ)
    return page(request, "app/_visit_draft.html", {"kept": kept, "at": moment})


@router.post("/app/patients/{patient_id}/visits/scores")
async def scores(request: Request, patient_id: str) -> Response:
    """The WHO z-scores of the vitals typed so far (htmx fragment)."""
    user = await require_staff(request)
    patient_id = _patient_id(patient_id)
    data = await form(request)
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        child = await _child(conn, gate, patient_id)
    return page(request, "app/_visit_scores.html", {"scores": vitals.scores(_fields(data), child, today_moscow())})


@router.post("/app/patients/{patient_id}/visits/new")
async def save(request: Request, patient_id: str) -> Response:
    """Save the visit (see the module's docstring)."""
    user = await require_staff(request)
    patient_id = _patient_id(patient_id)
    data = await form(request)
    if data.get("patient") != patient_id:
        raise BadRequest("the form is for another patient")  # ux.md §2: the server rejects a mismatch
    fields, account, key = _fields(data), str(user.account.id), data.get("key") or ""
    async with page_gate(request, user, patient_id=patient_id, write=True) as (conn, gate):
        opened = await _open(conn, gate, patient_id)
        child = opened.child
        draft = await drafts.get(conn, account, key)
        if draft is None or draft.patient_id != patient_id:
            raise BadRequest("this visit form is not yours or has expired; open it again from the chart")
        if draft.encounter_id is not None:
            return _to_chart(patient_id)  # a second submit of a saved form: already saved
        await drafts.autosave(conn, account, key, patient_id, fields)
        if data.get("action") == "add-drug":
            return await _render(request, conn, opened, draft, fields, more_rows=True)
        checked = await visit.check(conn, fields, child, today_moscow())
        if isinstance(checked, dict):
            return await _render(request, conn, opened, draft, fields, errors=checked, status=422)
        result = await visit_save.save(conn, gate, base_url(request), account, key, checked, child,
                                       _author(user, child), datetime.now(CLINIC_TZ))
        if isinstance(result, visit_save.Stale):
            return await _render(request, conn, opened, draft, fields, notice=result.message, status=409)
    return _to_chart(patient_id)


def _to_chart(patient_id: str) -> Response:
    return Response(status_code=303, headers={"Location": f"/app/patients/{patient_id}#visits",
                                              "Cache-Control": "no-store"})
