"""Time: aware UTC inside, Europe/Moscow at the edge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

CLINIC_TZ = ZoneInfo("Europe/Moscow")


def utcnow() -> datetime:
    """Now, in UTC, truncated to milliseconds (the precision of ``meta.lastUpdated``)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@lru_cache(maxsize=1024)
def fhir_instant(moment: datetime) -> str:
    """A FHIR ``instant`` with millisecond precision, e.g. ``2026-11-25T17:03:12.120Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def http_date(moment: datetime) -> str:
    """An HTTP-date (RFC 9110), e.g. for ``Last-Modified``."""
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _calendar_today() -> date:
    return datetime.now(CLINIC_TZ).date()


# Where today_moscow() reads the day. Tests set it to a fixed day (tests/conftest.py), so that ages,
# due dates and date approximations do not move with the calendar; medcard itself never sets it.
calendar: Callable[[], date] = _calendar_today


def today_moscow() -> date:
    """Today's date as the clinics count it (Europe/Moscow): age rules apply from this day."""
    return calendar()
