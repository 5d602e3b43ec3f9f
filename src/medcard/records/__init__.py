"""Clinicians' access to children's records beyond the FHIR API: finding a child, recent patients."""
