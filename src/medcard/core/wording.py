"""Russian wording the pages, documents and synthetic texts share: the plural form after a number."""

from __future__ import annotations


def plural(n: int, one: str, few: str, many: str) -> str:
    """The form of a word after ``n``: 1 год, 2 года, 5 лет, 11 лет, 21 год."""
    tail, tail100 = n % 10, n % 100
    if tail == 1 and tail100 != 11:
        return one
    if 2 <= tail <= 4 and not 12 <= tail100 <= 14:
        return few
    return many


def years_word(n: int) -> str:
    """год / года / лет after a number."""
    return plural(n, "год", "года", "лет")
