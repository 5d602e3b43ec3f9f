"""Russian patient identifiers: SNILS, the OMS policy numbers and the birth certificate.

The rules are those of the domain reference (``shared/docs/domain.md`` §4). The identifier
systems, the FHIR ``Identifier.system`` URI of each and the check that applies to it, are data
in ``naming_systems.json``; :func:`check_identifier` is what the FHIR store calls for every
Identifier it receives.

Each check has two forms: ``is_valid_*`` answers yes or no, ``*_problem`` returns None for a
valid value or a precise English reason. Reasons quote the value, which is personal data
(152-ФЗ): they are for the client that sent it, never for a log.

A birth certificate is one ``Identifier.value``: the series, one space and the number, as it is
printed on the certificate: ``IV-АИ 123456``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypeAlias

# Only ASCII digits: re's \d and str.isdigit() also accept other scripts' digits and superscripts.
_DIGITS = re.compile(r"[0-9]+")
_ASCII_DIGITS = frozenset("0123456789")
# Longer values are cut in reasons, so a huge value cannot make a huge message.
_QUOTE_LIMIT = 40


def _quote(value: str) -> str:
    """The value as reasons show it: repr (so spaces and control characters are visible), cut."""
    if len(value) > _QUOTE_LIMIT:
        return repr(value[:_QUOTE_LIMIT]) + "…"
    return repr(value)


def _count_digits(value: str) -> int:
    return sum(c in _ASCII_DIGITS for c in value)


# --- SNILS (domain.md §4.1) -------------------------------------------------------------------

# 11223344595, 112-233-445 95, 112-233-445-95, 112 233 445 95, 112233445 95: the three groups
# share one separator (or none); before the check digits a space or that separator.
_SNILS_LAYOUT = re.compile(r"([0-9]{3})([- ]?)([0-9]{3})\2([0-9]{3})(?:\2| )([0-9]{2})")
_SNILS_CHARACTERS = frozenset("0123456789- ")
# "Check only numbers greater than 001-001-998": lower numbers predate the check number.
_SNILS_LAST_UNCHECKED = 1_001_998
_SNILS_WEIGHTS = range(9, 0, -1)


def _snils_check_number(total: int) -> int:
    """The check number for a weighted sum, rule 3 of domain.md §4.1 case by case."""
    if total < 100:
        return total
    if total in (100, 101):
        return 0
    remainder = total % 101
    return 0 if remainder == 100 else remainder


def snils_check_digits(first9: str) -> str:
    """The two check digits of a SNILS whose first nine digits are ``first9``.

    Raises ValueError unless ``first9`` is nine digits greater than 001001998: numbers up to
    001-001-998 have no check digits, any two digits are accepted there.
    """
    if len(first9) != 9 or not _DIGITS.fullmatch(first9):
        raise ValueError(f"the body of a SNILS is 9 digits, not {_quote(first9)}")
    if int(first9) <= _SNILS_LAST_UNCHECKED:
        raise ValueError(f"SNILS numbers up to 001-001-998 have no check digits ({first9})")
    total = sum(int(d) * w for d, w in zip(first9, _SNILS_WEIGHTS, strict=True))
    return f"{_snils_check_number(total):02d}"


def _snils_layout_reason(value: str) -> str:
    """Why ``value`` is not written as a SNILS (it did not match the layout)."""
    bad = next((c for c in value if c not in _SNILS_CHARACTERS), None)
    if bad is not None:
        return f"only the digits 0-9, hyphens and spaces are allowed, not {bad!r}"
    count = _count_digits(value)
    if count != 11:
        return f"a SNILS has 11 digits, this has {count}"
    if value != value.strip(" "):
        return "no spaces are allowed before or after it"
    return "write it as XXX-XXX-XXX YY, XXX XXX XXX YY or 11 digits together"


def normalize_snils(value: str) -> str:
    """The 11 digits of a SNILS written in an accepted layout; ValueError otherwise.

    Does not look at the check digits: :func:`is_valid_snils` does.
    """
    match = _SNILS_LAYOUT.fullmatch(value)
    if match is None:
        raise ValueError(f"SNILS {_quote(value)}: {_snils_layout_reason(value)}")
    first, _, second, third, check = match.groups()
    return first + second + third + check


def format_snils(digits: str) -> str:
    """``XXX-XXX-XXX YY`` from the 11 digits of a SNILS."""
    if len(digits) != 11 or not _DIGITS.fullmatch(digits):
        raise ValueError(f"a SNILS to format is 11 digits, not {_quote(digits)}")
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:]}"


def snils_problem(value: str) -> str | None:
    """None for a valid SNILS, else why it is not."""
    try:
        digits = normalize_snils(value)
    except ValueError as e:
        return str(e)
    body, check = digits[:9], digits[9:]
    if int(body) <= _SNILS_LAST_UNCHECKED:
        return None
    expected = snils_check_digits(body)
    if check != expected:
        return f"SNILS {format_snils(digits)}: the check digits should be {expected}"
    return None


def is_valid_snils(value: str) -> bool:
    """Whether ``value`` is a SNILS in an accepted layout with the right check digits."""
    return snils_problem(value) is None


# --- OMS policy numbers (domain.md §4.2) ------------------------------------------------------


def luhn_check_digit(body: str) -> str:
    """The Luhn check digit of a string of digits.

    This is the Mod10 of ISO/HL7 27931 that the ENP uses: doubling the odd-position digits as
    one number carries exactly where Luhn subtracts 9 (a digit of 5 or more), so the digit sums
    are equal.
    """
    if not _DIGITS.fullmatch(body):
        raise ValueError(f"a Luhn body is digits only, not {_quote(body)}")
    total = 0
    # The check digit will be appended, so the body's last digit is the first one doubled.
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit >= 5 else digit * 2
        total += digit
    return str(-total % 10)


def enp_check_digit(first15: str) -> str:
    """The 16th digit of a unified OMS policy number (ЕНП) whose first 15 digits are given."""
    if len(first15) != 15 or not _DIGITS.fullmatch(first15):
        raise ValueError(f"the body of an ENP is 15 digits, not {_quote(first15)}")
    return luhn_check_digit(first15)


def _digits_reason(value: str, what: str, length: int) -> str | None:
    """Why ``value`` is not exactly ``length`` ASCII digits, or None when it is."""
    bad = next((c for c in value if c not in _ASCII_DIGITS), None)
    if bad is not None:
        return f"only the digits 0-9 are allowed, not {bad!r}"
    if len(value) != length:
        return f"{what} has {length} digits, this has {len(value)}"
    return None


def enp_problem(value: str) -> str | None:
    """None for a valid unified OMS policy number (16 digits, the last the check digit)."""
    reason = _digits_reason(value, "an ENP", 16)
    if reason is not None:
        return f"ENP {_quote(value)}: {reason}"
    expected = enp_check_digit(value[:15])
    if value[15] != expected:
        return f"ENP {value}: the check digit should be {expected}"
    return None


def is_valid_enp(value: str) -> bool:
    """Whether ``value`` is 16 digits whose last is the Luhn check digit of the first 15."""
    return enp_problem(value) is None


def temporary_certificate_problem(value: str) -> str | None:
    """None for a valid temporary OMS certificate number (9 digits), else why it is not."""
    reason = _digits_reason(value, "a temporary certificate number", 9)
    return None if reason is None else f"temporary OMS certificate {_quote(value)}: {reason}"


def is_valid_temporary_certificate(value: str) -> bool:
    """Whether ``value`` is the 9 digits of a temporary OMS certificate."""
    return temporary_certificate_problem(value) is None


# --- Birth certificate (domain.md §4.3) -------------------------------------------------------

# UNVERIFIED (domain.md §4.3): the suggested rules, series ^[IVXLCDM]+-[А-ЯЁ]{2}$ and number
# ^\d{6}$ (ASCII digits here); check them against the official birth certificate form.
_BIRTH_SERIES = re.compile(r"[IVXLCDM]+-[А-ЯЁ]{2}")
_BIRTH_NUMBER_LENGTH = 6
_ROMAN = re.compile(r"[IVXLCDM]+")
_SERIES_SHAPE = "a Roman numeral, a hyphen and two capital Cyrillic letters, e.g. IV-АИ"


@dataclass(frozen=True, slots=True)
class BirthCertificate:
    """A Russian birth certificate; ``value`` is its ``Identifier.value``."""

    series: str
    number: str

    @property
    def value(self) -> str:
        return f"{self.series} {self.number}"


def _is_cyrillic(char: str) -> bool:
    return "\u0400" <= char <= "\u04ff"


def _series_reason(series: str) -> str | None:
    """Why ``series`` is not a birth certificate series, or None when it is."""
    if _BIRTH_SERIES.fullmatch(series):
        return None
    roman, hyphen, letters = series.partition("-")
    if hyphen and any(map(_is_cyrillic, roman)):
        # Х, С, М and І look like Roman numerals but are Cyrillic: the commonest typing slip.
        return f"the series {_quote(series)} has Cyrillic letters in its Roman numeral; use Latin I V X L C D M"
    if hyphen and _ROMAN.fullmatch(roman) and any(c.isascii() and c.isalpha() for c in letters):
        # The same slip the other way: Latin A, B, E, K, M, H, O, P, C, T, X among the letters.
        return f"the series {_quote(series)} has Latin letters after the hyphen; use two capital Cyrillic letters"
    return f"the series is {_SERIES_SHAPE}, not {_quote(series)}"


def _number_reason(number: str) -> str | None:
    """Why ``number`` is not a birth certificate number (6 digits, UNVERIFIED), or None."""
    return _digits_reason(number, "the number", _BIRTH_NUMBER_LENGTH)


def _birth_certificate_reason(series: str, number: str) -> str | None:
    return _series_reason(series) or _number_reason(number)


def is_valid_birth_certificate(series: str, number: str) -> bool:
    """Whether series and number fit the suggested, UNVERIFIED, rules of domain.md §4.3."""
    return _birth_certificate_reason(series, number) is None


def _split_birth_certificate(value: str) -> tuple[str, str]:
    """Series and number of ``series number``; ValueError unless one space separates them."""
    series, space, number = value.partition(" ")
    if not space or not series or " " in number:
        raise ValueError(
            f"birth certificate {_quote(value)}: write the series, one space and the number, e.g. 'IV-АИ 123456'"
        )
    return series, number


def parse_birth_certificate(value: str) -> BirthCertificate:
    """The certificate in an ``Identifier.value`` like ``IV-АИ 123456``; ValueError with the reason."""
    series, number = _split_birth_certificate(value)
    reason = _birth_certificate_reason(series, number)
    if reason is not None:
        raise ValueError(f"birth certificate {_quote(value)}: {reason}")
    return BirthCertificate(series, number)


def format_birth_certificate(series: str, number: str) -> str:
    """The ``Identifier.value`` of a certificate; ValueError if series or number is wrong."""
    reason = _birth_certificate_reason(series, number)
    if reason is not None:
        raise ValueError(f"birth certificate {_quote(series)} {_quote(number)}: {reason}")
    return BirthCertificate(series, number).value


def birth_certificate_problem(value: str) -> str | None:
    """None for a valid birth certificate ``Identifier.value``, else why it is not."""
    try:
        parse_birth_certificate(value)
    except ValueError as e:
        return str(e)
    return None


# --- Naming systems (naming_systems.json) -----------------------------------------------------

Check: TypeAlias = Callable[[str], str | None]

# The functions naming_systems.json may name: the data picks among them, it cannot call
# anything else in the module.
_VALIDATORS: dict[str, Check] = {
    "snils_problem": snils_problem,
    "enp_problem": enp_problem,
    "temporary_certificate_problem": temporary_certificate_problem,
    "birth_certificate_problem": birth_certificate_problem,
}
_FIELDS = frozenset({"key", "system", "name", "validator", "source"})


@dataclass(frozen=True, slots=True)
class NamingSystem:
    """An identifier system medcard knows: its FHIR URI and the check its values get."""

    key: str
    system: str
    name: str
    validator: str | None
    source: str


def _naming_system(entry: Any) -> NamingSystem:
    """One entry of the file, checked field by field."""
    if not isinstance(entry, dict) or set(entry) != _FIELDS:
        raise ValueError(f"a naming system has exactly the fields {sorted(_FIELDS)}: {entry!r}")
    if not all(isinstance(entry[f], str) and entry[f] for f in ("key", "system", "name", "source")):
        raise ValueError(f"key, system, name and source are non-empty strings: {entry!r}")
    validator = entry["validator"]
    if validator is not None and validator not in _VALIDATORS:
        raise ValueError(f"naming system {entry['key']!r}: unknown validator {validator!r}")
    return NamingSystem(entry["key"], entry["system"], entry["name"], validator, entry["source"])


def read_naming_systems(text: str) -> dict[str, NamingSystem]:
    """The naming systems of a ``naming_systems.json`` document, by system URI; ValueError if wrong."""
    document = json.loads(text)
    if not isinstance(document, dict) or not isinstance(document.get("systems"), list):
        raise ValueError("a naming systems document is an object with a 'systems' list")
    systems: dict[str, NamingSystem] = {}
    keys: set[str] = set()
    for entry in document["systems"]:
        naming = _naming_system(entry)
        if naming.system in systems or naming.key in keys:
            raise ValueError(f"naming system {naming.key!r} or {naming.system!r} appears twice")
        systems[naming.system] = naming
        keys.add(naming.key)
    return systems


@cache
def _systems() -> dict[str, NamingSystem]:
    text = resources.files("medcard.core").joinpath("naming_systems.json").read_text(encoding="utf-8")
    return read_naming_systems(text)


@cache
def _checks() -> dict[str, Check]:
    """System URI -> check function, for the systems that have one."""
    return {s.system: _VALIDATORS[s.validator] for s in _systems().values() if s.validator is not None}


@cache
def _uris() -> dict[str, str]:
    return {s.key: s.system for s in _systems().values()}


def naming_systems() -> dict[str, NamingSystem]:
    """The identifier systems medcard knows, by system URI (a copy: changing it changes nothing)."""
    return dict(_systems())


def system_uri(key: str) -> str:
    """The system URI of a naming system by its key, e.g. ``system_uri("snils")``."""
    try:
        return _uris()[key]
    except KeyError:
        raise KeyError(f"no naming system {key!r}; known: {', '.join(sorted(_uris()))}") from None


def check_identifier(system: str, value: str) -> str | None:
    """Why ``value`` is not a valid identifier of ``system``, or None.

    None also when the system is unknown or has no validator: medcard checks only what it
    knows the rule of.
    """
    check = _checks().get(system)
    return None if check is None else check(value)
