"""What the portal's pages share: the child a page is about, read through the gate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from medcard.access.gate import Gate
from medcard.core.errors import NotFound
from medcard.fhir import store
from medcard.web.gate import CHART_MISSING, open_chart

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True)
class Child:
    id: str
    name: str
    first_name: str
    birth_date: date | None


def patient_id(value: str) -> str:
    """The path's patient id; a malformed one is a child that does not exist (the same 404)."""
    if not _ID.fullmatch(value):
        raise NotFound(CHART_MISSING)
    return value


async def child(conn: Any, gate: Gate, pid: str) -> Child:
    """Open the child's record (an audited read; refused or missing: the same 404) and name the child."""
    await open_chart(gate, pid)
    stored = await store.read_current(conn, "Patient", pid)
    if stored is None or stored.deleted:
        raise NotFound(CHART_MISSING)
    return of(stored.resource(), pid)


def of(patient: dict[str, Any], pid: str) -> Child:
    name = next((n for n in patient.get("name", []) if isinstance(n, dict)), {})
    given = [g for g in name.get("given", []) if isinstance(g, str)]
    full = " ".join([*given[:2], str(name.get("family", ""))]).strip() or "—"
    born = patient.get("birthDate")
    try:
        birth = date.fromisoformat(born) if isinstance(born, str) else None
    except ValueError:
        birth = None
    return Child(pid, full, given[0] if given else full, birth)
