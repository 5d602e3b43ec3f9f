"""What a document is made of, read from the store through the requester's gate.

A document shows a child's record, so it is read as ``$everything`` is: the gate decides the
record (a refusal is the same 404 as a missing resource, and is audited), then its content filter
leaves out what the requester may not see. Referenced resources outside any record
(practitioners, their roles, organizations) are read in one more statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.core.errors import Gone, NotFound
from medcard.fhir import store
from medcard.pediatrics import record as facts

Resource = dict[str, Any]
_OUTSIDE = ("Practitioner", "PractitionerRole", "Organization", "Location", "Medication")


@dataclass
class Source:
    """A patient's resources a document is built from, by type, and the resources they refer to."""

    patient: Resource
    resources: dict[str, list[Resource]] = field(default_factory=dict)
    refs: dict[str, Resource] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)  # what is computed once per document (growth scores)
    digest: str = ""  # of every resource read (type, id, version, JSON), when read by :func:`whole_record`

    def of(self, rtype: str) -> list[Resource]:
        return self.resources.get(rtype, [])

    def ref(self, reference: Any) -> Resource | None:
        """The resource a Reference (or ``"Type/id"``) points to, if it was read."""
        key = reference.get("reference") if isinstance(reference, dict) else reference
        return self.refs.get(key) if isinstance(key, str) else None

    def add(self, resource: Resource) -> None:
        rtype = resource["resourceType"]
        if rtype in _OUTSIDE:
            self.refs[f"{rtype}/{resource['id']}"] = resource
        else:
            self.resources.setdefault(rtype, []).append(resource)
            self.refs[f"{rtype}/{resource['id']}"] = resource


async def document_reference(conn: AsyncConnection, gate: Gate, docref_id: str) -> tuple[Resource, str]:
    """The DocumentReference and the id of its patient; 404 when missing or not the requester's to see."""
    missing = f"DocumentReference/{docref_id} is not known"
    stored = await store.read_current(conn, "DocumentReference", docref_id)
    if stored is None or stored.patient_id is None:
        raise NotFound(missing)
    await gate.check(stored.patient_id, "DocumentReference", "read", entity=f"DocumentReference/{docref_id}",
                     content=stored.content, missing=missing)
    if stored.deleted or stored.content is None:
        raise Gone(f"DocumentReference/{docref_id} was deleted")
    return jsonutil.loads(stored.content), stored.patient_id


async def check_record(gate: Gate, patient_id: str, entity: str) -> None:
    """The requester may read this child's record (audited); 404 otherwise, as for a missing Patient."""
    await gate.check(patient_id, "Patient", "read", entity=entity, missing=f"Patient/{patient_id} is not known")


async def whole_record(conn: AsyncConnection, gate: Gate, patient_id: str) -> Source:
    """The whole record the requester may see (decided and audited by the caller), in one snapshot.

    ``digest`` is the SHA-256 of every resource read, in the store's order (type, id): the record
    as this view shows it, with the practitioners and organizations it refers to. Any change to what
    a document built from it could print changes the digest."""
    digest = hashlib.sha256()
    async with conn.transaction():
        shown = await gate.content_filter(conn, patient_id)
        source: Source | None = None
        rest: list[Resource] = []
        async for s in store.everything(conn, patient_id):
            if s.content is None or not (s.patient_id is None or shown(s.resource_type, s.content)):
                continue
            digest.update(f"{s.resource_type}/{s.id}/{s.version_id}/{len(s.content)}\n{s.content}\n".encode())
            resource = jsonutil.loads(s.content)
            if s.resource_type == "Patient" and s.id == patient_id:
                source = Source(resource)
            else:
                rest.append(resource)
    if source is None:
        raise NotFound(f"Patient/{patient_id} is not known")
    for resource in rest:
        source.add(resource)
    source.digest = digest.hexdigest()
    return source


async def visit_record(conn: AsyncConnection, gate: Gate, patient_id: str, encounter_id: str) -> Source:
    """The Patient, one Encounter and what refers to it (findings, diagnoses, orders, results, notes)."""
    shown = await gate.content_filter(conn, patient_id)
    found = await store.read_many(conn, [("Patient", patient_id), ("Encounter", encounter_id)])
    patient = found.get(("Patient", patient_id))
    if patient is None or patient.content is None:
        raise NotFound(f"Patient/{patient_id} is not known")
    source = Source(jsonutil.loads(patient.content))
    rows = [found[("Encounter", encounter_id)]] if ("Encounter", encounter_id) in found else []
    rows += await store.referring(conn, patient_id, "Encounter", encounter_id)
    for s in rows:
        if s.content is not None and s.patient_id == patient_id and shown(s.resource_type, s.content):
            source.add(jsonutil.loads(s.content))
    return source


async def patient_record(conn: AsyncConnection, gate: Gate, patient_id: str, types: Iterable[str]) -> Source:
    """The Patient and every resource of ``types`` in its record that the requester may see (one statement
    over the patient-id index, as the pediatric operations read a record)."""
    shown = await gate.content_filter(conn, patient_id)
    found = await facts.load(conn, patient_id, types=list(types))
    patients = found.pop("Patient", [])
    if not patients:
        raise NotFound(f"Patient/{patient_id} is not known")
    source = Source(patients[0])
    for rtype, resources in found.items():
        for resource in resources:
            if shown(rtype, jsonutil.dumps_str(resource)):
                source.add(resource)
    return source


async def coded_observations(conn: AsyncConnection, gate: Gate, source: Source, codes: list[str]) -> None:
    """Add the patient's Observations with one of ``codes`` (growth, health groups) that the requester may see,
    through the token index: a record's thousands of results are not read for them."""
    shown = await gate.content_filter(conn, str(source.patient["id"]))
    found = await facts.load(conn, str(source.patient["id"]), coded=["Observation"], with_codes=codes)
    for resource in found.get("Observation", []):
        if shown("Observation", jsonutil.dumps_str(resource)):
            source.add(resource)


async def resolve(conn: AsyncConnection, source: Source, extra: Iterable[Resource] = ()) -> None:
    """Read the practitioners, roles and organizations the source's resources refer to (two statements:
    the roles, then their practitioners and organizations)."""
    for _ in range(2):
        wanted = {tuple(r.split("/", 1)) for r in _references([source.patient, *extra,
                                                               *_all(source)])}
        missing = [(t, i) for t, i in wanted if t in _OUTSIDE and f"{t}/{i}" not in source.refs]
        if not missing:
            return
        for s in (await store.read_many(conn, missing)).values():
            if s.content is not None:
                source.refs[f"{s.resource_type}/{s.id}"] = jsonutil.loads(s.content)


def _all(source: Source) -> Iterator[Resource]:
    for resources in source.resources.values():
        yield from resources
    yield from (r for key, r in source.refs.items() if key.split("/", 1)[0] in _OUTSIDE)


def _references(resources: Iterable[Any]) -> Iterator[str]:
    """Every relative reference ("Type/id") inside the given resources."""
    stack = list(resources)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str) and ref.count("/") == 1 and not ref.startswith(("#", "urn:", "http")):
                yield ref
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
