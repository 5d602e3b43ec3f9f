"""Sharing part of a child's record with a doctor elsewhere, without an account (:mod:`.links`)."""
