"""The synthetic city: realistic children's records of Moscow polyclinics, for the demo, tests and benchmarks.

``medcard synth`` and ``medcard demo`` (:mod:`medcard.synth.commands`) drive it; :func:`city`
streams the resources and :func:`write_ndjson` writes them, one file per type.
"""

from medcard.synth.writer import LOAD_ORDER, CitySize, Stats, city, moscow_today, write_ndjson

__all__ = ["LOAD_ORDER", "CitySize", "Stats", "city", "moscow_today", "write_ndjson"]
