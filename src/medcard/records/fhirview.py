"""Small readers of stored FHIR JSON for display: texts of concepts, references, dates, quantities.

Every function takes whatever the JSON holds and never raises on a missing or odd element: a
chart shows what is there and «не указано» for the rest.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from medcard.core.time import CLINIC_TZ

Resource = dict[str, Any]

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNILS = "urn:oid:1.2.643.2.69.1.1.1.6.223"
ENP = "urn:oid:1.2.643.2.69.1.1.1.6.228"  # the single number of the compulsory medical insurance policy
SPECIALIST = "urn:medcard:code-system:specialist"
DISTRICT = "urn:medcard:code-system:district"
PAPER_CARD_PREFIX = "urn:medcard:paper-card:"
NOT_GIVEN = "не указано"



def parse(content: str) -> Resource:
    """Stored JSON (validated when written) for display: orjson, several times faster than the exact
    decimal parser the API needs; a number shows as its shortest form (1.020 as 1,02)."""
    data: Resource = orjson.loads(content)
    return data


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"[ \t]+")


def text_of(concept: Any) -> str:
    """A CodeableConcept's text, else its first coding's display, else its first code ('' if none)."""
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict):
            for key in ("display", "code"):
                if isinstance(coding.get(key), str):
                    return str(coding[key])
    return ""


def texts_of(concepts: Any) -> str:
    """The texts of a list of CodeableConcepts, joined by commas."""
    return ", ".join(t for t in (text_of(c) for c in (concepts or ())) if t) if isinstance(concepts, list) else ""


def code_in(concept: Any, system: str) -> str | None:
    """The code of ``system`` in a CodeableConcept (or a list of them), or None."""
    items = concept if isinstance(concept, list) else [concept]
    for item in items:
        if isinstance(item, dict):
            for coding in item.get("coding") or ():
                if isinstance(coding, dict) and coding.get("system") == system and isinstance(coding.get("code"), str):
                    return str(coding["code"])
    return None


def ref_key(ref: Any) -> tuple[str, str] | None:
    """(type, id) of a relative reference such as ``{"reference": "Practitioner/12"}``."""
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    rtype, _, rid = str(ref["reference"]).partition("/")
    return (rtype, rid) if rtype and rid and "/" not in rid else None


def identifier(resource: Resource, system: str) -> str | None:
    for ident in resource.get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") == system and isinstance(ident.get("value"), str):
            return str(ident["value"])
    return None


def human_name(resource: Resource) -> str:
    """"Фамилия Имя Отчество" of the first name (its text if it has one)."""
    for name in resource.get("name") or ():
        if not isinstance(name, dict):
            continue
        words = [name.get("family"), *(name.get("given") or ())]
        joined = " ".join(w for w in words if isinstance(w, str))
        if joined:
            return joined
        if isinstance(name.get("text"), str):
            return str(name["text"])
    return ""


def instant(value: Any) -> datetime | None:
    """A FHIR dateTime or instant as an aware datetime (a bare date: its midnight in Moscow)."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), CLINIC_TZ)
        if len(value) in (4, 7):
            parts = [int(p) for p in value.split("-")] + [1, 1]
            return datetime(parts[0], parts[1], parts[2], tzinfo=CLINIC_TZ)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local_day(value: Any) -> date | None:
    """The Moscow calendar day of a FHIR date or dateTime."""
    moment = instant(value)
    return moment.astimezone(CLINIC_TZ).date() if moment is not None else None


def when_of(resource: Resource) -> Any:
    """The clinically relevant time of a resource, whatever its type."""
    for key in ("effectiveDateTime", "occurrenceDateTime", "issued", "date", "recordedDate", "authoredOn",
                "onsetDateTime", "created"):
        if key in resource:
            return resource[key]
    for key in ("period", "effectivePeriod"):
        if isinstance(resource.get(key), dict) and "start" in resource[key]:
            return resource[key]["start"]
    return None


def number(value: Any) -> str:
    """A number as Russians write it: decimal comma, no trailing noise."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return ""
    text = format(value, "f") if isinstance(value, Decimal) else repr(value) if isinstance(value, float) else str(value)
    return text.replace(".", ",")


def quantity(q: Any) -> str:
    """"12,5 кг" from a Quantity."""
    if not isinstance(q, dict) or "value" not in q:
        return ""
    unit = q.get("unit") or (q.get("code") if q.get("code") != "1" else "") or ""
    return f"{number(q['value'])} {unit}".strip()


def value_text(observation: Resource) -> str:
    """An Observation's value as text, whatever its type."""
    if "valueQuantity" in observation:
        return quantity(observation["valueQuantity"])
    for key in ("valueString", "valueBoolean", "valueInteger"):
        if key in observation:
            value = observation[key]
            return ("да" if value else "нет") if isinstance(value, bool) else str(value)
    if "valueCodeableConcept" in observation:
        return text_of(observation["valueCodeableConcept"])
    return ""


def reference_range(observation: Resource) -> str:
    """"110–140 г/л" from the first referenceRange."""
    for rng in observation.get("referenceRange") or ():
        if not isinstance(rng, dict):
            continue
        if isinstance(rng.get("text"), str):
            return str(rng["text"])
        low, high = rng.get("low"), rng.get("high")
        unit = (high or low or {}).get("unit", "") if isinstance(high or low, dict) else ""
        if isinstance(low, dict) and isinstance(high, dict):
            return f"{number(low.get('value'))}–{number(high.get('value'))} {unit}".strip()
        if isinstance(low, dict):
            return f"≥ {number(low.get('value'))} {unit}".strip()
        if isinstance(high, dict):
            return f"≤ {number(high.get('value'))} {unit}".strip()
    return ""


FLAG_TEXT = {"H": "выше нормы", "HH": "критически выше нормы", "L": "ниже нормы", "LL": "критически ниже нормы",
             "A": "отклонение", "AA": "критическое отклонение", "N": "в норме"}


def flag(observation: Resource) -> str:
    """The interpretation code (H, L, N, ...) or '' when the result carries none."""
    for concept in observation.get("interpretation") or ():
        for coding in (concept or {}).get("coding") or ():
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return ""


def attachment_text(resource: Resource, limit: int = 20_000) -> str:
    """The plain text of a document's first inline text attachment (HTML stripped), or ''."""
    for content in resource.get("content") or ():
        attachment = (content or {}).get("attachment") or {}
        kind = str(attachment.get("contentType", ""))
        data = attachment.get("data")
        if not isinstance(data, str) or not kind.startswith("text/"):
            continue
        try:
            raw = base64.b64decode(data[: limit * 2], validate=False).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return ""
        if kind.startswith("text/html"):
            raw = html.unescape(_TAG.sub("\n", raw))
        lines = (_SPACE.sub(" ", line).strip() for line in raw.splitlines())
        return "\n".join(line for line in lines if line)[:limit]
    return ""


def labelled(text: str, *labels: str) -> str:
    """The rest of the first line of ``text`` that starts with one of ``labels`` (e.g. «Заключение:»)."""
    for line in text.splitlines():
        for label in labels:
            if line.startswith(label):
                return line[len(label):].strip(" :") if label.endswith(":") else line
    return ""


def identifier_prefixed(resource: Resource, prefix: str) -> str | None:
    """The value of the first identifier whose system starts with ``prefix`` (e.g. the paper card's number)."""
    for ident in resource.get("identifier") or ():
        if (isinstance(ident, dict) and str(ident.get("system", "")).startswith(prefix)
                and isinstance(ident.get("value"), str)):
            return str(ident["value"])
    return None


DETAIL_KINDS = {"Encounter": "visit", "DiagnosticReport": "report", "Observation": "result",
                "DocumentReference": "document"}


def detail_path(rtype: str, rid: str) -> str:
    """Where an entry of the record opens, relative to its chart (``timeline/visit/<id>``); '' when nowhere."""
    kind = DETAIL_KINDS.get(rtype)
    return f"timeline/{kind}/{rid}" if kind else ""
