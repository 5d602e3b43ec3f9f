"""Who is asking: the person or program behind a request, with what they may ask for.

Built once per request from the bearer token (or the session cookie) and carried by the request
context everywhere, so the policy, the store and the audit log see the same requester.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medcard.access.scopes import Scopes

STAFF_ROLES = ("pediatrician", "nurse", "specialist", "registrar", "archivist", "clinic-admin", "city-admin")


@dataclass(frozen=True)
class StaffRole:
    role: str
    organization_id: str  # "" for city-wide roles


@dataclass(frozen=True)
class Requester:
    """The person (staff or family) or program (a backend client) a request is made by."""

    kind: str  # "staff" | "family" | "system"
    name: str
    account_id: str | None = None
    roles: tuple[StaffRole, ...] = ()
    practitioner_id: str | None = None
    patient_id: str | None = None  # a family account that is itself a patient (a teenager's own access)
    level: str = "standard"  # family accounts: "full" once the identity was verified
    client_id: str | None = None
    scopes: Scopes = field(default_factory=Scopes.everything)
    launch_patient: str | None = None  # the SMART launch context: the one patient a token is for
    source: str | None = None  # the address the request came from
    break_glass: str | None = None  # the reason stated for emergency access on this request
    purpose: str = "TREAT"

    @property
    def organizations(self) -> tuple[str, ...]:
        return tuple(r.organization_id for r in self.roles if r.organization_id)

    def has_role(self, *roles: str) -> bool:
        return any(r.role in roles for r in self.roles)

    @property
    def audit_role(self) -> str:
        if self.kind == "staff":
            return ",".join(sorted({r.role for r in self.roles})) or "staff"
        return self.kind

    def with_break_glass(self, reason: str | None) -> Requester:
        from dataclasses import replace

        return replace(self, break_glass=reason)
