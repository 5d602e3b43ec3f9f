"""What the domains hook into the store, installed by every entry point before it writes.

The store (``medcard.fhir``) knows no domain; a domain that keeps a table derived from the
records (the vaccination worklist) hands it to the store here. The server (``create_app``), the
job worker and the commands call :func:`install` at start; a write without it is refused
(``medcard.fhir.derived.registry``).
"""

from __future__ import annotations

from medcard.fhir import derived
from medcard.pediatrics import vaccination_due


def install() -> None:
    """Register the domains' derived tables with the store (again changes nothing)."""
    derived.install((vaccination_due.DERIVED,))
