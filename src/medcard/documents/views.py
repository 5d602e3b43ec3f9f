"""FHIR resources as the printed documents show them: names, codes, values, ranges, people and places.

Plain functions of resources to strings and small records; the templates escape what they print.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from typing import Any

from medcard.documents.pdf import number
from medcard.documents.source import Resource, Source

ICD10 = "http://hl7.org/fhir/sid/icd-10"
UNITS = {"Cel": "°C", "kg": "кг", "cm": "см", "g": "г", "mm": "мм", "kg/m2": "кг/м²", "/min": "/мин",
         "mL": "мл", "L/min": "л/мин", "%": "%", "wk": "нед."}
FLAGS = {"H": "выше нормы", "HH": "критически высокое", "L": "ниже нормы", "LL": "критически низкое",
         "A": "отклонение", "N": ""}


@dataclass(frozen=True)
class Person:
    name: str
    title: str = ""  # the position as printed: "Врач-педиатр участковый"


@dataclass(frozen=True)
class Clinic:
    id: str
    name: str
    address: str = ""
    phone: str = ""


def text(concept: Any) -> str:
    """A CodeableConcept as words: its text, else the first coding's display, else its code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return ""


def texts(concepts: Any) -> str:
    return "; ".join(t for t in (text(c) for c in concepts or []) if t)


def code_in(concept: Any, system: str) -> str:
    for coding in (concept or {}).get("coding", []):
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return ""


def name(resource: Resource | None) -> str:
    """A person's full name as written in Russia: family, given, patronymic."""
    if not resource:
        return ""
    names = resource.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if official.get("text"):
        return str(official["text"])
    return " ".join([official.get("family", ""), *official.get("given", [])]).strip()


def birth_date(patient: Resource) -> date | None:
    raw = patient.get("birthDate")
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        return None


def address(resource: Resource | None) -> str:
    for item in (resource or {}).get("address", []):
        if item.get("text"):
            return str(item["text"])
        parts = [item.get("postalCode"), item.get("city"), *item.get("line", [])]
        return ", ".join(p for p in parts if p)
    return ""


def phone(resource: Resource | None) -> str:
    return next((str(t["value"]) for t in (resource or {}).get("telecom", [])
                 if t.get("system") == "phone" and t.get("value")), "")


def person(source: Source, reference: Any) -> Person | None:
    """The practitioner behind a reference to a Practitioner or a PractitionerRole, with the position."""
    target = source.ref(reference)
    if target is None:
        shown = reference.get("display") if isinstance(reference, dict) else None
        return Person(str(shown)) if shown else None
    if target["resourceType"] == "PractitionerRole":
        practitioner = source.ref(target.get("practitioner"))
        return Person(name(practitioner) or text(target.get("practitioner")), texts(target.get("code")))
    if target["resourceType"] == "Practitioner":
        return Person(name(target), texts(q.get("code") for q in target.get("qualification", [])))
    if target["resourceType"] == "Organization":
        return Person(str(target.get("name", "")))
    return Person(name(target))


def clinic(source: Source, reference: Any) -> Clinic | None:
    org = source.ref(reference)
    if org is None or org.get("resourceType") != "Organization":
        return None
    return Clinic(str(org["id"]), str(org.get("name", "")), address(org), phone(org))


def quantity(q: Any, digits: int | None = None) -> str:
    """A Quantity as Russian text: 36,6 °C; 12,5 кг."""
    if not isinstance(q, dict) or "value" not in q:
        return ""
    raw = q["value"]
    value = number(raw, digits) if digits is not None else str(raw).replace(".", ",").replace("-", "−")
    unit = UNITS.get(str(q.get("code") or ""), q.get("unit") or "")
    return f"{value} {unit}".strip()


def value(obs: Resource) -> str:
    """The value of an Observation, whatever its type."""
    if "valueQuantity" in obs:
        return quantity(obs["valueQuantity"])
    if "valueCodeableConcept" in obs:
        return text(obs["valueCodeableConcept"])
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDateTime"):
        if key in obs:
            raw = obs[key]
            return ("да" if raw else "нет") if isinstance(raw, bool) else str(raw)
    if obs.get("dataAbsentReason"):
        return "нет данных"
    return ""


def reference_range(obs: Resource) -> str:
    for rng in obs.get("referenceRange", []):
        if rng.get("text"):
            return str(rng["text"])
        low, high = rng.get("low"), rng.get("high")
        if low and high:
            return f"{quantity(low).split(' ')[0]}–{quantity(high)}"
        if low:
            return f"≥ {quantity(low)}"
        if high:
            return f"≤ {quantity(high)}"
    return ""


def flag(obs: Resource) -> str:
    for concept in obs.get("interpretation", []):
        for coding in concept.get("coding", []):
            if coding.get("code") in FLAGS:
                return FLAGS[str(coding["code"])]
        return text(concept)
    return ""


def icd10(condition: Resource) -> tuple[str, str]:
    """(ICD-10 code, title) of a Condition; the code may be '' when it has none."""
    concept = condition.get("code") or {}
    code = code_in(concept, ICD10)
    title = next((str(c.get("display")) for c in concept.get("coding", []) if c.get("system") == ICD10
                  and c.get("display")), "") or text(concept)
    return code, title


def when(resource: Resource) -> str:
    """The clinically relevant instant or date of a resource, as stored (ISO), for ordering and printing."""
    for key in ("effectiveDateTime", "occurrenceDateTime", "issued", "authoredOn", "recordedDate",
                "onsetDateTime", "date"):
        if isinstance(resource.get(key), str):
            return str(resource[key])
    for key in ("period", "effectivePeriod"):
        if isinstance(resource.get(key), dict) and resource[key].get("start"):
            return str(resource[key]["start"])
    return ""


def notes(resource: Resource) -> str:
    return " ".join(str(n["text"]) for n in resource.get("note", []) if n.get("text"))


def dosage(request: Resource) -> str:
    return "; ".join(str(d["text"]) for d in request.get("dosageInstruction", []) if d.get("text"))


class _Text(HTMLParser):
    """The paragraphs of an HTML document, as text (its markup is dropped: the template escapes the text)."""

    BLOCKS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "tr", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "title", "head"):
            self._skip += 1
        if tag in self.BLOCKS:
            self._end()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title", "head"):
            self._skip = max(0, self._skip - 1)
        if tag in self.BLOCKS:
            self._end()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._current.append(data)

    def _end(self) -> None:
        line = " ".join("".join(self._current).split())
        if line:
            self.paragraphs.append(line)
        self._current = []


def attachment_paragraphs(docref: Resource) -> list[str]:
    """The text of a DocumentReference's inline attachment (plain text or HTML), paragraph by paragraph."""
    for content in docref.get("content", []):
        attachment = content.get("attachment", {})
        data, kind = attachment.get("data"), str(attachment.get("contentType", ""))
        if not data or not kind.startswith("text/"):
            continue
        try:
            raw = base64.b64decode(data, validate=False).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return []
        if kind.startswith("text/html"):
            parser = _Text()
            parser.feed(raw)
            parser.close()
            parser._end()
            return parser.paragraphs
        return [line.strip() for line in raw.splitlines() if line.strip()]
    return []
