"""Conversions shared by indexing and querying: string folding and FHIR date ranges."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache

from medcard.core.time import CLINIC_TZ

# Open ends of a range (PostgreSQL timestamptz handles both).
MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower case, without accents or diacritics, ё as е, single spaces: how strings are matched."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped).strip()


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """The instants a FHIR date, dateTime or instant covers, as [low, high).

    The precision sets the width (``2024`` is the whole year); values without a time zone
    are taken in the clinic's zone (Europe/Moscow).
    """
    if len(text) > _CACHED_DATE:  # a fraction of a second with a thousand digits is still a dateTime
        return _date_range.__wrapped__(text)
    return _date_range(text)


# No date written the usual way is longer (2024-03-01T10:00:00.123456789+03:00); longer text is not
# kept in the cache, which would otherwise hold whatever a request sent.
_CACHED_DATE = 40


@lru_cache(maxsize=65536)  # pure, and the same dates recur across a record (a visit's date on all it made)
def _date_range(text: str) -> tuple[datetime, datetime] | None:
    m = _DATE.fullmatch(text.strip())
    if m is None:
        return None
    year = int(m["y"])
    try:
        if m["m"] is None:
            low = datetime(year, 1, 1, tzinfo=CLINIC_TZ)
            return _utc(low), _utc(datetime(year + 1, 1, 1, tzinfo=CLINIC_TZ))
        month = int(m["m"])
        if m["d"] is None:
            low = datetime(year, month, 1, tzinfo=CLINIC_TZ)
            high = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=CLINIC_TZ)
            return _utc(low), _utc(high)
        day = int(m["d"])
        if m["H"] is None:
            low = datetime(year, month, day, tzinfo=CLINIC_TZ)
            return _utc(low), _utc(low + timedelta(days=1))
        tz = _zone(m["tz"])
        hour, minute = int(m["H"]), int(m["M"])
        if m["S"] is None:
            low = datetime(year, month, day, hour, minute, tzinfo=tz)
            return _utc(low), _utc(low + timedelta(minutes=1))
        second = min(int(m["S"]), 59)  # a leap second 60 counts as 59
        fraction = m["f"] or ""
        micro = int((fraction + "000000")[:6]) if fraction else 0
        low = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        step = timedelta(microseconds=10 ** max(0, 6 - len(fraction))) if fraction else timedelta(seconds=1)
        return _utc(low), _utc(low + step)
    except (ValueError, OverflowError):
        return None


@lru_cache(maxsize=256)
def _zone(tz: str | None) -> tzinfo:
    if tz is None:
        return CLINIC_TZ
    if tz == "Z":
        return UTC
    sign = 1 if tz[0] == "+" else -1
    return timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def decimal_range(value: Decimal | int) -> tuple[Decimal, Decimal]:
    """The interval a decimal stands for by its precision: 100 is [99.5, 100.5), 1.50 is [1.495, 1.505)."""
    d = Decimal(value)
    exponent = d.as_tuple().exponent
    half = Decimal(5).scaleb((exponent if isinstance(exponent, int) else 0) - 1)
    return d - half, d + half
