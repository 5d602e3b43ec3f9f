"""FHIR operations (``$name``): one module each, its definition declared as data.

An operation module defines ``OPERATION``, an :class:`~medcard.fhir.operations.base.Operation`; the
registry below lists them, the REST layer dispatches ``[base]/Type/id/$name`` to them, and the
CapabilityStatement advertises them.
"""

from __future__ import annotations

from functools import cache

from medcard.fhir.operations.base import Handler, Operation, OperationCall, Result

__all__ = ["Handler", "Operation", "OperationCall", "Result", "find", "registry"]


@cache
def registry() -> tuple[Operation, ...]:
    """Every operation medcard implements."""
    from medcard.fhir.operations import (
        document_pdf,
        everything,
        examinations,
        export,
        growth,
        immds_forecast,
        import_,
        record_archive,
        record_book,
        summary,
        vaccination_worklist,
    )

    return (everything.OPERATION, summary.OPERATION, *export.OPERATIONS, import_.OPERATION, *growth.OPERATIONS,
            immds_forecast.OPERATION, examinations.OPERATION, vaccination_worklist.OPERATION,
            record_archive.OPERATION, document_pdf.OPERATION, record_book.OPERATION)


def find(name: str, rtype: str | None, rid: str | None) -> Operation | None:
    """The operation ``$name`` as invoked on the server, a type, or an instance."""
    return next((op for op in registry() if op.name == name and op.applies(rtype, rid)), None)
