"""Benchmark: the pediatric engine's hot calls, in process.

- ``growth.zscore`` against a baseline of the bare LMS formula on constants (what any
  implementation must compute), so the ratio is the cost of table lookup and the WHO rules;
- ``immunization.forecast`` for a 7-year-old with a full history, all twelve diseases.

Prints figures and ratios; asserts nothing.

    python bench/bench_pediatrics.py
"""

from __future__ import annotations

import math
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date

from medcard.pediatrics import immunization
from medcard.pediatrics.growth import zscore

CASES = [("weight-for-age", 400, 9.0, None), ("bmi-for-age", 3000, 16.0, None),
         ("weight-for-height", 400, 9.0, 75.35), ("height-for-age", 5000, 150.0, None)]


def per_call(fn: Callable[[], object], n: int, rounds: int = 7) -> float:
    """Median seconds per call over several rounds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times)


def bare_lms() -> float:
    lam, mu, sigma, x = 0.3487, 3.3464, 0.14602, 3.9
    return ((x / mu) ** lam - 1) / (lam * sigma) if lam else math.log(x / mu) / sigma


def growth_calls() -> None:
    for indicator, age, value, height in CASES:
        zscore(indicator, "female", age, value, height_cm=height)


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    growth_calls()  # tables loaded
    base = per_call(bare_lms, 200_000)
    z = per_call(growth_calls, 20_000) / len(CASES)
    print("1. growth z-score")
    print(f"  bare LMS formula on constants (baseline)   {base * 1e6:8.2f} µs")
    print(f"  growth.zscore                              {z * 1e6:8.2f} µs   ({z / base:.0f}x the bare formula)")

    child = immunization.Child(date(2019, 3, 1), "female")
    on = date(2026, 11, 26)
    done = immunization.forecast(child, (), date(2019, 3, 1))
    events = []
    # a history on time: every dose given on its due date, walking forward
    day = date(2019, 3, 1)
    while day < on:
        due = [f for f in immunization.forecast(child, events, day) if f.status in ("due", "overdue")]
        for f in due:
            events.append(immunization.ImmunizationEvent(day, frozenset({f.disease.snomed})))
        day = date.fromordinal(day.toordinal() + 15)
    f_empty = per_call(lambda: immunization.forecast(child, (), on), 200)
    f_full = per_call(lambda: immunization.forecast(child, events, on), 200)
    print(f"2. vaccination forecast, 12 diseases ({len(done)} forecasts)")
    print(f"  child with no vaccinations (baseline)      {f_empty * 1e3:8.3f} ms")
    print(f"  7-year-old with {len(events):3d} doses on record     {f_full * 1e3:8.3f} ms   ({f_full / f_empty:.2f}x)")


if __name__ == "__main__":
    main()
