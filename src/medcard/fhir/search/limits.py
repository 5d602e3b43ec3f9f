"""What one search may ask for: the text of its parameters, how many criteria and OR values it has.

PostgreSQL plans a search's criteria as one semi-join each, and the planner's work grows much
faster than their number: against one repetition of ``family=``, 20 cost about 260 times as much,
40 about 2,300 times, 50 about 5,700 times, 300 took 19 s; 100 ORed values of one parameter cost
about 110 times one (``bench/bench_search_limits.py``). So a search may have at most
``criteria`` criteria (each repetition of a parameter, each part of a chained or ``_has``
parameter; ``_include``/``_revinclude`` values and ``_sort`` keys are counted on their own
against the same number), and a parameter at most ``or_values`` comma-separated values. Beyond
them the answer is 400, naming the parameter and the limit.

The limits are settings (``MEDCARD_MAX_SEARCH_CRITERIA``, ``MEDCARD_MAX_SEARCH_OR_VALUES``). Searches
arrive by many roads (URLs, ``_search`` forms, Bundle entries, conditions of conditional writes),
so the limits of the request being served are kept in a context variable that the HTTP layer
sets for each request (:func:`apply`); work outside a request (the command line, jobs) has
the defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from medcard.config import Settings
from medcard.core.errors import BadRequest
from medcard.fhir.validation import string_problem

# The longest single search value, in characters: longer than any code, URL, name or phrase searched
# for, and short enough that no value costs much to fold, match or cache.
MAX_VALUE_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class SearchLimits:
    """The most criteria one search may have, and the most OR values of one parameter."""

    criteria: int
    or_values: int


DEFAULTS = SearchLimits(Settings.model_fields["max_search_criteria"].default,
                        Settings.model_fields["max_search_or_values"].default)
_current: ContextVar[SearchLimits] = ContextVar("medcard_search_limits", default=DEFAULTS)


def current() -> SearchLimits:
    """The limits of the request being served (the defaults outside a request)."""
    return _current.get()


def apply(limits: SearchLimits) -> Token[SearchLimits]:
    """Apply ``limits`` to the searches made from now on in this context (and the tasks it starts)."""
    return _current.set(limits)


def reset(token: Token[SearchLimits]) -> None:
    """Undo :func:`apply`."""
    _current.reset(token)


@contextmanager
def applied(limits: SearchLimits) -> Iterator[None]:
    """Apply ``limits`` to the searches made within the block (and the tasks it starts)."""
    token = apply(limits)
    try:
        yield
    finally:
        reset(token)


def check_text(pairs: Iterable[tuple[str, str]]) -> None:
    """400 for a parameter name or value that no stored text can match and PostgreSQL may not take:
    U+0000, other control characters, lone surrogates."""
    for name, value in pairs:
        problem = string_problem(name)
        if problem is not None:
            raise BadRequest(f"the name of the search parameter {name!r} {problem}")
        problem = string_problem(value)
        if problem is not None:
            raise BadRequest(f"the value of the search parameter '{name}' {problem}")


def check_values(name: str, values: tuple[str, ...]) -> None:
    """400 for a parameter with too many OR values, or a value too long."""
    limit = current().or_values
    if len(values) > limit:
        raise BadRequest(f"the search parameter '{name}' has {len(values)} comma-separated values; "
                         f"a parameter may have at most {limit}", code="too-costly")
    for value in values:
        if len(value) > MAX_VALUE_LENGTH:
            raise BadRequest(f"a value of the search parameter '{name}' has {len(value)} characters; "
                             f"a search value may have at most {MAX_VALUE_LENGTH}", code="too-costly")


def check_count(name: str, count: int, what: str) -> None:
    """400 when the ``count`` th criterion (``_include``, sort key...) of a search is beyond the limit."""
    limit = current().criteria
    if count > limit:
        raise BadRequest(f"the search parameter '{name}' brings the search to {count} {what}; "
                         f"a search may have at most {limit}", code="too-costly")
