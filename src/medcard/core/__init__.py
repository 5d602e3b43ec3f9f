"""Infrastructure shared by every domain: database, errors, JSON, time."""
