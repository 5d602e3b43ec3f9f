"""What the workspace's one search box reads a text as (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from medcard.core.identifiers import enp_check_digit, format_snils, snils_check_digits
from medcard.records import query_text
from medcard.records.query_text import Query, read

SNILS = "112233445" + snils_check_digits("112233445")
ENP = "770000000000001"
ENP += enp_check_digit(ENP)


@pytest.mark.parametrize("typed", [SNILS, format_snils(SNILS), f"{SNILS[:3]}-{SNILS[3:6]}-{SNILS[6:9]}-{SNILS[9:]}",
                                   f"{SNILS[:3]} {SNILS[3:6]} {SNILS[6:9]} {SNILS[9:]}", f" {SNILS} "])
def test_a_snils_is_read_with_or_without_its_hyphens(typed: str) -> None:
    assert read(typed) == Query(query_text.SNILS, identifier=SNILS)


def test_a_snils_with_a_wrong_check_number_is_named_as_such() -> None:
    wrong = SNILS[:9] + f"{(int(SNILS[9:]) + 1) % 100:02d}"
    assert read(wrong) == Query(query_text.SNILS, identifier=wrong, problem=query_text.BAD_SNILS)


def test_a_policy_number_is_sixteen_digits_with_its_check_digit() -> None:
    assert read(ENP) == Query(query_text.ENP, identifier=ENP)
    assert read(f"{ENP[:4]} {ENP[4:8]} {ENP[8:12]} {ENP[12:]}") == Query(query_text.ENP, identifier=ENP)
    wrong = ENP[:15] + str((int(ENP[15]) + 1) % 10)
    assert read(wrong).problem == query_text.BAD_ENP


@pytest.mark.parametrize(("typed", "number"), [("3-000123", "3-000123"), ("12/345", "12/345"), ("а-17", "А-17"),
                                               ("000123", "000123"), ("1234567", "1234567")])
def test_a_paper_card_number_is_taken_as_written(typed: str, number: str) -> None:
    assert read(typed) == Query(query_text.PAPER_CARD, identifier=number)


def test_a_surname_with_a_given_name_and_a_birth_date_in_any_place() -> None:
    expected = Query(query_text.NAME, surname="Иванов", given="Пётр", birth_date=date(2019, 3, 12))
    assert read("Иванов Пётр 12.03.2019") == expected
    assert read("12.03.2019 Иванов Пётр") == expected
    assert read("  Иванов   Пётр,  12.03.2019 ") == expected
    assert read("иванов 5.3.2019") == Query(query_text.NAME, surname="иванов", birth_date=date(2019, 3, 5))
    assert read("Салтыков-Щедрин").surname == "Салтыков-Щедрин"


def test_a_date_still_being_typed_is_left_out_until_it_is_whole() -> None:
    assert read("Иванов 12.03.20") == Query(query_text.NAME, surname="Иванов")
    assert read("Иванов 12.0") == Query(query_text.NAME, surname="Иванов")


def test_what_cannot_be_searched_says_why() -> None:
    assert read("") == Query(query_text.NOTHING)
    assert read("   ") == Query(query_text.NOTHING)
    assert read("И").problem == query_text.TOO_SHORT
    assert read("12.03.2019") == Query(query_text.NOTHING, birth_date=date(2019, 3, 12), problem=query_text.DATE_ONLY)
    assert read("Иванов 31.02.2019").problem == query_text.BAD_DATE
    assert read("!!! ???") == Query(query_text.NOTHING)


def test_the_surname_key_is_the_phonetic_skeleton() -> None:
    assert read("Фёдоров").surname_key == read("Fyodorov").surname_key == "fedorov"
    assert read("Иванов П").given_key == "p"
    assert len(read("Я" * 10_000).surname) <= query_text.MAX_TEXT
