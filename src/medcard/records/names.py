"""Names of the people and places a record refers to (doctors, laboratories, polyclinics), in one statement."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from medcard.records import fhirview as fv

NAMED_TYPES = ("Practitioner", "Organization", "Location", "PractitionerRole")
# The elements of clinical resources that name a person or a place (not the whole JSON walked).
NAMING_KEYS = ("recorder", "asserter", "requester", "author", "performer", "participant", "custodian",
               "serviceProvider", "individual", "actor", "managingOrganization")

NAMES_SQL = """
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE (r.resource_type, r.id) IN (SELECT * FROM unnest(%(types)s::text[], %(ids)s::text[]))
   AND NOT r.deleted
"""


@dataclass
class Names:
    by_ref: dict[str, str]

    def of(self, ref: Any) -> str:
        """The display name of what a reference points to ('' when unknown)."""
        if isinstance(ref, dict) and isinstance(ref.get("display"), str):
            return str(ref["display"])
        key = fv.ref_key(ref)
        return self.by_ref.get(f"{key[0]}/{key[1]}", "") if key else ""


def references(resources: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """(type, id) of the people and places the resources name."""
    found: set[tuple[str, str]] = set()

    def walk(node: Any, depth: int) -> None:
        if depth > 3:
            return
        if isinstance(node, list):
            for item in node:
                walk(item, depth + 1)
        elif isinstance(node, dict):
            key = fv.ref_key(node)
            if key and key[0] in NAMED_TYPES:
                found.add(key)
            for name in NAMING_KEYS:
                if name in node:
                    walk(node[name], depth + 1)

    for resource in resources:
        walk(resource, 0)
    return found


def display(resource: dict[str, Any]) -> str:
    rtype = resource.get("resourceType")
    if rtype == "Practitioner":
        return fv.human_name(resource)
    if rtype == "PractitionerRole":
        return fv.texts_of(resource.get("code"))
    return str(resource.get("name") or "")


async def load_names(conn: AsyncConnection, groups: Iterable[Iterable[dict[str, Any]]]) -> Names:
    """The names of everything ``groups`` of resources refer to, in one statement."""
    wanted = sorted({key for group in groups for key in references(group)})
    if not wanted:
        return Names({})
    cur = await conn.execute(NAMES_SQL, {"types": [t for t, _ in wanted], "ids": [i for _, i in wanted]})
    return Names({f"{t}/{i}": display(fv.parse(c)) for t, i, c in await cur.fetchall()})
