"""What this child's earlier visits wrote, section by section: «Повторить из прошлого приёма» (ux.md §3).

A visit's protocol is plain text (:mod:`medcard.records.protocol`, and the synthetic city's protocols
alike): a line that starts with a section's label (``Анамнез жизни: ...``) opens that section, and the
lines after it that start with no label of the protocol belong to it, so a text typed over several
lines comes back whole. :func:`split` reads a protocol so; :func:`earlier_sections` finds, for each
text section of the form, the newest of the child's recent protocols that has it, with its date.

Only one section is ever repeated at a time, on the clinician's request: never a whole note forward.
The protocols are read through the gate's content filter, as the chart reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from psycopg import AsyncConnection

from medcard.records import coding as c
from medcard.records import fhirview as fv
from medcard.records.visit import TEXT_FIELDS

Shown = Callable[[str, str], bool]
Part = tuple[str, tuple[str, ...]]  # a section's key and the starts of its opening line
LOOK_BACK = 10  # recent protocols searched for a section the last visit did not write
VISIT_PROTOCOL = "11506-3"  # LOINC Progress note: the visit protocols (consult notes are the specialists')

# The form's sections as the protocol labels them; the synthetic city writes complaints without a colon.
FORM_PARTS: tuple[Part, ...] = tuple(
    (name, (f"{label}:", "Жалобы на", "Жалоб нет", "Жалоб активно") if name == "complaints" else (f"{label}:",))
    for name, label in TEXT_FIELDS.items())

# Every other label a protocol's line starts with: such a line closes the section above it.
OTHER_LABELS = ("Вскармливание:", "Диагноз:", "Сопутствующий:", "Группа здоровья:", "Медицинская группа",
                "Назначения:", "Обследования:", "Направления:", "Направление:", "Явка:", "Дата:",
                *(f"{code['text']}:" for code in (c.WEIGHT, c.HEIGHT, c.LENGTH, c.HEAD, c.BMI, c.TEMPERATURE,
                                                  c.HEART_RATE, c.RESPIRATORY_RATE, c.OXYGEN_SATURATION)))

PROTOCOLS_SQL = """
SELECT r.resource_type, r.content FROM sp_date d
  JOIN resource r ON r.resource_type = 'DocumentReference' AND r.id = d.resource_id AND NOT r.deleted
 WHERE d.patient_id = %(p)s AND d.resource_type = 'DocumentReference' AND d.param = 'date'
   AND d.resource_id IN (SELECT t.resource_id FROM sp_token t WHERE t.resource_type = 'DocumentReference'
                          AND t.param = 'type' AND t.code = %(type)s AND t.patient_id = %(p)s)
 ORDER BY d.low DESC LIMIT %(n)s
"""


@dataclass(frozen=True)
class Earlier:
    """A section's text in an earlier visit's protocol, and that visit's day."""

    text: str
    day: date | None


def split(text: str, parts: Sequence[Part], others: Sequence[str] = OTHER_LABELS) -> dict[str, str]:
    """The text of each of ``parts`` in a protocol (see the module's docstring); the label is left out when
    it ends with a colon (``Жалобы: кашель`` -> ``кашель``), kept otherwise (``Жалобы на кашель``)."""
    closing = tuple(others) + tuple(start for _, starts in parts for start in starts)
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        opened = next(((key, start) for key, starts in parts for start in starts if line.startswith(start)), None)
        if opened is not None:
            current, start = opened
            found.setdefault(current, []).append(line[len(start):].strip() if start.endswith(":") else line.strip())
        elif line.startswith(closing):
            current = None
        elif current is not None:
            found[current].append(line.rstrip())
    return {key: text for key, lines in found.items() if (text := "\n".join(lines).strip())}


async def earlier_sections(conn: AsyncConnection, shown: Shown, patient_id: str) -> dict[str, Earlier]:
    """For each text section of the visit form, its text in the newest recent protocol that has it."""
    cur = await conn.execute(PROTOCOLS_SQL, {"p": patient_id, "type": VISIT_PROTOCOL, "n": LOOK_BACK})
    out: dict[str, Earlier] = {}
    for rtype, content in await cur.fetchall():
        if not shown(rtype, content):
            continue
        document = fv.parse(content)
        day = fv.local_day(fv.when_of(document))
        for key, text in split(fv.attachment_text(document), FORM_PARTS).items():
            out.setdefault(key, Earlier(text, day))
    return out
