"""The 22 chapters of ICD-10 (МКБ-10) and the chapter of a code, without a database.

The chapters are fixed by ICD-10's structure (the same in WHO's list and in the Russian NSI 1005
reference): each is a range of three-character categories. Timeline filters group a child's
diagnoses by chapter from the codes stored in the records, whatever list is loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chapter:
    """One ICD-10 chapter: its Roman numeral, Russian title and range of categories (``first``..``last``)."""

    numeral: str
    title_ru: str
    first: str
    last: str

    def contains(self, category: str) -> bool:
        """Whether the three-character category (``J06``) lies in this chapter."""
        return self.first <= category <= self.last


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("I", "Некоторые инфекционные и паразитарные болезни", "A00", "B99"),
    Chapter("II", "Новообразования", "C00", "D48"),
    Chapter("III", "Болезни крови, кроветворных органов и отдельные нарушения, вовлекающие иммунный механизм",
            "D50", "D89"),
    Chapter("IV", "Болезни эндокринной системы, расстройства питания и нарушения обмена веществ", "E00", "E90"),
    Chapter("V", "Психические расстройства и расстройства поведения", "F00", "F99"),
    Chapter("VI", "Болезни нервной системы", "G00", "G99"),
    Chapter("VII", "Болезни глаза и его придаточного аппарата", "H00", "H59"),
    Chapter("VIII", "Болезни уха и сосцевидного отростка", "H60", "H95"),
    Chapter("IX", "Болезни системы кровообращения", "I00", "I99"),
    Chapter("X", "Болезни органов дыхания", "J00", "J99"),
    Chapter("XI", "Болезни органов пищеварения", "K00", "K93"),
    Chapter("XII", "Болезни кожи и подкожной клетчатки", "L00", "L99"),
    Chapter("XIII", "Болезни костно-мышечной системы и соединительной ткани", "M00", "M99"),
    Chapter("XIV", "Болезни мочеполовой системы", "N00", "N99"),
    Chapter("XV", "Беременность, роды и послеродовой период", "O00", "O99"),
    Chapter("XVI", "Отдельные состояния, возникающие в перинатальном периоде", "P00", "P96"),
    Chapter("XVII", "Врожденные аномалии [пороки развития], деформации и хромосомные нарушения", "Q00", "Q99"),
    Chapter("XVIII", "Симптомы, признаки и отклонения от нормы, выявленные при клинических и лабораторных "
            "исследованиях, не классифицированные в других рубриках", "R00", "R99"),
    Chapter("XIX", "Травмы, отравления и некоторые другие последствия воздействия внешних причин", "S00", "T98"),
    Chapter("XX", "Внешние причины заболеваемости и смертности", "V01", "Y98"),
    Chapter("XXI", "Факторы, влияющие на состояние здоровья населения и обращения в учреждения здравоохранения",
            "Z00", "Z99"),
    Chapter("XXII", "Коды для специальных целей", "U00", "U85"),
)
BY_NUMERAL = {c.numeral: c for c in CHAPTERS}
# A category and what may follow it: A09, A09.0, J45.9, M00.01; a dagger or asterisk mark is ignored.
_CODE = re.compile(r"([A-Z][0-9]{2})(?:\.[0-9A-Z]{1,2})?[+*]?")


def chapter_of(code: str) -> Chapter | None:
    """The chapter of an ICD-10 code (``J06.9`` -> X), or None for what is not an ICD-10 code."""
    match = _CODE.fullmatch(code.strip().upper())
    if match is None:
        return None
    category = match[1]
    return next((c for c in CHAPTERS if c.contains(category)), None)
