"""A child's age as the banner and the timeline write it (docs: shared ux.md §2).

"12 дн." under one month, "4 мес." under one year, "1 г. 4 мес." under three years, "7 лет" from
three years on. Whole months and years are counted on the calendar (a child born on 31 January is
one month old on the last day of February).
"""

from __future__ import annotations

import calendar
from datetime import date

from medcard.core.wording import years_word


def months_between(birth: date, on: date) -> int:
    """Whole calendar months from ``birth`` to ``on`` (0 before the first monthly birthday)."""
    months = (on.year - birth.year) * 12 + on.month - birth.month
    last_day = calendar.monthrange(on.year, on.month)[1]
    if on.day < min(birth.day, last_day):
        months -= 1
    return max(months, 0)


def age_text(birth: date, on: date) -> str:
    """The age on ``on`` of a child born on ``birth``; '' when ``on`` is before the birth."""
    if on < birth:
        return ""
    months = months_between(birth, on)
    if months == 0:
        return f"{(on - birth).days} дн."
    if months < 12:
        return f"{months} мес."
    years, rest = divmod(months, 12)
    if years < 3:
        return f"{years} г. {rest} мес." if rest else f"{years} г."
    return f"{years} {years_word(years)}"


def age_at(birth: date | None, on: date | None) -> str:
    """"в 6 мес." — the age at an event, for the timeline ('' when a date is unknown)."""
    if birth is None or on is None:
        return ""
    text = age_text(birth, on)
    return f"в {text}" if text else ""
