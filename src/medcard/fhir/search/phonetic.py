"""Phonetic skeletons of names: one key for every spelling of a Russian surname.

Registrars look a child up by a surname heard at the desk or read off a foreign passport, with
typos, ё written as е, or in Latin letters while the record has Cyrillic (or the other way
round). Each name is reduced to a skeleton, lowercase ASCII words, and skeletons are compared
with pg_trgm's trigram ``similarity()`` (:func:`similarity` is the same function in Python).

A skeleton is made in three steps:

1. Clean: compatibility forms and case folded; ь, ъ and the apostrophes and quotes that stand
   for them removed; Latin letters whose mark carries a sound (š, č, ž...) spelled out;
   then every other accent stripped, which also makes ё an е and й an и.
2. Transliterate Cyrillic by the ICAO table Russian passports use (:func:`transliterate`).
   Letters of other scripts are dropped; anything that is not a letter separates words.
3. Respell the Latin so that ICAO, GOST 7.79, BGN/PCGN, German, Polish, Czech and typed
   spellings meet (the tables below, in order).

What merges, and so cannot be told apart by the skeleton:

- y, j, i, й, ы and и are all ``i``; a glide ``i`` before a vowel is dropped, so я, ya, ia, ja
  are ``a``; ю, yu, iu, ju are ``u``; е, ye, ie, je are ``e``; and yo, io, jo are ``e``,
  because ICAO writes ё as e (Fyodorov = Fedorov). The price: и before a vowel goes too
  (Мария is ``mara``, Дмитриев ``dmitrev``), and Пиотровский is Петровский.
- ш and щ are both ``sh``: German sch is ш, yet "Schukin" is how Щукин is often typed.
- after ш, щ, ч and ж, o is ``e`` (Gorbachov = Gorbachev), as Russian spells that sound both ways.
- х is ``kh`` (h and kh alike; not bare ``h``, which would make Исхаков and Ишаков one name).
- ц is ``c`` (ts, tz, c); тс becomes ``c`` too, as it sounds.
- doubled letters are single (Habibullin = Khabibullin, Ivanoff = Ivanov); final -of/-ef is -ov/-ev.

What does not meet, because the same Latin letters mean different Russian sounds in different
systems and the skeleton cannot know the system: German ch for х (Chabibullin; only word-initial
ch before a consonant is taken as х: Chruschtschow), German z for ц and s for з (Zoi ≠ Tsoi,
Kusnezow ≠ Kuznetsov), French j for ж (Joukov), x for х (GOST 7.79-B, Uzbek; x is кс as in
Alexandrov), GOST 7.79-B cz for ц (cz is Polish ч), English c for к (Nicolaev), j and dj for
дж (Jabrailov), sh typed for сх (Ishakov). Such spellings are mostly still within pg_trgm's
0.3 of the right one, German s and z often not (Kusnezow: 0.2). A name typed in the wrong
keyboard layout (Bdfyjd for Иванов) is not a spelling and is not recognised.

Typos: one missing, extra or changed letter keeps pg_trgm's similarity at 0.3 or more in 99%
of cases on common surnames. Two swapped letters do in 97% when the skeleton has seven letters
or more, but a swap in a shorter one leaves too few trigrams in common, whatever the skeleton
(Петров typed Петорв: 3 of 11). Rules that change two letters at once (a glide, o after ш)
cost a little: Новиков typed Новиов is ``novev``, 0.27.

The search (the SQL fragments at the end of this module): ``patient_lookup`` has a row per
family name of each Patient (its skeleton, the given names' skeleton, the birth date), and
``patient_family`` every distinct family skeleton in it, a dictionary kept by a trigger on
``patient_lookup`` (migration 0007; deleted names stay in it). A city of two million has tens of
thousands of surnames, not millions, so the skeletons within pg_trgm's threshold of the key are
found in the dictionary (``%``, the same operator and threshold as before, trigram GIN index),
and the patients are those whose skeleton is one of them: an equality on a btree index
(``patient_lookup (family, birth_date, patient_id)``). The set found is exactly the set the
trigram match over every row of ``patient_lookup`` found; only the work is smaller. A patient's
score is the similarity of its closest skeleton, computed once per skeleton.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

# Step 1. Removed inside a word: ь, ъ, and what transliterations write for them (BGN/PCGN
# ' and ", GOST 7.79-B ` and ``, ISO 9 ʹ and ʺ, typographic apostrophes). Removed before
# accents are stripped, because NFKD turns ´ into a space and an accent.
_SILENT = "ьъ'\"`´‘’ʼʻʹʺ"
# Latin letters whose mark is the difference between two sounds: kept apart before the
# accents go. Other marked letters (ë, ü, ś, ŭ...) just lose the mark.
_MARKED_LATIN = {
    "š": "sh", "ŝ": "sh", "ş": "sh", "ș": "sh",  # ш (Czech, GOST 7.79-A, Turkic, Romanian)
    "č": "ch", "ç": "ch", "ć": "ch",  # ч (Czech, Turkic; Serbian -ić is Russian -ич)
    "ž": "zh", "ż": "zh",  # ж (Czech, Polish)
    "đ": "dzh",  # Serbian/Croatian đ is дж
    "ł": "l", "ø": "o", "ı": "i", "ə": "a", "æ": "ae", "œ": "oe",  # letters NFKD keeps whole
}
_CLEAN = str.maketrans(dict.fromkeys(_SILENT, "") | _MARKED_LATIN)

# Step 2. ICAO Doc 9303 Part 3, the transliteration of Russian passports since 2013.
_ICAO_RUSSIAN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia",
}
# Ukrainian and Belarusian letters, as in the same ICAO table.
_ICAO_OTHER = {"і": "i", "ї": "i", "є": "ie", "ґ": "g", "ў": "u"}
# Kazakh, Uzbek, Tajik and Azerbaijani Cyrillic letters are not in ICAO's table; they get the
# Russian letter Moscow documents write for them, so that they are not lost.
_CENTRAL_ASIAN = {
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "kh", "ҳ": "kh",
    "ҷ": "dzh", "ҹ": "dzh", "ј": "i",
}
_CYRILLIC = str.maketrans(_ICAO_RUSSIAN | _ICAO_OTHER | _CENTRAL_ASIAN)

# Step 3a. Context rules, before the spellings: word-initial German/Polish ch before a
# consonant is х (Chruschtschow, Chlebnikow); English ч is almost never followed by one there
# (Cyrillic Чл-, Чм-, Чн-, Чр-, Чв- are read the same way, so both sides still agree).
_CONTEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^ch(?=[lmnrvw])"), "kh"),
)
# Step 3b. Letter groups and what they become, by sound. They are matched longest first at
# each position, so shch is one щ, not ш + ч.
_SPELLINGS: tuple[tuple[str, str], ...] = (
    # щ: ICAO/BGN shch, German schtsch, typed shtsh, French chtch, Polish szcz, GOST 7.79-B shh
    ("shch", "sh"), ("schtsch", "sh"), ("shtsh", "sh"), ("chtch", "sh"), ("szcz", "sh"), ("shh", "sh"),
    # ш: sh, German sch, Polish sz. Щ typed as sch or sh lands here too, hence щ = ш.
    ("sh", "sh"), ("sch", "sh"), ("sz", "sh"),
    # ч: ch, German tsch, French tch, Polish cz
    ("ch", "ch"), ("tsch", "ch"), ("tch", "ch"), ("cz", "ch"),
    # дж: German dsch (English dzh passes unchanged)
    ("dsch", "dzh"),
    # ж: zh (ž and ż were spelled out in step 1)
    ("zh", "zh"),
    # х: kh, typed h
    ("kh", "kh"), ("h", "kh"),
    # ц: ICAO ts, German tz; GOST 7.79-A and Polish c is already c
    ("ts", "c"), ("tz", "c"),
    # but ICAO's т before ж, ш, щ stays т, and с before ж stays с: not ц or ш followed by an h
    ("tzh", "tzh"), ("tsh", "tsh"), ("tshch", "tsh"), ("szh", "szh"),
    # к and кс: German ck, q; x is кс (Alexandrov)
    ("ck", "k"), ("q", "k"), ("x", "ks"),
    # в, ф, г: German/Polish w, ph, gh (Diaghilev)
    ("w", "v"), ("ph", "f"), ("gh", "g"),
    # у: French ou (Iouri, Koudriavtsev)
    ("ou", "u"),
    # ICAO's ъ before я, ю (Podieiachev): the skeleton drops ъ, so its ie goes too
    ("iei", "i"),
    # й and ы: BGN/English y, German/Polish/GOST j; all become the vowel i
    ("y", "i"), ("j", "i"),
)
# Step 3c. A glide i before a vowel is dropped: ya, ia, ja (я) are a; ye, ie (е) are e; yu, iu
# (ю) are u. yo, io (ё) are e, because ICAO and most Russian documents write ё as e.
_GLIDES = {"a": "a", "e": "e", "o": "e", "u": "u"}
# Step 3d. Rules on the respelled word, in order.
_SOUNDS: tuple[tuple[re.Pattern[str], str], ...] = (
    # After ш, щ, ч, ж the sound o is written both о and ё: Gorbachov = Gorbachev.
    (re.compile(r"(?<=[scz]h)o"), "e"),
    # Final -off, -eff (Ivanoff): f at the end is how в sounds there.
    (re.compile(r"(?<=[oe])f$"), "v"),
)

_SPELLING = re.compile("|".join(re.escape(k) for k, _ in sorted(_SPELLINGS, key=lambda kv: -len(kv[0]))))
_SPELLED = dict(_SPELLINGS)
_DOUBLE = re.compile(r"([a-z])\1+")
_GLIDE = re.compile(r"i([aeou])")
MAX_NAME = 200  # characters of a name that make its skeleton
# pg_trgm's words: runs of letters and digits (not underscore).
_TRGM_WORD = re.compile(r"[^\W_]+")


def transliterate(text: str) -> str:
    """Cyrillic to Latin, lowercase, by ICAO Doc 9303 (the Russian passport table since 2013).

    ``Щукин`` is ``shchukin``, ``Юрьев`` is ``iurev``, ``Подъячев`` is ``podieiachev``.
    Ukrainian and Belarusian letters follow the same ICAO table; everything that is not
    Cyrillic is kept as it is.
    """
    return unicodedata.normalize("NFC", text).lower().translate(_CYRILLIC)


def skeleton(text: str) -> str:
    """The phonetic skeleton of a name: lowercase ASCII words, one space between them.

    Spellings of the same Russian name in Cyrillic or any usual transliteration give the same
    skeleton (the module documentation says which letters merge); ``""`` when there are no
    letters. Hyphenated names are two words: ``Салтыков-Щедрин`` is ``saltikov shedrin``.
    Only the first :data:`MAX_NAME` characters of a name count, and a skeleton is at most as long
    (it is a B-tree key, and the cache below must not hold megabytes per entry).
    """
    return _skeleton(text[:MAX_NAME])[:MAX_NAME]


@lru_cache(maxsize=65536)
def _skeleton(text: str) -> str:
    words = (_respell(word) for word in _latin_words(text))
    return " ".join(word for word in words if word)


def similarity(a: str, b: str) -> float:
    """pg_trgm's ``similarity(a, b)``, in Python, to check skeletons without a database.

    As pg_trgm does: lowercase, split into words of letters and digits, pad each word with two
    spaces in front and one behind, take the set of its 3-character substrings, and return
    shared / all trigrams of both (0 when either string has none). pg_trgm computes in float4,
    so its figure can differ from this one in the seventh decimal.
    """
    ta, tb = _trigrams(a), _trigrams(b)
    if not ta or not tb:
        return 0.0
    shared = len(ta & tb)
    return shared / (len(ta) + len(tb) - shared)


def _latin_words(text: str) -> list[str]:
    """Steps 1 and 2: the words of a name in lowercase ASCII letters."""
    latin = _clean(text).translate(_CYRILLIC)
    # Letters of other scripts are dropped; anything else (spaces, hyphens, digits) ends a word.
    return "".join(ch if "a" <= ch <= "z" else "" if ch.isalpha() else " " for ch in latin).split()


def _clean(text: str) -> str:
    """Step 1: folded case, no signs or apostrophes, marked Latin letters spelled out, no accents."""
    # Symbols end words before NFKC can turn them into letters (№ into No).
    text = "".join(ch if ch.isalpha() or _is_mark(ch) or ch in _SILENT else " " for ch in text)
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", text).casefold())
    return "".join(ch for ch in unicodedata.normalize("NFKD", folded.translate(_CLEAN)) if not _is_mark(ch))


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _respell(word: str) -> str:
    """Step 3: one Latin word respelled so that every transliteration system meets."""
    for pattern, replacement in _CONTEXT:
        word = pattern.sub(replacement, word)
    word = _DOUBLE.sub(r"\1", _SPELLING.sub(_spelled, word))
    word = _GLIDE.sub(_unglided, word)
    for pattern, replacement in _SOUNDS:
        word = pattern.sub(replacement, word)
    return _DOUBLE.sub(r"\1", word)


def _spelled(match: re.Match[str]) -> str:
    return _SPELLED[match[0]]


def _unglided(match: re.Match[str]) -> str:
    return _GLIDES[match[1]]


def _trigrams(text: str) -> set[str]:
    grams: set[str] = set()
    for word in _TRGM_WORD.findall(text.lower()):
        padded = f"  {word} "
        grams.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return grams


# The search: SQL over patient_lookup and its dictionary patient_family ------------------------
#
# The functions take the keys as placeholders already bound by the caller (``%(p1)s``), so that
# they only assemble text. psycopg's placeholders make % special: pg_trgm's operator is ``%%``.


def search_keys(values: Iterable[str]) -> list[str]:
    """The distinct skeletons of a ``phonetic`` parameter's values, in order (none for values without letters)."""
    return list(dict.fromkeys(key for value in values if (key := skeleton(value))))


def plain_dates(values: Iterable[str]) -> list[str] | None:
    """The dates of a ``birthdate`` parameter when every value is a plain full date (``eq`` or no prefix).

    Only then is it looked up together with the surname, in ``patient_lookup``; None otherwise.
    """
    dates = []
    for value in values:
        v = value[2:] if value.startswith("eq") else value
        if len(v) != 10 or not v[:4].isdigit():
            return None
        dates.append(v)
    return dates or None


def closeness(column: str, keys: Sequence[str]) -> str:
    """SQL: the similarity of a skeleton to the closest key, as float8 (pg_trgm computes it in float4)."""
    sims = ", ".join(f"similarity({column}, {k})" for k in keys)
    return f"greatest({sims})::float8"


def matching_families(keys: Sequence[str]) -> str:
    """SQL: the dictionary's skeletons within pg_trgm's similarity threshold of any key (GIN-indexed)."""
    return f"SELECT d.family FROM patient_family d WHERE {_similar('d.family', keys)}"


def matching_patients(keys: Sequence[str], birth_dates: str | None = None) -> str:
    """SQL: the ids of patients with a family skeleton within the threshold of any key.

    ``birth_dates``: a placeholder for a ``date[]``; only patients born on one of them.
    """
    born = f" AND l.birth_date = ANY({birth_dates}::date[])" if birth_dates is not None else ""
    return (f"SELECT l.patient_id FROM patient_lookup l "
            f"WHERE l.family = ANY(ARRAY({matching_families(keys)})){born}")


def patient_score(patient: str, keys: Sequence[str]) -> str:
    """SQL: one patient's score, the similarity of its closest family skeleton (NULL: it has none)."""
    return f"(SELECT max({closeness('l.family', keys)}) FROM patient_lookup l WHERE l.patient_id = {patient})"


def scores_by_patient(keys: Sequence[str]) -> str:
    """SQL: a jsonb object of every matching patient's score by patient id, computed once per query.

    Each matching skeleton's similarity is computed once, not once per patient, and a patient's
    score is then a key lookup in the object instead of a probe of ``patient_lookup``.
    """
    return ("(SELECT jsonb_object_agg(m.patient_id, m.score) FROM ("
            "SELECT l.patient_id, max(s.score) AS score FROM ("
            f"SELECT d.family, {closeness('d.family', keys)} AS score FROM patient_family d "
            f"WHERE {_similar('d.family', keys)}) s "
            "JOIN patient_lookup l ON l.family = s.family GROUP BY l.patient_id) m)")


def _similar(column: str, keys: Sequence[str]) -> str:
    """pg_trgm's ``%``: similarity at least ``pg_trgm.similarity_threshold`` (0.3 unless set)."""
    return " OR ".join(f"{column} %% {k}" for k in keys)


def ranked_matches(keys: Sequence[str]) -> str:
    """SQL: (patient_id, family, score) for each matching skeleton of each patient, closest first, then by id.

    Read in order, it yields the first page without reading the rest: the few matching skeletons
    sorted by score, each one's patients from the btree index, sorted by id within each score (an
    incremental sort, one score at a time). A patient appears once per matching skeleton: keep only
    the rows that are :func:`closest_name`.
    """
    return ("SELECT DISTINCT ON (s.score, l.patient_id) l.patient_id, l.family, s.score "
            f"FROM (SELECT d.family, {closeness('d.family', keys)} AS score FROM patient_family d "
            f"WHERE {_similar('d.family', keys)} ORDER BY 2 DESC NULLS LAST) s "
            "JOIN patient_lookup l ON l.family = s.family ORDER BY s.score DESC NULLS LAST, l.patient_id")


def closest_name(keys: Sequence[str], alias: str) -> str:
    """SQL: the row ``alias`` of :func:`ranked_matches` is its patient's closest skeleton (no other is closer)."""
    return (f"NOT EXISTS (SELECT 1 FROM patient_lookup o WHERE o.patient_id = {alias}.patient_id "
            f"AND o.family <> {alias}.family AND {closeness('o.family', keys)} > {alias}.score)")
