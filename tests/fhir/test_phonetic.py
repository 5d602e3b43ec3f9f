"""Phonetic skeletons: the spellings of a surname meet, typos stay within pg_trgm's threshold,
different surnames stay apart, and ``similarity`` is pg_trgm's."""

from __future__ import annotations

import itertools
import re
import unicodedata

import pytest

from medcard.fhir.search.phonetic import similarity, skeleton, transliterate

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
