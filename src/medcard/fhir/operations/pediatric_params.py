"""What the pediatric operations share: reading their query parameters, and building Parameters resources."""

from __future__ import annotations

from datetime import date
from typing import Any

from medcard.core import jsonutil
from medcard.core.errors import BadRequest
from medcard.core.time import today_moscow
from medcard.fhir import store
from medcard.fhir.operations.base import OperationCall, Result
from medcard.pediatrics import record

Part = dict[str, Any]


def last(call: OperationCall, name: str) -> str | None:
    """The last value of a query parameter, or None."""
    values = [v for k, v in call.params if k == name]
    return values[-1] if values else None


def date_param(call: OperationCall, *names: str) -> date:
    """The evaluation date (YYYY-MM-DD, under any of ``names``); today in Moscow by default."""
    for name in names:
        raw = last(call, name)
        if raw is None:
            continue
        try:
            return date.fromisoformat(raw) if len(raw) == 10 else _bad_date(name, raw)
        except ValueError:
            _bad_date(name, raw)
    return today_moscow()


def _bad_date(name: str, raw: str) -> date:
    raise BadRequest(f"{name} must be a date such as 2026-11-26, not {raw!r}")


def lang_param(call: OperationCall) -> str:
    lang = last(call, "lang") or "ru"
    if lang not in ("ru", "en"):
        raise BadRequest(f"lang is 'ru' or 'en', not {lang!r}")
    return lang


async def read_record(call: OperationCall, **what: Any) -> tuple[dict[str, Any], dict[str, list[record.Resource]]]:
    """The patient the operation was invoked on and the parts of their record it needs (404/410 if unknown)."""
    assert call.resource_id is not None
    async with call.db.connection() as conn:
        found = await record.load(conn, call.resource_id, **what)
        patients = found.get("Patient", [])
        if not patients:
            await store.read(conn, "Patient", call.resource_id)  # 404 or 410, said properly
            raise AssertionError("unreachable: a readable patient is always in its own record")
    return patients[0], found


def patient_facts(patient: dict[str, Any]) -> record.PatientFacts:
    facts = record.patient_from(patient)
    if isinstance(facts, str):
        raise BadRequest(f"Patient/{patient.get('id')}: {facts}", code="business-rule")
    return facts


def part(name: str, kind: str, value: Any) -> Part:
    """A Parameters parameter (or part): ``kind`` is the value[x] suffix, e.g. "Date", "Reference"."""
    return {"name": name, f"value{kind}": value}


def group(name: str, parts: list[Part]) -> Part:
    return {"name": name, "part": parts}


def skipped(items: list[record.Skipped]) -> list[Part]:
    """The facts that could not be used, each with its reference and the reason."""
    return [group("skipped", [part("fact", "Reference", {"reference": s.reference}),
                              part("reason", "String", s.reason)]) for s in items]


def parameters(params: list[Part]) -> Result:
    return Result(body=jsonutil.dumps_str({"resourceType": "Parameters", "parameter": params}))


def patient_display(patient: dict[str, Any]) -> str | None:
    """"Family Given Patronymic" of the first name, for lists."""
    for name in patient.get("name", ()):
        if isinstance(name, dict):
            words = [name.get("family"), *name.get("given", ())]
            text = " ".join(w for w in words if isinstance(w, str))
            if text:
                return text
    return None
