"""FHIR operations (``$name``): one module each, its definition declared as data.

An operation module defines ``OPERATION``, an :class:`Operation`; the registry below lists
them, the REST layer dispatches ``[base]/Type/id/$name`` to them, and the
CapabilityStatement advertises them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from medcard.core.db import Database


@dataclass(frozen=True)
class OperationCall:
    """One invocation: where, with which parameters, on which database."""

    db: Database
    base: str
    resource_type: str | None
    resource_id: str | None
    params: list[tuple[str, str]]
    body: Any = None
    page_size: int = 50
    max_page_size: int = 1000


@dataclass
class Result:
    """What an operation returns: a JSON body, or a stream of JSON chunks for large results."""

    status: int = 200
    body: str | None = None
    stream: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[OperationCall], Awaitable[Result]]


@dataclass(frozen=True)
class Operation:
    name: str  # without the $
    definition: str  # canonical URL of its OperationDefinition
    resource_types: tuple[str, ...]
    instance: bool
    type_level: bool
    system: bool
    methods: tuple[str, ...]
    handler: Handler
    documentation: str = ""


def registry() -> dict[str, Operation]:
    """Every operation medcard implements, by name."""
    from medcard.fhir.operations import everything

    ops = [everything.OPERATION]
    return {op.name: op for op in ops}
