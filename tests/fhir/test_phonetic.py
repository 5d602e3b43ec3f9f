"""Phonetic skeletons: the spellings of a surname meet, typos stay within pg_trgm's threshold,
different surnames stay apart, and ``similarity`` is pg_trgm's. The search over the store: it finds
what a trigram match over every name finds, closest first, page by page, through the dictionary of
skeletons that every write path keeps."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from alembic import command
from alembic.config import Config

from helpers import body, created_id, post, put
from medcard.core import migrate
from medcard.core.db import Database
from medcard.fhir.bulk.importer import Importer, ImportReport
from medcard.fhir.search.phonetic import search_keys, similarity, skeleton, transliterate

# pg_trgm's default pg_trgm.similarity_threshold, the bar the search applies.
THRESHOLD = 0.3

# Each family: Cyrillic first, then ICAO (passport), BGN/PCGN, GOST 7.79, German, Polish,
# Czech and typed spellings of the same name.
FAMILIES = [
    ("Иванов", "Ivanov", "Iwanow", "Ivanoff", "IVANOV", "Yvanov"),
    ("Щукин", "Shchukin", "Schukin", "Ščukin", "Szczukin", "Schtschukin", "Ŝukin", "Shtshukin", "Shukin"),
    ("Юрьев", "Yuryev", "Iurev", "Jurjew", "Yur'yev", "Yuriev", "Jurjev"),
    ("Хабибуллин", "Khabibullin", "Habibullin", "Habibulin", "Khabibulin"),
    ("Цой", "Tsoi", "Tsoy", "Coj", "Tsoj", "Tzoi"),
    ("Фёдоров", "Федоров", "Fedorov", "Fyodorov", "Fiodorov", "Fjodorow", "Fëdorov", "Fedoroff"),
    ("Соловьёв", "Solovyov", "Solovev", "Solovjow", "Solovyev", "Soloviev", "Solov'yev", "Solovieff"),
    ("Горбачёв", "Gorbachev", "Gorbachov", "Gorbatschow", "Gorbaczow", "Gorbačov"),
    ("Хрущёв", "Khrushchev", "Khrushchov", "Chruschtschow", "Hruščov", "Khrouchtchev", "Chruszczow"),
    ("Чайковский", "Tchaikovsky", "Chaikovskiy", "Czajkowski", "Tschaikowski", "Čajkovskij", "Chaykovsky"),
    ("Кузнецов", "Kuznetsov", "Kouznetsov", "Kuznetzov", "Kuznecov", "Kuznetsoff"),
    ("Яковлев", "Yakovlev", "Iakovlev", "Jakowlew", "Jakovlev", "Yakovleff"),
    ("Шевченко", "Shevchenko", "Schewtschenko", "Szewczenko", "Ševčenko", "Shevtchenko"),
    ("Цветков", "Tsvetkov", "Cvetkov", "Tzvetkov", "Cwietkow"),
    ("Зайцев", "Zaitsev", "Zaytsev", "Zajcev", "Zaitzev", "Zaytseff"),
    ("Жуков", "Zhukov", "Žukov", "Żukow", "Zhukoff"),
    ("Алексеев", "Alekseev", "Alekseyev", "Alexejew", "Alexeev", "Aleksejev"),
    ("Ильин", "Ilyin", "Il'in", "Iljin", "Ilin", "Ilʹin"),
    ("Григорьев", "Grigoryev", "Grigoriev", "Grigorjew", "Grigorev", "Grigorieff"),
    ("Михайлов", "Mikhailov", "Mikhaylov", "Mihailov", "Mikhajlov"),
    ("Ёлкин", "Елкин", "Yolkin", "Jolkin", "Ëlkin", "Iolkin"),
    ("Королёв", "Korolev", "Korolyov", "Koroljow", "Korolyev", "Koroleff"),
    ("Воробьёв", "Vorobev", "Vorobyov", "Vorobyev", "Vorobjow", "Vorobiev"),
    ("Мухаммедов", "Mukhammedov", "Muhammedov", "Mukhamedov"),
    ("Абдуллаева", "Abdullaeva", "Abdullayeva", "Abdulaeva", "Abdullajewa"),
    ("Достоевская", "Dostoevskaya", "Dostoyevskaya", "Dostojewskaja", "Dostoevskaia", "Dostojewska"),
    ("Дягилев", "Diagilev", "Dyagilev", "Djagilew", "Diaghilev"),
    ("Максимов", "Maksimov", "Maximov", "Maximow", "Maksimoff"),
    ("Подъячев", 'Pod"yachev', "Podyachev", "Podjatschew", "Podiachev", "Podieiachev"),
    ("Толстой", "Tolstoy", "Tolstoi", "Tolstoj", "Толстои"),
    ("Салтыков-Щедрин", "Saltykov-Shchedrin", "Saltykow-Schtschedrin", "Saltykov Shchedrin"),
    ("Дзюба", "Dzyuba", "Dziuba", "Dzjuba", "Dzuba"),
    ("Джабраилов", "Dzhabrailov", "Dschabrailow", "Dzhabrailow"),
]

# Spellings the skeleton cannot tell from another sound (see the module documentation),
# still within the search threshold of the Cyrillic name.
NEAR = [
    ("Хабибуллин", "Chabibullin"),  # German ch for х
    ("Михайлов", "Michailow"),
    ("Мухаммедов", "Muchammedow"),
    ("Хрущёв", "Kruschev"),  # х typed as k
    ("Цветков", "Zwetkow"),  # German z for ц
    ("Жуков", "Schukow"),  # German sch for ж
    ("Жуков", "Zukov"),
    ("Жуков", "Joukov"),  # French j for ж
    ("Исхаков", "Ishakov"),  # sh typed for сх
    ("Джабраилов", "Djabrailov"),  # French dj for дж
    ("Джабраилов", "Jabrailov"),  # English j for дж
]

# Common surnames, for typos and for telling surnames apart.
COMMON = [
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков",
    "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов",
    "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов",
    "Яковлев", "Григорьев", "Романов", "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев",
    "Королёв", "Гусев", "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов",
    "Медведев", "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев",
    "Щербаков", "Хабибуллин",
]

CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"


@pytest.mark.parametrize("family", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_spellings_of_a_surname_meet(family: tuple[str, ...]) -> None:
    expected = skeleton(family[0])
    assert expected
    assert {spelling: skeleton(spelling) for spelling in family} == dict.fromkeys(family, expected)


@pytest.mark.parametrize(("name", "spelling"), NEAR)
def test_spellings_read_as_other_sounds_stay_within_threshold(name: str, spelling: str) -> None:
    assert similarity(skeleton(name), skeleton(spelling)) >= THRESHOLD


@pytest.mark.parametrize(("name", "expected"), [
    ("Иванов", "ivanov"),
    ("Щукин", "shukin"),  # щ is ш
    ("Хабибуллин", "khabibulin"),  # х is kh; double letters are single
    ("Юрьев", "urev"),  # ь goes; the glide of ю goes
    ("Цой", "coi"),  # ц is c; й is i
    ("Горбачёв", "gorbachev"),  # ё is e
    ("Достоевская", "dostoevska"),  # -ая: the glide goes, then the double a
    ("Салтыков-Щедрин", "saltikov shedrin"),  # ы is i; a hyphen separates words
])
def test_skeletons_that_document_the_design(name: str, expected: str) -> None:
    assert skeleton(name) == expected


@pytest.mark.parametrize(("with_yo", "with_ye"), [
    ("Фёдоров", "Федоров"), ("Семёнов", "Семенов"), ("Королёв", "Королев"), ("ЁЛКИН", "елкин"),
    ("Артём Пётр", "Артем Петр"),
])
def test_yo_is_ye(with_yo: str, with_ye: str) -> None:
    assert skeleton(with_yo) == skeleton(with_ye)


@pytest.mark.parametrize("spelling", [
    "ИВАНОВ", "иванов", "иВаНоВ", "Ива\u0301нов", "IVÁNOV", "Ivánov", "ＩＶＡＮＯＶ", "  Иванов  ", "Иванов.",
    "«Иванов»", "Иванов 2",
])
def test_case_accents_and_punctuation_do_not_matter(spelling: str) -> None:
    assert skeleton(spelling) == skeleton("Иванов")


def test_decomposed_input_is_the_same_name() -> None:
    assert skeleton(unicodedata.normalize("NFD", "Фёдоров Йохансон")) == skeleton("Федоров Иохансон")


@pytest.mark.parametrize(("a", "b"), [
    ("Ильин", "Ил'ин"), ("Ильин", "Il’in"), ("Ильин", "Ilʼin"), ("Подъячев", "Подячев"), ("Гоголь", "Gogol'"),
])
def test_signs_and_apostrophes_vanish(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(b)


def test_words_are_separated_by_one_space() -> None:
    assert skeleton("Салтыков-Щедрин") == skeleton("Салтыков \t  Щедрин") == skeleton(" салтыков — щедрин ")
    assert skeleton("Салтыков-Щедрин").count(" ") == 1


@pytest.mark.parametrize("text", ["", " ", "123", "-", "—", "'", "ь", "ъь", "№ 5", "!!!", "名前", "Ωμέγα"])
def test_no_letters_give_an_empty_skeleton(text: str) -> None:
    assert skeleton(text) == ""


def test_skeletons_are_lowercase_ascii_words() -> None:
    names = [spelling for family in FAMILIES for spelling in family] + [n for _, n in NEAR] + COMMON
    odd = [n for n in names if not re.fullmatch(r"[a-z]+( [a-z]+)*", skeleton(n))]
    assert odd == []


@pytest.mark.parametrize(("a", "b"), [
    ("Иванов", "Ивашов"), ("Иванов", "Петров"), ("Иванов", "Иванова"), ("Исхаков", "Ишаков"),
    ("Щукин", "Жуков"), ("Зайцев", "Цой"), ("Чернов", "Хернов"), ("Быков", "Бычков"),
])
def test_close_but_different_surnames_keep_different_skeletons(a: str, b: str) -> None:
    assert skeleton(a) != skeleton(b)


def test_z_is_always_ze() -> None:
    # German z for ц is not read: z in ICAO, BGN and typed spellings is з.
    assert skeleton("Zoi") == skeleton("Зой") != skeleton("Цой")
    assert skeleton("Zaitsev") == skeleton("Зайцев")


def test_common_surnames_are_apart() -> None:
    keys = {name: skeleton(name) for name in COMMON}
    assert len(set(keys.values())) == len(COMMON)
    close = {(a, b) for a, b in itertools.combinations(COMMON, 2) if similarity(keys[a], keys[b]) >= THRESHOLD}
    # Pairs that share most of a start or an end are alike for pg_trgm too; the search
    # narrows them down by birth date.
    assert close == {("Соколов", "Соловьёв"), ("Королёв", "Ковалёв"), ("Белов", "Беляев"),
                     ("Алексеев", "Александров"), ("Макаров", "Максимов")}


@pytest.mark.parametrize(("name", "typo"), [
    ("Кузнецов", "Кузнецав"), ("Кузнецов", "Кузнецв"), ("Кузнецов", "Кузенцов"), ("Смирнов", "Смирнв"),
    ("Смирнов", "Смирно"), ("Васильев", "Васильв"), ("Михайлов", "Михаилов"), ("Михайлов", "Михайлоа"),
    ("Александров", "Алексанров"), ("Александров", "Алексадров"), ("Хабибуллин", "Хабибулили"),
    ("Соловьёв", "Соловьеа"), ("Григорьев", "Грингорьев"), ("Воробьёв", "Вороьбев"), ("Иванов", "Иваноа"),
    ("Иванов", "Иванв"), ("Петров", "Петоров"), ("Петров", "Петрв"), ("Николаев", "Никлаев"),
    ("Никитин", "Никитни"), ("Щукин", "Щкин"), ("Щукин", "Щукни"), ("Юрьев", "Юрьеф"), ("Щербаков", "Щербокав"),
    ("Кудрявцев", "Кудрявцов"), ("Ефремов", "Еферемов"), ("Мельников", "Мельнков"),
    ("Kuznetsov", "Kuznetsof"), ("Kuznetsov", "Kuzentsov"), ("Kuznetsov", "Kuznetov"), ("Smirnov", "Smirnof"),
    ("Shevchenko", "Shevcheko"), ("Shevchenko", "Shevhcenko"), ("Tchaikovsky", "Tchaikovksy"),
    ("Yakovlev", "Yakolev"), ("Fyodorov", "Fydorov"), ("Zaitsev", "Zaitcev"),
    ("Chaikovsky", "Чайковкий"), ("Kuznetsova", "Кузнецва"), ("Ivanov", "Иваноф"),
])
def test_typos_stay_within_threshold(name: str, typo: str) -> None:
    assert similarity(skeleton(name), skeleton(typo)) >= THRESHOLD


def _typo_rate(edits: dict[str, list[str]], shortest: int) -> float:
    """Share of typos within the threshold, over common surnames of at least ``shortest`` skeleton letters."""
    found = [similarity(skeleton(name), skeleton(typo)) >= THRESHOLD
             for name, typos in edits.items() if len(skeleton(name)) >= shortest for typo in typos]
    assert len(found) > 100
    return sum(found) / len(found)


def test_almost_every_missing_or_changed_letter_stays_within_threshold() -> None:
    # Below five letters one changed letter leaves too few shared trigrams, whatever the skeleton.
    names = [n.lower() for n in COMMON]
    missing = {n: [n[:i] + n[i + 1:] for i in range(len(n))] for n in names}
    changed = {n: [n[:i] + c + n[i + 1:] for i in range(len(n)) for c in CYRILLIC if c != n[i]] for n in names}
    assert _typo_rate(missing, 5) >= 0.97
    assert _typo_rate(changed, 5) >= 0.97


def test_most_swapped_letters_stay_within_threshold() -> None:
    # A swap breaks four trigrams: (n - 3) / (n + 5) reaches 0.3 at seven letters, so shorter
    # skeletons (Петров: petrov and petorv share 3 of 11) fall below pg_trgm's default.
    names = [n.lower() for n in COMMON]
    swapped = {n: [n[:i] + n[i + 1] + n[i] + n[i + 2:] for i in range(len(n) - 1) if n[i] != n[i + 1]]
               for n in names}
    assert _typo_rate(swapped, 7) >= 0.9


def test_transliterate_follows_icao() -> None:
    assert transliterate(CYRILLIC) == "abvgdeezhziiklmnoprstufkhtschshshchieyeiuia"
    assert transliterate(CYRILLIC.upper()) == transliterate(CYRILLIC)


@pytest.mark.parametrize(("name", "passport"), [
    ("Щукин", "shchukin"), ("Юрьев", "iurev"), ("Подъячев", "podieiachev"), ("Ёлкин", "elkin"),
    ("Майоров", "maiorov"), ("Цой", "tsoi"), ("Хабибуллин", "khabibullin"), ("Яковлева", "iakovleva"),
    ("Салтыков-Щедрин", "saltykov-shchedrin"), ("Іван Ґонта", "ivan gonta"),
    (unicodedata.normalize("NFD", "Фёдоров"), "fedorov"),
])
def test_transliterate_passport_spellings(name: str, passport: str) -> None:
    assert transliterate(name) == passport


def test_transliterate_keeps_what_is_not_cyrillic() -> None:
    assert transliterate("Ivanov-2, Smith") == "ivanov-2, smith"


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("word", "two words", 4 / 11),  # the example of the pg_trgm documentation
    ("ivanov", "ivanova", 6 / 9),
    ("petrov", "petorv", 3 / 11),
    ("kim", "kin", 2 / 6),
    ("ab-cd", "ab cd", 1.0),  # anything but letters and digits separates words
    ("ab_cd", "ab cd", 1.0),  # so does the underscore
    ("IVANOV", "ivanov", 1.0),
    ("aaaa", "aaa", 1.0),  # trigrams are a set: aaa counts once
    ("ivanov", "petrov", 1 / 13),
    ("", "", 0.0),
    ("ivanov", "", 0.0),
    ("!!", "??", 0.0),
])
def test_similarity_is_pg_trgm(a: str, b: str, expected: float) -> None:
    # Figures checked against pg_trgm's similarity() on PostgreSQL 18.
    assert similarity(a, b) == pytest.approx(expected)
    assert similarity(b, a) == pytest.approx(expected)


# The search over the store ---------------------------------------------------------------------

# (id, family names, birth date): surnames close to each other, spellings, and a patient with two
# surnames (maiden and current) that a search may match both of.
REGISTER: list[tuple[str, tuple[str, ...], str]] = [
    ("kuz-1", ("Кузнецов",), "2019-05-04"),
    ("kuz-2", ("Кузнецова",), "2018-01-02"),
    ("kuz-3", ("Kuznetsov",), "2020-02-02"),  # the Latin spelling in the record
    ("kuz-4", ("Кузнецов",), "2019-05-04"),
    ("smi-1", ("Смирнов",), "2019-05-04"),
    ("smi-2", ("Смирнова",), "2017-07-07"),
    ("iva-1", ("Иванов",), "2019-05-04"),
    ("iva-2", ("Иванова",), "2016-03-03"),
    ("iva-3", ("Ivanoff",), "2015-01-01"),
    ("shu-1", ("Щукин",), "2019-05-04"),
    ("kha-1", ("Хабибуллин",), "2014-04-04"),
    ("fed-1", ("Фёдоров",), "2013-03-03"),
    ("sol-1", ("Соловьёв",), "2013-03-03"),
    ("sok-1", ("Соколов",), "2012-02-02"),
    ("pet-1", ("Петров",), "2019-05-04"),
    ("pet-2", ("Петрова",), "2011-01-01"),
    ("two-1", ("Иванова", "Петрова"), "2010-10-10"),
    ("two-2", ("Кузнецова", "Кузнецова"), "2010-10-10"),  # the same surname twice
    ("two-3", ("Смирнова", "Смирнов"), "2017-07-07"),  # both close to a search for either
    ("ale-1", ("Александров",), "2012-12-12"),
    ("ale-2", ("Алексеев",), "2012-12-12"),
    ("cho-1", ("Цой",), "2019-05-04"),
    ("sal-1", ("Салтыков-Щедрин",), "2018-08-08"),
]


def patient(pid: str, families: tuple[str, ...], born: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "birthDate": born,
            "name": [{"family": f, "given": ["Анна"]} for f in families]}


def register(http: httpx.Client, people: list[tuple[str, tuple[str, ...], str]]) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(*p), "request": {"method": "PUT", "url": f"Patient/{p[0]}"}} for p in people]}
    r = post(http, "", bundle)
    assert r.status_code == 200, r.text


@pytest.fixture
def registry_http(http: httpx.Client) -> httpx.Client:
    register(http, REGISTER)
    return http


def pages(http: httpx.Client, params: dict[str, str], count: int) -> Iterator[dict[str, Any]]:
    """Every page of a search, following the next links."""
    r = http.get("/Patient", params={**params, "_count": str(count)})
    while True:
        assert r.status_code == 200, r.text
        page: dict[str, Any] = body(r)
        yield page
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            return
        r = http.get(following[0])


def found(http: httpx.Client, params: dict[str, str], count: int = 100) -> list[tuple[str, float]]:
    """(id, score) of every match of a search, page after page, in the order shown."""
    return [(e["resource"]["id"], float(e["search"]["score"])) for page in pages(http, params, count)
            for e in page.get("entry", []) if e["search"]["mode"] == "match"]


def trigram_match(url: str, text: str, born: str | None = None) -> list[tuple[str, float]]:
    """What medcard found before the dictionary: ``family % key`` over every row of patient_lookup,
    each patient scored by its closest name, closest first, then by id."""
    keys = search_keys([text])
    similar = " OR ".join(["family %% %s"] * len(keys))
    sims = ", ".join(["similarity(family, %s)"] * len(keys))
    where = "WHERE birth_date = %s::date" if born else ""
    sql = (f"SELECT patient_id, max(greatest({sims})) FROM patient_lookup {where} GROUP BY patient_id "
           f"HAVING bool_or({similar}) ORDER BY 2 DESC, 1")
    with psycopg.connect(url) as conn:
        rows = conn.execute(sql, [*keys, *([born] if born else []), *keys]).fetchall()
    return [(str(pid), float(score)) for pid, score in rows]


SHOWN = 5e-5  # a Bundle shows a score to 4 decimals


def assert_same(shown: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    assert [pid for pid, _ in shown] == [pid for pid, _ in expected]
    assert [score for _, score in shown] == pytest.approx([score for _, score in expected], abs=SHOWN)


def dictionary(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(r[0]) for r in conn.execute("SELECT family FROM patient_family").fetchall()}


def missing_from_dictionary(url: str) -> list[str]:
    """Skeletons of patient_lookup that the dictionary lacks (a search would not find their patients)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT family FROM patient_lookup EXCEPT SELECT family FROM patient_family").fetchall()
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize("typo", [
    "Кузнецав", "Кузнецв", "Кузенцов", "Кузнецоов", "Смирнв", "Смирнво", "Ивонов", "Иваноф", "Хабибулили",
    "Щкин", "Щукни", "Федороф", "Соловьеа", "Петоров", "Петрв", "Алексанров", "Алекссев", "Салтыков-Щедрен",
])
def test_typos_find_what_a_trigram_match_over_every_name_finds(registry_http: httpx.Client, database_url: str,
                                                              typo: str) -> None:
    expected = trigram_match(database_url, typo)
    assert expected  # each typo is close enough to a registered surname
    assert_same(found(registry_http, {"phonetic": typo}), expected)


@pytest.mark.parametrize(("spelling", "ids"), [
    ("Kuznetsov", {"kuz-1", "kuz-3", "kuz-4"}),
    ("Kouznetsov", {"kuz-1", "kuz-3", "kuz-4"}),
    ("Кузнецов", {"kuz-1", "kuz-3", "kuz-4"}),
    ("Ivanov", {"iva-1", "iva-3"}),
    ("Iwanow", {"iva-1", "iva-3"}),
    ("Schukin", {"shu-1"}),
    ("Szczukin", {"shu-1"}),
    ("Khabibulin", {"kha-1"}),
    ("Fyodorov", {"fed-1"}),
    ("Solovyov", {"sol-1"}),
    ("Tsoi", {"cho-1"}),
    ("Saltykov Shchedrin", {"sal-1"}),
])
def test_transliterations_find_the_surname_first(registry_http: httpx.Client, database_url: str, spelling: str,
                                                 ids: set[str]) -> None:
    shown = found(registry_http, {"phonetic": spelling})
    assert {pid for pid, score in shown if score == pytest.approx(1.0)} == ids  # the same skeleton: 1.0
    assert [pid for pid, _ in shown][:len(ids)] == sorted(ids)
    assert_same(shown, trigram_match(database_url, spelling))


def test_closest_first_then_by_id(registry_http: httpx.Client) -> None:
    shown = found(registry_http, {"phonetic": "Кузнецова"})
    # kuzneceva (1.0) for kuz-2 and two-2; then kuznecov (0.67) for kuz-1, kuz-3, kuz-4
    assert [pid for pid, _ in shown] == ["kuz-2", "two-2", "kuz-1", "kuz-3", "kuz-4"]
    scores = [score for _, score in shown]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(1.0)
    assert scores[2] == pytest.approx(similarity(skeleton("Кузнецова"), skeleton("Кузнецов")), abs=SHOWN)


@pytest.mark.parametrize("text", ["Смирнова", "Смирнов", "Смирнва", "Петрова", "Иванова", "Кузнецова"])
def test_a_patient_with_two_surnames_is_shown_once_with_the_closer(registry_http: httpx.Client, text: str) -> None:
    shown = found(registry_http, {"phonetic": text}, count=2)  # duplicates would show across pages too
    ids = [pid for pid, _ in shown]
    assert len(ids) == len(set(ids))
    for pid, families in (("two-1", ("Иванова", "Петрова")), ("two-2", ("Кузнецова",)),
                          ("two-3", ("Смирнова", "Смирнов"))):
        closest = max(similarity(skeleton(text), skeleton(f)) for f in families)
        if closest >= THRESHOLD:
            assert dict(shown)[pid] == pytest.approx(closest, abs=SHOWN)
        else:
            assert pid not in ids


def test_several_values_are_ored_and_scored_by_the_closest(registry_http: httpx.Client, database_url: str) -> None:
    shown = found(registry_http, {"phonetic": "Смирнв,Щукни"})
    assert {"smi-1", "smi-2", "shu-1"} <= {pid for pid, _ in shown}
    expected_ids = {pid for pid, _ in trigram_match(database_url, "Смирнв")} | {
        pid for pid, _ in trigram_match(database_url, "Щукни")}
    assert {pid for pid, _ in shown} == expected_ids
    scores = [score for _, score in shown]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(("typo", "born"), [
    ("Кузнецав", "2019-05-04"), ("Иваноф", "2019-05-04"), ("Петрв", "2019-05-04"), ("Ivanova", "2010-10-10"),
    ("Кузнецва", "2010-10-10"), ("Смирнв", "2017-07-07"),
])
def test_with_a_birth_date(registry_http: httpx.Client, database_url: str, typo: str, born: str) -> None:
    expected = trigram_match(database_url, typo, born)
    assert expected
    assert_same(found(registry_http, {"phonetic": typo, "birthdate": born}), expected)
    assert_same(found(registry_http, {"phonetic": typo, "birthdate": f"eq{born}"}), expected)
    # a birth date that is not a plain day takes the other route, with the same answer
    shown = found(registry_http, {"phonetic": typo, "birthdate": born[:7]})
    assert {pid for pid, _ in expected} <= {pid for pid, _ in shown}


@pytest.mark.parametrize("params", [{"phonetic": "Кузнецав"}, {"phonetic": "Кузнецав", "birthdate": "2019-05-04"},
                                    {"phonetic": "Kuznetsov,Smirnov"}])
def test_totals_count_every_match(registry_http: httpx.Client, params: dict[str, str]) -> None:
    everything = found(registry_http, params)
    r = registry_http.get("/Patient", params={**params, "_summary": "count"})
    assert body(r)["total"] == len(everything)
    r = registry_http.get("/Patient", params={**params, "_count": "1", "_total": "accurate"})
    assert body(r)["total"] == len(everything)


def test_sorted_otherwise_finds_the_same_patients(registry_http: httpx.Client) -> None:
    by_score = found(registry_http, {"phonetic": "Кузнецав"})
    by_birth = [e["resource"]["id"] for page in pages(registry_http, {"phonetic": "Кузнецав", "_sort": "-birthdate"}, 2)
                for e in page.get("entry", [])]
    assert sorted(by_birth) == sorted(pid for pid, _ in by_score)


def test_no_letters_is_a_400(registry_http: httpx.Client) -> None:
    assert registry_http.get("/Patient", params={"phonetic": "123"}).status_code == 400
    assert registry_http.get("/Patient", params={"phonetic": "--", "birthdate": "2019-05-04"}).status_code == 400


def test_nothing_close_finds_nothing(registry_http: httpx.Client) -> None:
    assert found(registry_http, {"phonetic": "Эйзенштейн"}) == []
    assert found(registry_http, {"phonetic": "Эйзенштейн", "birthdate": "2019-05-04"}) == []


def test_pages_are_cut_by_score_and_id(http: httpx.Client, database_url: str) -> None:
    # 36 patients over three skeletons of different closeness, pages of 5: the ties within a
    # skeleton are cut by id, and the page boundaries fall inside the ties.
    people = [(f"p-{i:02d}", (("Кузнецов", "Кузнецова", "Кузнецовский")[i % 3],), "2019-01-01") for i in range(36)]
    register(http, people)
    whole = found(http, {"phonetic": "Кузнецов"}, count=100)
    assert len(whole) == 36
    assert_same(whole, trigram_match(database_url, "Кузнецов"))
    paged = found(http, {"phonetic": "Кузнецов"}, count=5)
    assert paged == whole
    # and back: each previous link gives the page before
    shown = list(pages(http, {"phonetic": "Кузнецов"}, 5))
    last = shown[-1]
    previous = next(link["url"] for link in last["link"] if link["relation"] == "previous")
    r = http.get(previous)
    assert r.status_code == 200
    assert [e["resource"]["id"] for e in body(r)["entry"]] == [e["resource"]["id"] for e in shown[-2]["entry"]]


def test_pages_stay_right_when_a_closer_patient_is_added(http: httpx.Client) -> None:
    register(http, [(f"q-{i:02d}", ("Кузнецова",), "2019-01-01") for i in range(6)])
    first = next(pages(http, {"phonetic": "Кузнецова"}, 3))
    assert [e["resource"]["id"] for e in first["entry"]] == ["q-00", "q-01", "q-02"]
    register(http, [("a-00", ("Кузнецова",), "2019-01-01")])  # sorts before every page shown
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    r = http.get(following)
    assert [e["resource"]["id"] for e in body(r)["entry"]] == ["q-03", "q-04", "q-05"]


# The dictionary of skeletons ------------------------------------------------------------------


def test_the_search_goes_through_the_dictionary(registry_http: httpx.Client, database_url: str) -> None:
    assert [pid for pid, _ in found(registry_http, {"phonetic": "Щукни"})] == ["shu-1"]
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM patient_family WHERE family = %s", (skeleton("Щукин"),))
    assert found(registry_http, {"phonetic": "Щукни"}) == []  # why every write path must keep it
    assert found(registry_http, {"phonetic": "Щукни", "birthdate": "2019-05-04"}) == []


def test_rest_writes_keep_the_dictionary(http: httpx.Client, database_url: str) -> None:
    new = created_id(post(http, "/Patient", {"resourceType": "Patient", "birthDate": "2019-05-04",
                                             "name": [{"family": "Выщипанзев", "given": ["Иван"]}]}))
    assert skeleton("Выщипанзев") in dictionary(database_url)
    assert [pid for pid, _ in found(http, {"phonetic": "Выщипанцев"})] == [new]

    # update: the new surname is found, the old one no longer finds the patient (but stays in the dictionary)
    r = put(http, f"/Patient/{new}", {"resourceType": "Patient", "id": new, "birthDate": "2019-05-04",
                                      "name": [{"family": "Трегубович", "given": ["Иван"]}]})
    assert r.status_code == 200, r.text
    assert {skeleton("Трегубович"), skeleton("Выщипанзев")} <= dictionary(database_url)
    assert [pid for pid, _ in found(http, {"phonetic": "Трегубавич"})] == [new]
    assert found(http, {"phonetic": "Выщипанцев"}) == []

    # JSON Patch: another surname
    r = http.patch(f"/Patient/{new}", content=json.dumps([{"op": "replace", "path": "/name/0/family",
                                                            "value": "Ольденбургский"}]),
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    assert skeleton("Ольденбургский") in dictionary(database_url)
    assert [pid for pid, _ in found(http, {"phonetic": "Ольденбургскй"})] == [new]

    # a transaction, and a conditional create
    register(http, [("tx-1", ("Зарубинштейн",), "2019-05-04")])
    r = post(http, "/Patient", patient("ignored", ("Перемышлев",), "2019-05-04"),
             headers={"If-None-Exist": f"birthdate=2019-05-04&family={quote('Перемышлев')}"})
    assert r.status_code == 201, r.text
    assert {skeleton("Зарубинштейн"), skeleton("Перемышлев")} <= dictionary(database_url)

    # delete: not found any more; the skeleton stays in the dictionary (it costs a lookup, nothing more)
    assert http.delete(f"/Patient/{new}").status_code in (200, 204)
    assert found(http, {"phonetic": "Ольденбургскй"}) == []
    assert skeleton("Ольденбургский") in dictionary(database_url)
    assert missing_from_dictionary(database_url) == []


def test_the_bulk_importer_keeps_the_dictionary(http: httpx.Client, database_url: str, tmp_path: Path) -> None:
    families = ("Белобородов", "Белобородова", "Чернобровкин", "Чернобровкина", "Остроглазов")
    lines = [json.dumps(patient(f"imp-{i:03d}", (families[i % len(families)],), "2018-06-0" + str(1 + i % 9)),
                        ensure_ascii=False) for i in range(240)]  # more than a COPY's threshold
    (tmp_path / "Patient.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run_import(database_url, [tmp_path])
    assert report.created == 240, report.problems
    assert {skeleton(f) for f in families} <= dictionary(database_url)
    assert missing_from_dictionary(database_url) == []
    assert_same(found(http, {"phonetic": "Белобородв"}), trigram_match(database_url, "Белобородв"))
    assert len(found(http, {"phonetic": "Чернобравкин"})) == 96
    # importing the same files again changes nothing
    assert run_import(database_url, [tmp_path]).unchanged == 240
    assert missing_from_dictionary(database_url) == []


def run_import(url: str, paths: list[Path]) -> ImportReport:
    async def go() -> ImportReport:
        db = Database(url, min_size=1, max_size=2)
        await db.open()
        try:
            return await Importer(db, on_error="continue").run(paths)
        finally:
            await db.close()

    return asyncio.run(go())


def test_the_migration_builds_the_dictionary_from_existing_rows(database_url: str) -> None:
    name = f"medcard_migration_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("the test database's role may not create databases")
    parts = urlsplit(database_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    try:
        migrate.upgrade(url, "0006")
        rows = [("a", skeleton("Кузнецов"), "2019-05-04"), ("b", skeleton("Кузнецов"), None),
                ("c", skeleton("Щукина"), "2018-01-01"), ("c", skeleton("Петрова"), "2018-01-01")]
        with psycopg.connect(url) as conn:
            conn.cursor().executemany(
                "INSERT INTO patient_lookup (patient_id, family, birth_date) VALUES (%s, %s, %s)", rows)
        migrate.upgrade(url, "0007")
        assert dictionary(url) == {skeleton("Кузнецов"), skeleton("Щукина"), skeleton("Петрова")}
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO patient_lookup (patient_id, family) VALUES ('d', %s)", (skeleton("Цой"),))
            indexes = {str(r[0]) for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'patient_lookup'").fetchall()}
        assert skeleton("Цой") in dictionary(url)
        assert "patient_lookup_family_idx" in indexes
        assert "patient_lookup_search_idx" not in indexes  # the trigram index over every row is gone
        downgrade(url, "0006")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('patient_family')").fetchone() == (None,)
            assert conn.execute("SELECT count(*) FROM patient_lookup").fetchone() == (5,)
            assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'patient_lookup_search_idx'"
                                ).fetchone() == (1,)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def downgrade(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    config.set_main_option("sqlalchemy.url", migrate.sqlalchemy_url(url).replace("%", "%%"))
    command.downgrade(config, revision)
