"""Whose work it is: the signed-in person's practitioner, their roles and the districts they serve.

A staff account names its Practitioner (``account.practitioner_id``). The district pediatrician (and
the district nurse) holds a PractitionerRole with the identifier
``urn:medcard:code-system:district|<clinic>-<n>`` (docs/fhir-conventions.md, "Attachment and the
district"); the district's children name that PractitionerRole as ``Patient.generalPractitioner``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.fhir.search.conditions import SqlBuilder

DISTRICT_SYSTEM = "urn:medcard:code-system:district"


@dataclass(frozen=True)
class District:
    """A district (участок) served through one PractitionerRole."""

    role_id: str  # the PractitionerRole
    code: str  # "<clinic>-<n>"
    number: str  # "<n>", as the district is called in the clinic
    organization_id: str | None


@dataclass(frozen=True)
class Practice:
    """The practitioner behind an account, the ids of their PractitionerRoles and their districts."""

    practitioner_id: str | None
    role_ids: tuple[str, ...] = ()
    districts: tuple[District, ...] = ()

    def holders(self) -> list[str]:
        """What a district child names as ``generalPractitioner``: a district role, or the practitioner."""
        found = [f"PractitionerRole/{d.role_id}" for d in self.districts]
        if self.practitioner_id:
            found.append(f"Practitioner/{self.practitioner_id}")
        return found

    def requesters(self) -> list[tuple[str, str]]:
        """What the practitioner's orders name as ``requester``: (type, id)."""
        if not self.practitioner_id:
            return []
        return [("Practitioner", self.practitioner_id), *(("PractitionerRole", r) for r in self.role_ids)]


ROLES_SQL = """
SELECT r.id, r.content FROM resource r
 WHERE r.resource_type = 'PractitionerRole' AND NOT r.deleted
   AND r.id IN (SELECT i.resource_id FROM sp_reference i WHERE i.target_type = 'Practitioner'
                   AND i.target_id = {me} AND i.resource_type = 'PractitionerRole' AND i.param = 'practitioner')
   AND {visible}
 ORDER BY r.id
"""


async def practice(conn: AsyncConnection, gate: Gate) -> Practice:
    """The requester's practice (one query; reference data, read through the gate's search condition)."""
    me = gate.requester.practitioner_id
    if not me:
        return Practice(None)
    await gate.prepare_search()
    b = SqlBuilder()
    sql = ROLES_SQL.format(me=b.bind(me), visible=gate.visible(b, "PractitionerRole", "r"))
    cur = await conn.execute(sql, b.params)
    roles, districts = [], []
    for rid, content in await cur.fetchall():
        role: dict[str, Any] = jsonutil.loads(content)
        if role.get("active") is False:
            continue
        roles.append(str(rid))
        org = (role.get("organization") or {}).get("reference", "")
        for ident in role.get("identifier", ()):
            if ident.get("system") == DISTRICT_SYSTEM and isinstance(ident.get("value"), str):
                code = ident["value"]
                districts.append(District(str(rid), code, code.rsplit("-", 1)[-1],
                                          org.removeprefix("Organization/") if org.startswith("Organization/")
                                          else None))
    return Practice(me, tuple(roles), tuple(districts))


@dataclass(frozen=True)
class Child:
    """A child as a list shows them: the chart's id, the name, birth date and sex."""

    id: str
    name: str
    birth_date: str | None  # YYYY-MM-DD as recorded
    gender: str | None

    @classmethod
    def of(cls, patient: dict[str, Any]) -> Child:
        return cls(str(patient.get("id")), display_name(patient),
                   patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None,
                   patient.get("gender") if isinstance(patient.get("gender"), str) else None)


def display_name(patient: dict[str, Any]) -> str:
    """«Фамилия Имя Отчество» of the official (else first) name; «не указано» without one."""
    names = [n for n in patient.get("name", ()) if isinstance(n, dict)]
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if chosen is None:
        return "не указано"
    words = [chosen.get("family"), *chosen.get("given", ())]
    text = " ".join(w for w in words if isinstance(w, str) and w)
    return text or str(chosen.get("text") or "не указано")
