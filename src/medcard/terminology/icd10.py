"""ICD-10 (МКБ-10) with Russian titles: the diagnosis picker's search, code lookup, and replacing the list.

The table ``icd10`` (migration 0014) holds one list: the shipped pediatric list, or the official NSI
1005 reference an operator loaded (:mod:`medcard.terminology.nsi`). Search and lookup offer only the
codes a doctor records now: leaves of the hierarchy (J06.9, not J06 or the block J00-J06) that NSI
marks actual.

How the picker's text is read (:func:`search`):

- a letter and a digit is a code prefix: ``j06``, ``J06.``, ``J069`` (the dot may be left out), and
  ``О06`` typed with the Russian keyboard layout, which puts о where j is;
- anything else is words: every word must occur in the code, title or synonyms (``орви``, ``бронхит
  острый``), best matches first by pg_trgm's word similarity; when no title has every word, the
  closest titles by trigram similarity are offered instead (``бранхит``), so a typo still finds it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from medcard.terminology.chapters import Chapter, chapter_of

__all__ = ["SYSTEM", "SYSTEM_OID", "Chapter", "Icd10", "chapter_of", "coding", "lookup", "search"]

# The federal reference's OID (what СЭМД documents name as the diagnosis code system).
SYSTEM_OID = "1.2.643.5.1.13.13.11.1005"
# The FHIR system of a diagnosis coding in medcard's records: HL7's ICD-10 URI, the one the records,
# the synthetic city and the access policy's drug-addiction rule (F10-F19, policy.json) read; the
# Russian list's version goes in Coding.version.
SYSTEM = "http://hl7.org/fhir/sid/icd-10"
MAX_QUERY = 100  # characters of the picker's text that count
MAX_LIMIT = 100
FUZZY_THRESHOLD = 0.4  # pg_trgm word similarity of a misspelled word to the title's closest words

# The Russian keyboard layout's letters on the Latin keys: a code typed without switching layout.
_LAYOUT = str.maketrans("йцукенгшщзфывапролдячсмить", "qwertyuiopasdfghjklzxcvbnm")
_CODE_PREFIX = re.compile(r"([a-z])([0-9]{1,2})(?:([0-9]{1,2})?|\.([0-9]{0,2}))")
_WORD = re.compile(r"[^\W_]+")
_COLUMNS = "code, title_ru, version"
_OFFERED = "leaf AND actual"


@dataclass(frozen=True, slots=True)
class Icd10:
    """One ICD-10 code as a diagnosis carries it: code, Russian title, version of the list."""

    code: str
    title_ru: str
    version: str


def _normal(text: str) -> str:
    """Lowercase, ё as е, single spaces: the form ``icd10.search_text`` is kept in."""
    return " ".join(text.lower().replace("ё", "е").split())


def code_prefix(q: str) -> str | None:
    """The ICD-10 code prefix the text is, in upper case (``j069`` -> ``J06.9``), or None for words."""
    text = _normal(q).replace(" ", "")
    if text[:1].isalpha() and not text[:1].isascii():
        text = text[:1].translate(_LAYOUT) + text[1:]
    match = _CODE_PREFIX.fullmatch(text)
    if match is None:
        return None
    letter, digits, undotted, dotted = match.groups()
    if len(digits) < 2:
        return f"{letter}{digits}".upper()
    tail = undotted if undotted is not None else dotted
    dot = "." if (tail or "." in text) else ""
    return f"{letter}{digits}{dot}{tail or ''}".upper()


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(conn: psycopg.AsyncConnection[Any], q: str, limit: int = 20) -> list[Icd10]:
    """The codes matching the picker's text ``q`` (a code prefix or title words), best first."""
    q = _normal(q[:MAX_QUERY])
    limit = max(1, min(limit, MAX_LIMIT))
    if not q:
        return []
    prefix = code_prefix(q)
    if prefix is not None:
        found = await _rows(conn, f"SELECT {_COLUMNS} FROM icd10 WHERE {_OFFERED} AND code LIKE %s "
                                  "ORDER BY code LIMIT %s", (prefix.replace("_", "\\_") + "%", limit))
        if found:
            return found
    words = _WORD.findall(q)
    if not words:
        return []
    found = await _rows(conn, f"SELECT {_COLUMNS} FROM icd10 WHERE {_OFFERED} AND search_text LIKE ALL(%s) "
                              "ORDER BY word_similarity(%s, search_text) DESC, length(title_ru), code LIMIT %s",
                        ([_like(w) for w in words], q, limit))
    if found or prefix is not None:
        return found  # a code that is not in the list is not "close" to its neighbours
    return await _closest(conn, q, limit)


async def _closest(conn: psycopg.AsyncConnection[Any], q: str, limit: int) -> list[Icd10]:
    """A typo: the titles whose words are closest to ``q`` (pg_trgm's ``<%``, trigram-indexed).

    pg_trgm's default threshold of word similarity, 0.6, misses one wrong letter in a short word
    (бранхит: 0.45); :data:`FUZZY_THRESHOLD` is set for this statement only and the setting put back,
    so a caller's transaction is left as it was.
    """
    async with conn.transaction():
        cur = await conn.execute("SELECT current_setting('pg_trgm.word_similarity_threshold'), "
                                 "set_config('pg_trgm.word_similarity_threshold', %s, true)", (str(FUZZY_THRESHOLD),))
        previous = (await cur.fetchone() or ("0.6",))[0]
        found = await _rows(conn, f"SELECT {_COLUMNS} FROM icd10 WHERE {_OFFERED} AND %s <%% search_text "
                                  "ORDER BY word_similarity(%s, search_text) DESC, code LIMIT %s", (q, q, limit))
        await conn.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)", (previous,))
    return found


def coding(item: Icd10) -> dict[str, str]:
    """The FHIR Coding a diagnosis carries: system, version of the list, code and Russian title."""
    return {"system": SYSTEM, "version": item.version, "code": item.code, "display": item.title_ru}


async def lookup(conn: psycopg.AsyncConnection[Any], code: str) -> Icd10 | None:
    """The code if a doctor may record it now (a leaf of the list, actual), else None.

    Letters are taken in either case; ``J069`` is ``J06.9``.
    """
    prefix = code_prefix(code)
    if prefix is None:
        return None
    found = await _rows(conn, f"SELECT {_COLUMNS} FROM icd10 WHERE {_OFFERED} AND code = %s", (prefix,))
    return found[0] if found else None


async def _rows(conn: psycopg.AsyncConnection[Any], sql: str, params: tuple[Any, ...]) -> list[Icd10]:
    cur = await conn.execute(sql, params)
    return [Icd10(code, title, version) for code, title, version in await cur.fetchall()]


# Replacing the list ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """A row of the list as loaded: ``parent`` is the code of the row above (None for a chapter)."""

    code: str
    title_ru: str
    parent: str | None
    actual: bool = True
    synonyms: str | None = None


MARK_LEAVES = "UPDATE icd10 t SET leaf = NOT EXISTS (SELECT 1 FROM icd10 c WHERE c.parent = t.code)"


async def replace(conn: psycopg.AsyncConnection[Any], version: str, rows: list[Row]) -> int:
    """Replace the whole list with ``rows`` of ``version``, in the caller's transaction; the rows written."""
    await conn.execute("DELETE FROM icd10")
    async with conn.cursor().copy(
            "COPY icd10 (code, title_ru, parent, version, actual, synonyms) FROM STDIN") as copy:
        for r in rows:
            await copy.write_row((r.code, r.title_ru, r.parent, version, r.actual, r.synonyms))
    await conn.execute(MARK_LEAVES)
    return len(rows)


def parent_of(code: str) -> str | None:
    """The code above a code of the shipped list: J06 for J06.9, S42.0 for S42.00, none for a category."""
    return code[:-1] if len(code) == 6 else code[:3] if "." in code else None


def shipped() -> tuple[str, list[Row]]:
    """The shipped pediatric list (``data/icd10_pediatric.csv``): its version and rows."""
    text = resources.files("medcard.terminology").joinpath("data/icd10_pediatric.csv").read_text("utf-8")
    lines = text.splitlines()
    version = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("# version:"))
    rows = [Row(r["code"], r["title_ru"], parent_of(r["code"]), True, r["synonyms"] or None)
            for r in csv.DictReader((line for line in lines if not line.startswith("#")), delimiter=";")]
    return version, rows


async def install_shipped(conn: psycopg.AsyncConnection[Any]) -> int:
    """Replace the list with the shipped one (what migration 0014 loads), in the caller's transaction."""
    version, rows = shipped()
    return await replace(conn, version, rows)
