"""SMART on FHIR scopes (v1 ``patient/Observation.read`` and v2 ``patient/Observation.rs``).

Scopes only ever narrow what the policy allows: a request passes when the policy allows it AND
a scope covers its resource type and action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# action -> the v2 permission letter (export: reading the whole record)
ACTIONS = {"create": "c", "read": "r", "update": "u", "delete": "d", "search": "s", "export": "r"}
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.(read|write|\*|[cruds]+)$")
OTHER_SCOPES = {"openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access", "online_access"}


@dataclass(frozen=True)
class Grant:
    level: str  # patient | user | system
    resource_type: str  # a type or "*"
    permissions: str  # letters of "cruds"


@dataclass(frozen=True)
class Scopes:
    grants: tuple[Grant, ...]
    other: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> Scopes:
        """Parse a space-separated scope string; ValueError names the first scope not understood."""
        grants, other = [], set()
        for item in text.split():
            if item in OTHER_SCOPES:
                other.add(item)
                continue
            match = _SCOPE.match(item)
            if match is None:
                raise ValueError(f"unknown scope {item!r}")
            level, rtype, perms = match.groups()
            grants.append(Grant(level, rtype, _V1.get(perms, perms)))
        return cls(tuple(grants), frozenset(other))

    @classmethod
    def everything(cls) -> Scopes:
        """What a signed-in person has in medcard's own pages: everything the policy allows."""
        return cls((Grant("user", "*", "cruds"),))

    def allows(self, resource_type: str, action: str) -> bool:
        letter = ACTIONS[action]  # an unknown action is a programming error, never a silent "read"
        return any(g.resource_type in ("*", resource_type) and letter in g.permissions for g in self.grants)

    def types_for(self, action: str) -> set[str] | None:
        """The resource types some grant allows ``action`` on; None when a grant covers every type."""
        letter = ACTIONS[action]
        found = {g.resource_type for g in self.grants if letter in g.permissions}
        return None if "*" in found else found

    def levels(self) -> set[str]:
        return {g.level for g in self.grants}

    def patient_only(self) -> bool:
        """Whether every grant is a patient/ scope (the token is for its launch patient alone)."""
        return bool(self.grants) and all(g.level == "patient" for g in self.grants)

    def text(self) -> str:
        return " ".join([*(f"{g.level}/{g.resource_type}.{g.permissions}" for g in self.grants), *sorted(self.other)])

    def narrowed_to(self, allowed: Scopes) -> Scopes:
        """These scopes, keeping only what ``allowed`` (a client's registered scopes) covers."""
        kept = tuple(g for g in self.grants if all(
            any(a.level == g.level and a.resource_type in ("*", g.resource_type) and p in a.permissions
                for a in allowed.grants) for p in g.permissions))
        return Scopes(kept, self.other & (allowed.other | {"openid", "fhirUser", "launch/patient", "offline_access"}))
