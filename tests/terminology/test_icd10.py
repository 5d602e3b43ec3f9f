"""ICD-10 with Russian titles: the shipped list, the picker's search, code lookup and chapters."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from medcard.access.policy import ICD10
from medcard.terminology import icd10
from medcard.terminology.chapters import CHAPTERS, chapter_of

T = TypeVar("T")
SHIPPED = Path(icd10.__file__).parent / "data" / "icd10_pediatric.csv"


def run(url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    """``work`` on an autocommit connection to the test database."""

    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await work(conn)

    return asyncio.run(go())


def search(url: str, q: str, limit: int = 20) -> list[icd10.Icd10]:
    return run(url, lambda conn: icd10.search(conn, q, limit))


def codes(url: str, q: str, limit: int = 20) -> list[str]:
    return [found.code for found in search(url, q, limit)]


def test_the_migration_loads_the_shipped_pediatric_list(database_url: str) -> None:
    found = run(database_url, lambda conn: icd10.lookup(conn, "J06.9"))
    assert found == icd10.Icd10("J06.9", "Острая инфекция верхних дыхательных путей неуточненная",
                                "medcard-pediatric-1")
    version, rows = icd10.shipped()
    with psycopg.connect(database_url) as conn:
        count = conn.execute("SELECT count(*) FROM icd10 WHERE version = %s", (version,)).fetchone()
    assert count == (len(rows),)
    assert len(rows) >= 150


def test_the_shipped_list_is_well_formed() -> None:
    """Every row: a recordable code in a chapter, a title without ё (NSI writes е), no code twice."""
    version, rows = icd10.shipped()
    assert version == "medcard-pediatric-1"
    assert len({r.code for r in rows}) == len(rows)
    for r in rows:
        assert chapter_of(r.code) is not None, r.code
        assert r.title_ru, r.code
        assert "ё" not in r.title_ru, r.code
        assert r.title_ru == r.title_ru.strip(), r.code
    # the examples the issue names, with their NSI titles
    titles = {r.code: r.title_ru for r in rows}
    assert titles["J00"] == "Острый назофарингит [насморк]"
    assert titles["H66.9"] == "Средний отит неуточненный"
    assert titles["E66.0"] == "Ожирение, обусловленное избыточным поступлением энергетических ресурсов"
    assert titles["K59.0"] == "Запор"
    with SHIPPED.open(encoding="utf-8") as f:
        header = next(line for line in f if not line.startswith("#"))
    assert next(csv.reader([header], delimiter=";")) == ["code", "title_ru", "synonyms"]


def test_a_code_prefix_lists_the_codes_under_it_in_order(database_url: str) -> None:
    assert codes(database_url, "J06") == ["J06.0", "J06.8", "J06.9"]
    assert codes(database_url, "j06.") == ["J06.0", "J06.8", "J06.9"]
    assert codes(database_url, "j069") == ["J06.9"]
    assert codes(database_url, " J06.9 ") == ["J06.9"]
    # typed without switching from the Russian layout: о is on the key of j
    assert codes(database_url, "о06") == ["J06.0", "J06.8", "J06.9"]
    assert codes(database_url, "J4", limit=3) == ["J40", "J45.0", "J45.1"]
    # the fifth character of the Russian edition (a fracture, closed), with or without the dot
    assert codes(database_url, "s4200") == codes(database_url, "S42.00") == ["S42.00"]


def test_title_words_find_the_diagnosis_in_any_order_and_form(database_url: str) -> None:
    assert codes(database_url, "средний отит")[0] == "H66.9"
    both = search(database_url, "бронхит острый")
    assert both
    assert all("бронхит" in f.title_ru.lower() and "остр" in f.title_ru.lower() for f in both)
    assert "J20.9" in [f.code for f in both]
    # ё typed where the reference writes е
    assert "E44.1" in codes(database_url, "лёгкая белково")


def test_a_pediatricians_abbreviation_finds_the_code(database_url: str) -> None:
    assert codes(database_url, "ОРВИ")[0] == "J06.9"
    assert codes(database_url, "ветрянка")[:2] == ["B01.9", "B01.8"]  # the shorter title first
    assert "K82.8" in codes(database_url, "джвп")


def test_a_misspelled_word_still_finds_the_diagnosis(database_url: str) -> None:
    assert "J20.9" in codes(database_url, "бранхит")
    assert "L20.9" in codes(database_url, "атопический дерматид")


def test_only_codes_a_doctor_records_are_offered(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO icd10 (code, title_ru, parent, version, actual) VALUES "
                     "('J06', 'Острые инфекции верхних дыхательных путей множественной и неуточненной локализации', "
                     "NULL, 'test', true), ('U08.1', 'Использование в чрезвычайной ситуации подрубрики U08.1', "
                     "NULL, 'test', false)")
        conn.execute(icd10.MARK_LEAVES)
    try:
        assert "J06" not in codes(database_url, "J06")
        assert run(database_url, lambda conn: icd10.lookup(conn, "J06")) is None
        assert run(database_url, lambda conn: icd10.lookup(conn, "U08.1")) is None  # retired
        assert codes(database_url, "U08") == []
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM icd10 WHERE version = 'test'")
            conn.execute(icd10.MARK_LEAVES)


def test_lookup_takes_a_code_as_typed_and_refuses_what_is_not_one(database_url: str) -> None:
    assert run(database_url, lambda conn: icd10.lookup(conn, "h66.9")) == icd10.Icd10(
        "H66.9", "Средний отит неуточненный", "medcard-pediatric-1")
    for code in ("X99.9", "J06", "", "отит", "J06.9; DROP TABLE icd10", "%", "J0_.9"):
        assert run(database_url, lambda conn, c=code: icd10.lookup(conn, c)) is None, code


def test_search_survives_any_text_and_bounds_the_answer(database_url: str) -> None:
    for q in ("", "   ", "%", "_", "\\", "'", "J06%", "a" * 10_000, "Ω", "100%", "🙂"):
        found = search(database_url, q)
        assert isinstance(found, list)
    assert codes(database_url, "%") == []
    assert len(search(database_url, "а", limit=5)) <= 5
    assert len(search(database_url, "и", limit=10_000)) <= icd10.MAX_LIMIT


@pytest.mark.parametrize(("code", "numeral"), [
    ("A09.0", "I"), ("B99", "I"), ("D48", "II"), ("D50.9", "III"), ("E66.0", "IV"), ("F90.0", "V"),
    ("G40.9", "VI"), ("H10.9", "VII"), ("H59", "VII"), ("H60.9", "VIII"), ("H66.9", "VIII"), ("I49.9", "IX"),
    ("J06.9", "X"), ("K59.0", "XI"), ("L20.8", "XII"), ("M41.1", "XIII"), ("N39.0", "XIV"), ("O80", "XV"),
    ("P59.9", "XVI"), ("Q21.0", "XVII"), ("R50.9", "XVIII"), ("S06.0", "XIX"), ("T78.3", "XIX"),
    ("W19", "XX"), ("Z00.1", "XXI"), ("U07.1", "XXII"), ("j06.9", "X"), ("A17.0*", "I"),
])
def test_a_code_maps_to_its_chapter(code: str, numeral: str) -> None:
    found = chapter_of(code)
    assert found is not None
    assert found.numeral == numeral


def test_what_is_not_a_code_has_no_chapter() -> None:
    for text in ("", "J", "J6", "отит", "A00-A09", "XX", "J06.9.1", "1J06"):
        assert chapter_of(text) is None, text
    assert [c.numeral for c in CHAPTERS][:3] == ["I", "II", "III"]
    assert len(CHAPTERS) == 22


def test_a_diagnosis_coding_names_the_system_the_policy_reads_and_the_list_version() -> None:
    item = icd10.Icd10("J06.9", "Острая инфекция верхних дыхательных путей неуточненная", "2.27")
    assert icd10.coding(item) == {"system": ICD10, "version": "2.27", "code": "J06.9",
                                  "display": "Острая инфекция верхних дыхательных путей неуточненная"}
