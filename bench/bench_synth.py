"""Benchmark: how fast the synthetic city is generated, and how many resources a child's life makes.

Generates full-history children and demographic-only patients in memory (no files) and compares
with a baseline measured in the same run: serializing the very same resources to JSON with orjson
(the least any generator writing NDJSON must spend). Prints figures and ratios; asserts nothing.

    python bench/bench_synth.py [--children N] [--demographic N]
"""

from __future__ import annotations

import argparse
import platform
import resource as rusage
import time
from datetime import date

import orjson

from medcard.synth import CitySize, Stats, city

TODAY = date(2026, 11, 25)


def measure(size: CitySize, seed: int) -> tuple[Stats, int, float, float, int]:
    """(stats, resources, seconds generating, seconds serializing the same resources, peak resident memory)."""
    stats = Stats()
    count = 0
    serialize = 0.0
    started = time.perf_counter()
    for resource in city(seed, size, TODAY, stats):
        t = time.perf_counter()
        orjson.dumps(resource)
        serialize += time.perf_counter() - t
        count += 1
    total = time.perf_counter() - started
    peak = rusage.getrusage(rusage.RUSAGE_SELF).ru_maxrss * 1024  # the process's peak resident size
    return stats, count, total - serialize, serialize, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--demographic", type=int, default=20_000)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")

    stats, n, gen, ser, peak = measure(CitySize(args.children, 3), 1)
    per_child = stats.child_resources / stats.children
    per_year = stats.child_resources / stats.child_years
    print(f"1. {args.children} full-history children (0-17 years): {n:,} resources")
    print(f"  {per_child:.0f} resources per child, {per_year:.1f} per year of life")
    print(f"  orjson.dumps of the same resources (baseline)  {n / ser:12,.0f} resources/s")
    print(f"  generation                                     {n / gen:12,.0f} resources/s "
          f"({gen / ser:.1f}x the serialization); process peak {peak / 2**20:.0f} MiB")

    stats, n, gen, ser, peak = measure(CitySize(0, 3, args.demographic), 2)
    print(f"2. {args.demographic:,} demographic-only patients: {n:,} resources")
    print(f"  orjson.dumps of the same resources (baseline)  {n / ser:12,.0f} resources/s")
    print(f"  generation                                     {n / gen:12,.0f} resources/s "
          f"({gen / ser:.1f}x the serialization); process peak {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
