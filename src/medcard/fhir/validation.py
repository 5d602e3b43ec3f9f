"""Validation of FHIR R4 JSON against the official structure definitions.

Checks, for every element of a resource (contained and nested resources included): that it
is defined for its type, its cardinality, the JSON type and lexical form of primitives (the
regular expressions of the specification, plus real calendar dates), primitive extensions
(``_element``), choice types, reference targets, required bindings (codes, Codings and
CodeableConcepts whose value sets can be enumerated), and the element invariants that hold
everywhere (ele-1: no empty objects, arrays or strings; ext-1: an extension has a value or
extensions, not both; dom-2/dom-4: contained resources carry no contained resources or
version metadata). Every problem is reported with its FHIRPath location.

Two limits are medcard's own, because PostgreSQL must hold and index what is stored: strings hold
no control characters (FHIR forbids those below U+0020 but tab, CR and LF; PostgreSQL cannot store
U+0000) and no lone surrogates, and decimals stay within :func:`decimal_problem`'s range.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from medcard.core.errors import BadRequest, Issue
from medcard.fhir.spec import Element, Spec, TypeDef, r4

MAX_DEPTH = 48
MAX_STRING = 1024 * 1024  # FHIR: strings SHALL NOT exceed 1 MB
MAX_ISSUES = 100
MAX_SEARCH_TEXT = 64 * 1024  # characters of a resource's text kept for full-text search
_TAG = re.compile(r"<[^>]*>")
INTEGER_RANGE = {"integer": (-(2**31), 2**31 - 1), "positiveInt": (1, 2**31 - 1), "unsignedInt": (0, 2**31 - 1)}
ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
REFERENCE_PATTERN = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/([A-Za-z0-9\-.]{1,64}))?")
_DATE_PREFIX = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# Characters FHIR strings cannot hold (below U+0020 except tab, LF, CR), and lone surrogates, which are
# not characters at all (JSON escapes can make them; UTF-8 cannot carry them).
_FORBIDDEN_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# Decimals medcard stores and searches: far beyond any measurement (FHIR asks for 18 digits), well within
# PostgreSQL's numeric (10^131072, 16,383 places after the point) and the size of an index row.
MAX_DECIMAL_DIGITS = 100
MAX_DECIMAL_PLACES = 1000  # the smallest digit written is at least 10^-1000
MAX_DECIMAL_MAGNITUDE = 1000  # the value is below 10^1000
_LARGEST_PLAIN_INT = 10**MAX_DECIMAL_DIGITS


@dataclass(frozen=True, slots=True)
class ReferenceSite:
    """A ``Reference.reference`` found while validating: where, what, and which types it may name."""

    path: str
    reference: str
    targets: tuple[str, ...]

    def local(self) -> tuple[str, str] | None:
        """(type, id) of a relative reference to a resource on this server, else None."""
        match = REFERENCE_PATTERN.fullmatch(self.reference)
        return (match.group(1), match.group(2)) if match else None


@dataclass(slots=True)
class Validated:
    """What a validation walk learned on the way, so nothing walks the resource again."""

    references: list[ReferenceSite]
    texts: list[str]  # string and markdown values, text attachments: for _content
    narrative: list[str]  # the narrative's text without markup: for _text
    identifiers: list[tuple[str, str, str]]  # (path, system, value), for check-digit rules


@dataclass(frozen=True, slots=True)
class _Slot:
    """One JSON key of a type, with what the walk needs of it worked out once."""

    element: Element
    concrete: str  # the type of the value ("Quantity" for valueQuantity)
    suffix: str  # appended to the parent's path: ".name", or ".name.ofType(Type)" for a choice
    nature: int  # _BOOLEAN, _INTEGER, _NUMBER, _STRING (primitives), _RESOURCE or _COMPLEX
    many: bool  # the element repeats (a JSON array)
    choice: bool
    pattern: re.Pattern[str] | None  # a string primitive's lexical form
    is_date: bool  # date, dateTime or instant: also a real calendar date
    is_text: bool  # string or markdown: kept for full-text search (not a Reference's reference: no words)
    plain: bool  # one string value (not repeating, not xhtml): :meth:`_Validator.plain_string` may settle it
    codes: frozenset[str] | None  # a code's required value set (the codes of all its systems), if enumerable
    valid: set[str]  # short values of this type already found of the right lexical form (shared by type)
    # FHIR's rule for strings (no control characters) applies; not to base64Binary, which is no text and
    # whose pattern already refuses U+0000 and surrogates (its data is the longest string of a resource)
    text_rule: bool


@dataclass(frozen=True, slots=True)
class _Type:
    """A type as the walk sees it: its keys as slots, its required elements, its definition."""

    tdef: TypeDef
    slots: dict[str, _Slot]
    required: tuple[Element, ...]


_BOOLEAN, _INTEGER, _NUMBER, _STRING, _RESOURCE, _COMPLEX = range(6)
_PRIMITIVE_NATURE = {"boolean": _BOOLEAN, "integer": _INTEGER, "positiveInt": _INTEGER, "unsignedInt": _INTEGER,
                     "decimal": _NUMBER}
_TYPES: dict[int, dict[str, _Type]] = {}  # by id() of the Spec: specifications are loaded once and kept
# Values of a primitive type found of its lexical form, so the regular expression runs once per value
# (a code, a code system, a unit): at most this many per type, of at most this length.
_MAX_REMEMBERED, _MAX_REMEMBERED_LENGTH = 4096, 128
_VALID: dict[tuple[int, str], set[str]] = {}


def _valid_values(spec: Spec, type_name: str) -> set[str]:
    return _VALID.setdefault((id(spec), type_name), set())


def _types(spec: Spec) -> dict[str, _Type]:
    """The walk's view of each type of a specification, filled in as types are met."""
    found = _TYPES.get(id(spec))
    if found is None:
        found = _TYPES[id(spec)] = {}
    return found


def _type(spec: Spec, type_name: str) -> _Type:
    tdef = spec.type_def(type_name)
    patterns = _patterns(spec)
    slots = {}
    for key, (element, concrete) in tdef.keys.items():
        suffix = f".{element.name}.ofType({concrete})" if element.choice else f".{element.name}"
        if spec.is_primitive(concrete):
            nature = _PRIMITIVE_NATURE.get(concrete, _STRING)
        elif concrete == "Resource" or concrete in spec.resource_type_names:
            nature = _RESOURCE
        else:
            nature = _COMPLEX
        systems = spec.codes(element.binding) if element.binding and concrete == "code" else None
        codes = frozenset().union(*systems.values()) if systems is not None else None
        slots[key] = _Slot(element, concrete, suffix, nature, element.max_many, element.choice,
                           patterns.get(concrete), concrete in ("date", "dateTime", "instant"),
                           concrete in ("string", "markdown") and (type_name, key) != ("Reference", "reference"),
                           nature == _STRING and not element.max_many and concrete != "xhtml", codes,
                           _valid_values(spec, concrete), concrete != "base64Binary")
    found = _types(spec)[type_name] = _Type(tdef, slots, tdef.required)
    return found


class _Validator:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.issues: list[Issue] = []
        self.references: list[ReferenceSite] = []
        self.texts: list[str] = []
        self.narrative: list[str] = []
        self.identifiers: list[tuple[str, str, str]] = []
        self.text_budget = MAX_SEARCH_TEXT
        self.types = _types(spec)

    def error(self, path: str, message: str, code: str = "structure") -> None:
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(Issue(message, code=code, expression=(path,) if path else ()))

    # resources ---------------------------------------------------------------

    def resource(self, obj: Any, path: str, depth: int, *, contained: bool = False) -> None:
        if not isinstance(obj, dict):
            self.error(path, f"expected a resource (a JSON object), found {_json_type(obj)}")
            return
        rtype = obj.get("resourceType")
        if not isinstance(rtype, str) or rtype not in self.spec.resource_type_names:
            found = "no resourceType" if rtype is None else f"resourceType {rtype!r}"
            self.error(path, f"expected a FHIR R4 resource, found {found}", "structure")
            return
        root = rtype if path == "" else path
        if "id" in obj and not (isinstance(obj["id"], str) and ID_PATTERN.fullmatch(obj["id"])):
            self.error(f"{root}.id", "id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'", "value")
        if contained:
            if "contained" in obj:
                self.error(root, "a contained resource cannot contain resources (dom-2)", "invariant")
            meta = obj.get("meta")
            if isinstance(meta, dict) and ("versionId" in meta or "lastUpdated" in meta):
                self.error(f"{root}.meta", "a contained resource cannot have meta.versionId or "
                           "meta.lastUpdated (dom-4)", "invariant")
        self.complex(obj, rtype, root, depth, skip=("resourceType", "id", "contained"))
        if "contained" in obj:
            items = self.cardinality(self.spec.type_def(rtype).elements["contained"], obj["contained"],
                                     f"{root}.contained")
            for i, item in enumerate(items or ()):
                self.resource(item, f"{root}.contained[{i}]", depth + 1, contained=True)

    # complex types -----------------------------------------------------------

    def complex(self, obj: Any, type_name: str, path: str, depth: int, skip: tuple[str, ...] = ()) -> None:
        if depth > MAX_DEPTH:
            self.error(path, f"nested more than {MAX_DEPTH} levels deep", "too-costly")
            return
        if not isinstance(obj, dict):
            self.error(path, f"expected an object of type {type_name}, found {_json_type(obj)}")
            return
        if not obj:
            self.error(path, "an element must have a value or children, found an empty object (ele-1)",
                       "invariant")
            return
        known = self.types.get(type_name) or _type(self.spec, type_name)
        slots = known.slots
        present: set[str] = set()
        for key, value in obj.items():
            slot = slots.get(key)
            if slot is None:  # also every "_element" key: element names never start with "_"
                if key in skip:
                    continue
                if key.startswith("_"):
                    keys = known.tdef.keys
                    self.primitive_extension(obj, key, value, keys, path, depth)
                    present.add(keys[key[1:]][0].name if key[1:] in keys else key)
                    continue
                self.error(f"{path}.{key}", f"unknown element '{key}' in {type_name}")
                continue
            if skip and key in skip:
                continue
            name = slot.element.name
            if slot.choice and name in present:
                self.error(path + slot.suffix, f"more than one type given for the choice element {name}[x]")
            present.add(name)
            if slot.plain and value.__class__ is str and self.plain_string(slot, value):
                continue  # most values: no path is made, no further call
            self.slot(slot, value, path + slot.suffix, depth)
        for element in known.required:
            if element.name not in present:
                self.error(f"{path}.{element.name}", f"missing required element '{element.name}' "
                           f"(minimum cardinality {element.min})", "required")
        if type_name == "Extension" and ("extension" in obj) == any(k.startswith("value") for k in obj):
            self.error(path, "an extension must have either extensions or a value[x], and not both (ext-1)",
                       "invariant")

    def cardinality(self, element: Element, value: Any, path: str) -> list[Any] | None:
        """The values of an element as a list, or None after reporting a cardinality error."""
        if element.max_many:
            if not isinstance(value, list):
                self.error(path, f"element '{element.name}' repeats: expected an array, found {_json_type(value)}")
                return None
            if not value:
                self.error(path, "an array must not be empty (ele-1)", "invariant")
                return None
            return value
        if isinstance(value, list):
            self.error(path, f"element '{element.name}' has at most one value: expected a single value, "
                       "found an array")
            return None
        return [value]

    def slot(self, slot: _Slot, value: Any, path: str, depth: int) -> None:
        """The value (or values) of one key, with what depends only on the key taken from its slot."""
        many = slot.many
        if many:
            if not isinstance(value, list) or not value:
                self.cardinality(slot.element, value, path)  # reports the problem
                return
            for i, item in enumerate(value):
                self.item(slot, item, f"{path}[{i}]", depth)
        elif isinstance(value, list):
            self.cardinality(slot.element, value, path)
        else:
            self.item(slot, value, path, depth)

    def item(self, slot: _Slot, item: Any, path: str, depth: int) -> None:
        """One value of a key."""
        nature = slot.nature
        if item is None:
            if nature >= _RESOURCE:
                self.error(path, "null is not allowed here")
            return  # a primitive array may hold null where _element has the extension
        type_name = slot.concrete
        if nature == _STRING:
            self.string(slot, item, path)
        elif nature == _COMPLEX:
            self.complex(item, type_name, path, depth + 1)
            if type_name == "Reference" and isinstance(item, dict):
                self.reference(slot.element, item, path)
            elif type_name == "Attachment":
                self.attachment_text(item)
            elif type_name == "Identifier" and isinstance(item, dict):
                system, ident = item.get("system"), item.get("value")
                if isinstance(system, str) and isinstance(ident, str):
                    self.identifiers.append((f"{path}.value", system, ident))
        elif nature == _RESOURCE:
            self.resource(item, path, depth + 1)
            if type_name != "Resource" and isinstance(item, dict) and item.get("resourceType") != type_name:
                self.error(path, f"expected a {type_name} resource here")
        else:
            self.primitive(type_name, item, path)
        binding = slot.element.binding
        if binding:
            self.binding(binding, type_name, item, path)

    def primitive_extension(
        self, obj: dict[str, Any], key: str, value: Any, keys: dict[str, tuple[Element, str]], path: str,
        depth: int,
    ) -> None:
        name = key[1:]
        entry = keys.get(name)
        if entry is None or not self.spec.is_primitive(entry[1]):
            self.error(f"{path}.{key}", f"unknown element '{key}': '_' prefixes extensions of primitive elements")
            return
        element = entry[0]
        base = obj.get(name)
        if element.max_many:
            if not isinstance(value, list):
                self.error(f"{path}.{key}", f"'{key}' must be an array matching '{name}'")
                return
            if base is not None and (not isinstance(base, list) or len(base) != len(value)):
                self.error(f"{path}.{key}", f"'{key}' must have as many items as '{name}'")
            for i, item in enumerate(value):
                if item is not None:
                    self.complex(item, "Element", f"{path}.{name}[{i}]", depth + 1)
                elif not isinstance(base, list) or i >= len(base) or base[i] is None:
                    self.error(f"{path}.{name}[{i}]", "an item has neither a value nor an extension")
        else:
            self.complex(value, "Element", f"{path}.{name}", depth + 1)

    # primitives --------------------------------------------------------------

    def primitive(self, type_name: str, value: Any, path: str) -> None:
        """A boolean, integer or decimal value (strings go to :meth:`string`)."""
        kind = _PRIMITIVE_NATURE[type_name]
        if kind == _BOOLEAN:
            if not isinstance(value, bool):
                self.error(path, f"expected a boolean (true or false), found {_json_type(value)}", "value")
            return
        if kind == _INTEGER:
            if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
                self.error(path, f"{_clip(str(value))} is out of range for {type_name}", "value")
                return
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(path, f"expected an integer ({type_name}), found {_json_type(value)}", "value")
                return
            low, high = INTEGER_RANGE[type_name]
            if not low <= value <= high:
                self.error(path, f"{value} is out of range for {type_name} ({low}..{high})", "value")
            return
        if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
            self.error(path, f"expected a number (decimal), found {_json_type(value)}", "value")
            return
        if isinstance(value, Decimal) or not -_LARGEST_PLAIN_INT < value < _LARGEST_PLAIN_INT:
            problem = decimal_problem(Decimal(value))
            if problem is not None:
                self.error(path, problem, "value")

    def plain_string(self, slot: _Slot, value: str) -> bool:
        """Settle a valid single string value (its text kept): True. False, having done nothing, for
        anything else, which the full check (:meth:`slot`) then reports."""
        if not value or len(value) > MAX_STRING:
            return False
        pattern = slot.pattern
        if pattern is None or value not in slot.valid:  # a remembered value passed every check
            if slot.text_rule and not value.isprintable() and _FORBIDDEN_CHARACTER.search(value):  # first is cheaper
                return False
            if pattern is not None:
                if not pattern.fullmatch(value):
                    return False
                if len(value) <= _MAX_REMEMBERED_LENGTH and len(slot.valid) < _MAX_REMEMBERED:
                    slot.valid.add(value)  # codes, systems and units recur from resource to resource
        if slot.is_date and not _real_date(value):
            return False
        codes = slot.codes
        if codes is not None and value not in codes:
            return False
        if slot.is_text:
            self.keep_text(value, self.texts)
        return True

    def string(self, slot: _Slot, value: Any, path: str) -> None:
        """A primitive written as a JSON string: code, string, uri, dateTime, xhtml..."""
        type_name = slot.concrete
        if not isinstance(value, str):
            self.error(path, f"expected a string ({type_name}), found {_json_type(value)}", "value")
            return
        if not value:
            self.error(path, "a string must not be empty (ele-1)", "invariant")
            return
        if len(value) > MAX_STRING:
            self.error(path, f"a {type_name} must not exceed 1 MB", "too-costly")
            return
        problem = string_problem(value) if slot.text_rule else None
        if problem is not None:
            self.error(path, f"the {type_name} {problem}", "value")
            return
        if slot.is_text:
            self.keep_text(value, self.texts)
        elif type_name == "xhtml":
            self.xhtml(value, path)
            return
        pattern = slot.pattern
        if pattern is not None and not pattern.fullmatch(value):
            self.error(path, f"'{_clip(value)}' is not a valid {type_name}", "value")
            return
        if slot.is_date and not _real_date(value):
            self.error(path, f"'{_clip(value)}' is not a real calendar date", "value")

    def xhtml(self, value: str, path: str) -> None:
        text = value.strip()
        if not (text.startswith("<div") and text.endswith("</div>")):
            self.error(path, "narrative must be an XHTML <div> element", "value")
        elif re.search(r"<\s*script|\son[a-z]+\s*=|javascript:", text, re.IGNORECASE):
            self.error(path, "narrative must not contain scripts or event handlers (txt-1)", "security")
        else:
            self.keep_text(html.unescape(_TAG.sub(" ", text)), self.narrative)

    def keep_text(self, text: str, into: list[str]) -> None:
        if self.text_budget > 0:
            into.append(text[: self.text_budget])
            self.text_budget -= len(text)

    def attachment_text(self, attachment: Any) -> None:
        """The text of a plain-text attachment sent inline (a visit summary, a letter)."""
        if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
            return
        content_type = attachment.get("contentType")
        if not isinstance(content_type, str) or not content_type.startswith("text/plain"):
            return
        try:
            raw = base64.b64decode(attachment["data"][: MAX_SEARCH_TEXT * 2], validate=False)
        except (ValueError, binascii.Error):
            return
        self.keep_text(raw.decode("utf-8", errors="ignore"), self.texts)

    # references and bindings ---------------------------------------------------

    def reference(self, element: Element, ref: dict[str, Any], path: str) -> None:
        target = ref.get("reference")
        if not isinstance(target, str):
            return
        self.references.append(ReferenceSite(f"{path}.reference", target, element.targets))
        if target.startswith(("#", "urn:uuid:", "urn:oid:", "http://", "https://")) or "?" in target:
            return
        match = REFERENCE_PATTERN.fullmatch(target)
        if match is None:
            self.error(f"{path}.reference", f"'{_clip(target)}' is not a valid reference "
                       "(expected Type/id, an absolute URL, #contained or urn:uuid:)", "value")
            return
        rtype = match.group(1)
        if rtype not in self.spec.resource_type_names:
            self.error(f"{path}.reference", f"'{rtype}' is not a FHIR R4 resource type", "value")
        elif element.targets and rtype not in element.targets:
            self.error(f"{path}.reference", f"a reference to {rtype} is not allowed here "
                       f"(allowed: {', '.join(element.targets)})", "value")

    def binding(self, value_set: str, type_name: str, value: Any, path: str) -> None:
        systems = self.spec.codes(value_set)
        if systems is None:
            return
        vs_name = value_set.rsplit("/", 1)[-1]
        if type_name == "code" and isinstance(value, str):
            if not any(value in codes for codes in systems.values()):
                self.error(path, f"'{_clip(value)}' is not a code of the required value set {vs_name} "
                           f"({_sample(systems)})", "code-invalid")
        elif type_name == "Coding" and isinstance(value, dict):
            if not _coding_in(value, systems):
                self.error(path, f"the coding is not in the required value set {vs_name}", "code-invalid")
        elif type_name == "CodeableConcept" and isinstance(value, dict):
            codings = value.get("coding")
            if not isinstance(codings, list) or not any(
                isinstance(c, dict) and _coding_in(c, systems) for c in codings
            ):
                self.error(path, f"no coding is from the required value set {vs_name}", "code-invalid")


@cache
def _patterns(spec: Spec) -> dict[str, re.Pattern[str]]:
    out = {name: re.compile(info["regex"]) for name, info in spec.primitives.items() if "regex" in info}
    for name in ("string", "markdown"):
        out.pop(name, None)  # "[ \r\n\t\S]+": any non-empty text; checked by length instead
    return out


def string_problem(text: str) -> str | None:
    """Why ``text`` cannot be a FHIR string medcard stores (a control character, a lone surrogate), or None."""
    found = None if text.isprintable() else _FORBIDDEN_CHARACTER.search(text)  # printable: no Cc, no Cs
    if found is None:
        return None
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        return f"holds a lone surrogate U+{ord(char):04X}, which is not a Unicode character"
    return (f"holds the control character U+{ord(char):04X} at position {found.start()}; FHIR strings "
            "allow none below U+0020 except tab, carriage return and line feed")


def decimal_problem(number: Decimal) -> str | None:
    """Why ``number`` is not a decimal medcard stores and searches, or None.

    The limits keep every value that a measurement can take, and keep PostgreSQL's numeric (and an
    index row) able to hold it; beyond them a value is refused, never rounded.
    """
    if not number.is_finite():
        return f"{_clip(str(number))} is not a finite number"
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    if len(digits) > MAX_DECIMAL_DIGITS:
        return f"{_clip(str(number))} has {len(digits)} digits; medcard keeps at most {MAX_DECIMAL_DIGITS}"
    if exponent + len(digits) > MAX_DECIMAL_MAGNITUDE and digits != (0,):  # the first digit's place >= 10^1000
        return f"{_clip(str(number))} is too large; medcard keeps numbers below 10^{MAX_DECIMAL_MAGNITUDE}"
    if exponent < -MAX_DECIMAL_PLACES:
        return (f"{_clip(str(number))} has digits beyond {MAX_DECIMAL_PLACES} places after the decimal point; "
                "medcard keeps no more")
    return None


def _coding_in(coding: dict[str, Any], systems: dict[str, frozenset[str]]) -> bool:
    system, code = coding.get("system", ""), coding.get("code")
    if not isinstance(system, str) or not isinstance(code, str):
        return False  # wrong JSON types are reported where they are; here they are simply not a match
    codes = systems.get(system)
    return codes is not None and code in codes


def _real_date(value: str) -> bool:
    match = _DATE_PREFIX.match(value)
    if match is None:
        return True  # year or year-month only
    try:
        date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _sample(systems: dict[str, frozenset[str]], limit: int = 8) -> str:
    codes = sorted({c for cs in systems.values() for c in cs})
    shown = ", ".join(codes[:limit])
    return f"one of {shown}" + (", ..." if len(codes) > limit else "")


def validation_issues(resource: Any, spec: Spec | None = None) -> list[Issue]:
    """All problems of a resource (empty when it is valid)."""
    v = _Validator(spec or r4())
    v.resource(resource, "", 0)
    return v.issues


def validate(resource: Any, *, expected_type: str | None = None) -> Validated:
    """What the walk of a valid R4 resource found; :class:`BadRequest` listing every problem otherwise."""
    if expected_type is not None and isinstance(resource, dict):
        found = resource.get("resourceType")
        if found != expected_type:
            raise BadRequest(
                f"expected a {expected_type} resource, found {found!r}" if found else
                f"expected a {expected_type} resource, found no resourceType",
                code="invalid",
            )
    v = _Validator(r4())
    v.resource(resource, "", 0)
    if v.issues:
        first = v.issues[0]
        where = f" at {first.expression[0]}" if first.expression else ""
        more = f" (and {len(v.issues) - 1} more)" if len(v.issues) > 1 else ""
        raise BadRequest(f"invalid resource: {first.diagnostics}{where}{more}", v.issues)
    return Validated(v.references, v.texts, v.narrative, v.identifiers)
