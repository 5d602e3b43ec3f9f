"""The demo's district: the district pediatrician of a clinic whose day has something in every list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.access.requester import Requester
from medcard.core import jsonutil
from medcard.worklists import day, practice

SPECIALIST = "urn:medcard:code-system:specialist"

DISTRICT_ROLES_SQL = """
SELECT r.content FROM resource r
 WHERE r.resource_type = 'PractitionerRole' AND NOT r.deleted
   AND r.id IN (SELECT i.resource_id FROM sp_reference i WHERE i.target_type = 'Organization' AND i.target_id = %s
                   AND i.resource_type = 'PractitionerRole' AND i.param = 'organization')
 ORDER BY r.id
"""


@dataclass(frozen=True)
class DemoDistrict:
    practitioner_id: str
    number: str
    day: day.Day

    @property
    def kinds(self) -> int:
        """How many of the day's lists have something (examinations, vaccinations, results, referrals)."""
        d = self.day
        return sum(map(bool, (d.examinations, d.vaccinations, d.results.results, d.referrals)))

    @property
    def items(self) -> int:
        d = self.day
        return len(d.examinations) + len(d.vaccinations) + len(d.results.results) + len(d.referrals)


async def busiest_district(conn: AsyncConnection, organization_id: str, on: date) -> DemoDistrict | None:
    """Of the clinic's district pediatricians, the one whose day lists the most kinds of work, then the most."""
    cur = await conn.execute(DISTRICT_ROLES_SQL, (organization_id,))
    found = []
    for (content,) in await cur.fetchall():
        role = jsonutil.loads(content)
        codes = {c.get("code") for cc in role.get("code", ()) for c in cc.get("coding", ())
                 if c.get("system") == SPECIALIST}
        doctor = (role.get("practitioner") or {}).get("reference", "")
        if "pediatrician" not in codes or not doctor.startswith("Practitioner/") or not role.get("identifier"):
            continue
        # The demo's own look at the city, as medcard (not a person): nothing to audit.
        gate = Gate(conn, Requester("system", "medcard demo", practitioner_id=doctor.removeprefix("Practitioner/")))
        mine = await practice.practice(conn, gate)
        if mine.districts:
            found.append(DemoDistrict(mine.practitioner_id or "", mine.districts[0].number,
                                      await day.my_day(conn, gate, mine, on)))
    return max(found, key=lambda d: (d.kinds, d.items), default=None)
