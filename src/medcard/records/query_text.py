"""What a clinician typed into the one search box of the workspace, and what to search for.

One box takes everything a registrar or a doctor has at hand (ux.md §1: "find a child by ФИО +
дата рождения or by полис in ≤5 s"):

- a surname, whole or its first letters, misspelled or in Latin letters, optionally followed by the
  given name (or its first letters, or an initial) and a birth date ``ДД.ММ.ГГГГ`` anywhere in the text;
- a SNILS, with or without its hyphens and spaces (11 digits; the check number is verified);
- an OMS policy number, ЕНП (16 digits; its check digit is verified);
- a paper card's number (ф. 112/у), e.g. ``3-000123``: letters and digits with ``-`` or ``/``, as the
  card's cover shows it.

:func:`read` decides which, without the database; an impossible value (a SNILS whose check number
is wrong, a date that does not exist) is a :class:`Query` with a ``problem``, so the page can say
what is wrong instead of showing "nothing found".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from medcard.core.identifiers import enp_problem, snils_problem
from medcard.fhir.search.phonetic import skeleton

MAX_TEXT = 200  # characters of the box that count
MIN_SURNAME = 2  # letters of a surname before it is searched: one letter matches a tenth of the city
# ДД.ММ.ГГГГ (also with / or -, and one-digit day or month: 5.3.2019)
_DATE = re.compile(r"(?<![0-9])([0-9]{1,2})[./-]([0-9]{1,2})[./-]([0-9]{4})(?![0-9])")
_IDENTIFIER_CHARACTERS = re.compile(r"[0-9 -]+")
_CARD = re.compile(r"[0-9A-Za-zА-Яа-яЁё/-]*[0-9][0-9A-Za-zА-Яа-яЁё/-]*")
# A word of letters; a hyphen or an apostrophe between letters stays in it (Салтыков-Щедрин, Д'Артаньян).
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*")

# What a query asks for.
NAME, SNILS, ENP, PAPER_CARD, NOTHING = "name", "snils", "enp", "paper-card", "nothing"
# Why it cannot be searched as typed (the page says it in words).
TOO_SHORT, DATE_ONLY, BAD_DATE, BAD_SNILS, BAD_ENP = "too-short", "date-only", "bad-date", "bad-snils", "bad-enp"


@dataclass(frozen=True, slots=True)
class Query:
    """The box's text read: what to search for, or why not (``problem``)."""

    kind: str  # NAME, SNILS, ENP, PAPER_CARD or NOTHING
    surname: str = ""  # the surname as typed (NAME)
    given: str = ""  # the given name or its first letters, as typed (NAME)
    birth_date: date | None = None  # NAME
    identifier: str = ""  # SNILS or ENP digits, or the paper card's number as typed
    problem: str | None = None

    @property
    def surname_key(self) -> str:
        """The surname's phonetic skeleton (fhir/search/phonetic.py)."""
        return skeleton(self.surname)

    @property
    def given_key(self) -> str:
        return skeleton(self.given)


def read(text: str) -> Query:
    """What ``text`` asks for (see the module's documentation)."""
    text = " ".join(text[:MAX_TEXT].split())
    if not text:
        return Query(NOTHING)
    compact = text.replace(" ", "").replace("-", "")
    if _IDENTIFIER_CHARACTERS.fullmatch(text) and compact.isdigit() and len(compact) in (11, 16):
        return _identifier(compact)
    if " " not in text and _CARD.fullmatch(text) and not _DATE.fullmatch(text):
        return Query(PAPER_CARD, identifier=text.upper())
    return _name(text)


def _identifier(digits: str) -> Query:
    if len(digits) == 16:
        return Query(ENP, identifier=digits, problem=BAD_ENP if enp_problem(digits) else None)
    return Query(SNILS, identifier=digits, problem=BAD_SNILS if snils_problem(digits) else None)


def _name(text: str) -> Query:
    """A surname, perhaps the given name, perhaps a birth date."""
    born: date | None = None
    problem = None
    found = _DATE.search(text)
    if found is not None:
        day, month, year = (int(g) for g in found.groups())
        try:
            born = date(year, month, day)
        except ValueError:
            problem = BAD_DATE
        text = (text[: found.start()] + " " + text[found.end():]).strip()
    words = _WORD.findall(text)
    if not words:
        return Query(NOTHING, birth_date=born, problem=problem or (DATE_ONLY if born else None))
    surname, given = words[0], " ".join(words[1:])
    query = Query(NAME, surname=surname, given=given, birth_date=born, problem=problem)
    if problem is None and (len(surname) < MIN_SURNAME or not query.surname_key):
        return Query(NAME, surname=surname, given=given, birth_date=born, problem=TOO_SHORT)
    return query
