"""What an operation is: its definition (:class:`Operation`), an invocation (:class:`OperationCall`) and
its answer (:class:`Result`). Each operation module imports these; the package's registry imports the
modules, so the two never import each other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from medcard.access.gate import Gate
from medcard.config import Settings
from medcard.core.db import Database


@dataclass(frozen=True)
class OperationCall:
    """One invocation: where, with which parameters and headers, on which database.

    ``body`` is the parsed JSON body; for operations that read their body themselves
    (``raw_body``), ``stream`` yields it and ``content_type`` says what it is.
    """

    db: Database
    settings: Settings
    base: str
    resource_type: str | None
    resource_id: str | None
    params: list[tuple[str, str]]
    body: Any = None
    gate: Gate | None = None  # the request's access gate (decided before the handler runs)
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""
    content_type: str = ""
    stream: AsyncIterator[bytes] | None = None

    @property
    def page_size(self) -> int:
        return self.settings.page_size

    @property
    def max_page_size(self) -> int:
        return self.settings.max_page_size


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
    raw_body: bool = False  # the handler reads the request body itself (uploads)
    # Who may invoke it: "read" or "export" of the one patient it is invoked on (the policy decides), "read"
    # of the one resource it is invoked on (DocumentReference/{id}/$pdf), or "system": backend services only.
    access: str = "system"
    # The types of the record, besides the Patient, that its answer shows: the requester must be allowed to
    # read each of them (their role and scopes), or the operation is refused as the record would be.
    shows: tuple[str, ...] = ()


    def applies(self, rtype: str | None, rid: str | None) -> bool:
        """Whether the operation is defined where it was invoked: on the server, a type or an instance."""
        if rtype is None:
            return self.system
        if rtype not in self.resource_types:
            return False
        return self.instance if rid is not None else self.type_level
