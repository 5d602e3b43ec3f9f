"""Pediatric rules from legal acts, as data: the vaccination calendar and preventive examinations.

Every act is one JSON file in ``data/calendar/`` (Order 1122н, domain.md §1) or
``data/examinations/`` (514н, 211н, domain.md §2) naming the act, its number and date, the
period it is in force, its sources, and its rows. Each row says how sure we are of it
(``status``: ``V``, ``V-2`` or ``UNVERIFIED`` as in domain.md) and ``unverified`` is true
whenever anything in it has no source, with a ``note`` naming the annex to check.

This module is the one loader: :func:`load_calendars` and :func:`load_examination_acts` read
the packaged files and any extra data directories (laid out like ``data/``: a ``calendar/`` and
an ``examinations/`` folder), check every field strictly, and return :class:`Versions`, which
picks the act in force on a date. A new act is a new file; an older act with no end date stops
being in force the day before the next one starts, as a law is replaced by its successor.

Within a file a row may have several versions (the same ``code`` with ``effective_from`` and
``effective_to``): a row an amendment or a better source changed keeps its old version for the
days before the change. The engines pick the version in force on the day that matters (the
forecast: the day a dose falls due, and the evaluation day for catch-up rules; an examination:
the day it is done).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from medcard.pediatrics.rules_files import CALENDAR_FORMAT, EXAMINATIONS_FORMAT, RulesError, read_rules_file
from medcard.pediatrics.rules_model import (
    ActMeta,
    Amendment,
    Calendar,
    CalendarItem,
    CatchUpRule,
    ChildSex,
    Code,
    Disease,
    Duration,
    Effective,
    ExaminationAct,
    Provenance,
    Requirement,
    RiskGroup,
    SchemeDose,
    Sex,
    Simultaneous,
    Source,
    Status,
    Versioned,
    Versions,
    Visit,
)

__all__ = [
    "CALENDAR_FORMAT",
    "EXAMINATIONS_FORMAT",
    "ActMeta",
    "Amendment",
    "Calendar",
    "CalendarItem",
    "CatchUpRule",
    "ChildSex",
    "Code",
    "Disease",
    "Duration",
    "Effective",
    "ExaminationAct",
    "Provenance",
    "Requirement",
    "RiskGroup",
    "RulesError",
    "SchemeDose",
    "Sex",
    "Simultaneous",
    "Source",
    "Status",
    "Versioned",
    "Versions",
    "Visit",
    "calendars",
    "examination_acts",
    "load_calendars",
    "load_examination_acts",
]


# --- The loader ---------------------------------------------------------------------------------

def _files(kind: str, extra_dirs: Sequence[Path]) -> list[Traversable]:
    roots: list[Traversable] = [resources.files("medcard.pediatrics") / "data", *extra_dirs]
    found = []
    for root in roots:
        folder = root / kind
        if folder.is_dir():
            found.extend(sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name))
    return found


def _chain(kind: str, versions: list[Any]) -> Versions[Any]:
    """Order versions by start; an act with no end date (or a later one) ends where the next begins."""
    versions.sort(key=lambda v: v.meta.effective_from)
    chained = []
    for current, following in zip(versions, [*versions[1:], None], strict=True):
        meta = current.meta
        if following is not None:
            start = following.meta.effective_from
            if start == meta.effective_from:
                raise RulesError(following.meta.file, "effective_from",
                                 f"{start} is also the start of {meta.file}; two versions cannot start on one day")
            if meta.in_force_until is None or meta.in_force_until >= start:
                meta = replace(meta, in_force_until=start - timedelta(days=1))
        chained.append(replace(current, meta=meta))
    return Versions(kind, tuple(chained))


def _load(kind: str, extra_dirs: Sequence[Path]) -> Versions[Any]:
    """The one loader: every file of ``kind`` in the package and in ``extra_dirs``, checked and chained."""
    versions = [read_rules_file(file, kind) for file in _files(kind, extra_dirs)]
    if not versions:
        raise RulesError(kind, "(folder)", "no rules files found")
    keys = [v.meta.key for v in versions]
    for key in keys:
        if keys.count(key) > 1:
            raise RulesError(f"{key}.json", "(file)", "two files of the same name: an extra file cannot shadow another")
    return _chain(kind, versions)


def load_calendars(extra_dirs: Sequence[Path] = ()) -> Versions[Calendar]:
    """Every version of the vaccination calendar (packaged, plus ``<dir>/calendar/*.json`` of each extra dir)."""
    return _load("calendar", extra_dirs)


def load_examination_acts(extra_dirs: Sequence[Path] = ()) -> Versions[ExaminationAct]:
    """Every act on preventive examinations (packaged, plus ``<dir>/examinations/*.json`` of each extra dir)."""
    return _load("examinations", extra_dirs)


@cache
def calendars() -> Versions[Calendar]:
    """The packaged calendar versions, loaded once."""
    return load_calendars()


@cache
def examination_acts() -> Versions[ExaminationAct]:
    """The packaged examination acts, loaded once."""
    return load_examination_acts()
