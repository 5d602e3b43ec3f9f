"""Typed errors that carry their HTTP status and FHIR issue code.

Every failure medcard reports is one of these; the API renders it as an OperationOutcome in
one place (``medcard.fhir.api.errors``), pages as a friendly message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# What a FHIR string may not hold (controls below U+0020 but tab, LF, CR; lone surrogates): a message that
# quotes bad input shows such characters as escapes, so the OperationOutcome stays valid and serializable.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem, as an OperationOutcome.issue: what, where (FHIRPath) and how bad."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": _printable(self.diagnostics),
        }
        if self.expression:
            out["expression"] = [_printable(e) for e in self.expression]
        return out


class MedcardError(Exception):
    """Base of medcard's errors: an HTTP status plus one or more issues."""

    status: int = 400
    code: str = "invalid"

    def __init__(
        self,
        message: str,
        issues: list[Issue] | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.issues = issues or [Issue(message, code=self.code)]
        self.headers = headers or {}

    def operation_outcome(self) -> dict[str, Any]:
        return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in self.issues]}


class BadRequest(MedcardError):
    """400: the request could not be parsed or failed basic FHIR validation."""

    status = 400
    code = "invalid"


class NotAuthenticated(MedcardError):
    """401: no valid credentials."""

    status = 401
    code = "login"


class Forbidden(MedcardError):
    """403: the requester may not do this."""

    status = 403
    code = "forbidden"


class NotFound(MedcardError):
    """404: no such resource, type or route."""

    status = 404
    code = "not-found"


class MethodNotAllowed(MedcardError):
    """405: the interaction is not supported on this target."""

    status = 405
    code = "not-supported"


class NotAcceptable(MedcardError):
    """406: no acceptable representation."""

    status = 406
    code = "not-supported"


class Conflict(MedcardError):
    """409: the change conflicts with the current state (e.g. a concurrent version)."""

    status = 409
    code = "conflict"


class Gone(MedcardError):
    """410: the resource was deleted."""

    status = 410
    code = "deleted"


class PreconditionFailed(MedcardError):
    """412: an If-Match or conditional criterion did not hold."""

    status = 412
    code = "conflict"


class PayloadTooLarge(MedcardError):
    """413: the body is larger than the server accepts."""

    status = 413
    code = "too-costly"


class UnsupportedMediaType(MedcardError):
    """415: the body's content type is not one medcard reads."""

    status = 415
    code = "not-supported"


class Unprocessable(MedcardError):
    """422: well-formed FHIR that breaks a business rule (dangling reference, bad check digit)."""

    status = 422
    code = "business-rule"


class ServiceUnavailable(MedcardError):
    """503: a dependency (the database) is not reachable."""

    status = 503
    code = "transient"
