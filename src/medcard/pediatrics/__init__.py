"""Pediatric clinical engine: vaccination calendar, preventive examinations and growth."""
