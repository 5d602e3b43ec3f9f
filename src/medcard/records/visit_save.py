"""Saving a visit: once, over the chart the clinician saw, as one FHIR transaction through the gate.

In one database transaction:

1. the form's draft is locked (``FOR UPDATE``); if it already became an Encounter, that Encounter
   is the answer and nothing is written again (a double submit, a retried request);
2. the child's record is locked against other visit saves (a transaction-scoped advisory lock) and
   its version marker compared with the draft's: if anything in the record changed since the form
   was opened, the save is refused with what changed, and the draft takes the new version, so
   the clinician looks and saves again;
3. the visit's Bundle (:mod:`medcard.records.protocol`) runs through the store's transaction
   processing with the request's gate, which decides access and audits each write;
4. the draft is marked saved with the new Encounter's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.fhir import store, transaction
from medcard.fhir.interactions import Context
from medcard.records import drafts
from medcard.records.protocol import Author, bundle
from medcard.records.visit import Child, Visit

# What a change in the chart is called in the message to the clinician.
CHANGE_NAMES = {"Encounter": "приёмы", "Condition": "диагнозы", "Observation": "наблюдения и результаты",
                "DiagnosticReport": "результаты исследований", "MedicationRequest": "назначения",
                "ServiceRequest": "направления", "Immunization": "прививки", "DocumentReference": "документы",
                "AllergyIntolerance": "аллергии", "Patient": "данные пациента"}


class DraftNotFound(LookupError):
    """No draft of this clinician for this child under the form's key."""


@dataclass(frozen=True)
class Saved:
    encounter_id: str
    again: bool = False  # the form had been saved before: nothing was written this time


@dataclass(frozen=True)
class Stale:
    """The chart changed since the form was opened: what changed, by kind of record, and how many."""

    changes: dict[str, int]

    @property
    def message(self) -> str:
        parts = [f"{CHANGE_NAMES.get(t, t)} ({n})" for t, n in self.changes.items()]
        what = ", ".join(parts) if parts else "записи удалены"
        return (f"Пока вы заполняли протокол, в медкарте появились изменения: {what}. Протокол не сохранён. "
                "Просмотрите медкарту и нажмите «Сохранить» ещё раз.")


def _lock_key(patient_id: str) -> str:
    return f"medcard:visit:{patient_id}"


async def save(conn: AsyncConnection, gate: Gate, base: str, account: str, key: str, visit: Visit, child: Child,
               author: Author, now: datetime) -> Saved | Stale:
    """Save the checked visit of the draft ``key`` (see the module's docstring)."""
    async with conn.transaction():
        draft = await drafts.get(conn, account, key, lock=True)
        if draft is None or draft.patient_id != child.id:
            raise DraftNotFound("no such visit form for this child")
        if draft.encounter_id is not None:
            return Saved(draft.encounter_id, again=True)
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_lock_key(child.id),))
        current = await drafts.chart_version(conn, child.id)
        if current != draft.chart_version:
            changes = await store.record_changes(conn, child.id, drafts.version_time(draft.chart_version))
            await drafts.rebase(conn, draft.key, current)
            return Stale(changes)
        response = jsonutil.loads(await transaction.process(Context(conn, base, gate),
                                                            bundle(visit, child, author, now, draft.key)))
        location = response["entry"][0]["response"]["location"]  # Encounter/<id>/_history/1
        encounter_id = location.split("/")[1]
        await drafts.mark_saved(conn, draft.key, encounter_id)
    return Saved(encounter_id)
