"""A small inline SVG of one lab value over time, with its reference range as a band.

Made for a row of a result table (about 10 rem wide): no axes, a dot per result, the latest one
larger; the figures themselves are in the table and in the image's text alternative, so the
picture is never the only carrier of a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape

WIDTH, HEIGHT, PAD = 160, 36, 4


def sparkline(points: Sequence[tuple[date, float]], low: float | None, high: float | None, label: str,
              current: date | None = None) -> str:
    """The SVG (markup, its text escaped) of ``points`` (day, value) in date order, the point of ``current``
    (default: the latest) drawn larger; '' for fewer than two points."""
    if len(points) < 2:
        return ""
    values = [v for _, v in points] + [x for x in (low, high) if x is not None]
    v0, v1 = min(values), max(values)
    if v1 == v0:
        v0, v1 = v0 - 1, v1 + 1
    d0, d1 = points[0][0].toordinal(), points[-1][0].toordinal()
    span = max(d1 - d0, 1)

    def x(day: date) -> float:
        return PAD + (day.toordinal() - d0) / span * (WIDTH - 2 * PAD)

    def y(value: float) -> float:
        return HEIGHT - PAD - (value - v0) / (v1 - v0) * (HEIGHT - 2 * PAD)

    parts = [f'<svg class="trend" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>']
    if low is not None and high is not None:
        parts.append(f'<rect class="range" x="0" y="{y(high):.1f}" width="{WIDTH}" height="{y(low) - y(high):.1f}"/>')
    line = " L".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points)
    parts.append(f'<path d="M{line}" fill="none"/>')
    current = current or points[-1][0]
    for d, v in points:
        out = (low is not None and v < low) or (high is not None and v > high)
        radius = 3.5 if d == current else 2.2
        parts.append(f'<circle class="{"out" if out else "in"}" cx="{x(d):.1f}" cy="{y(v):.1f}" r="{radius}"/>')
    parts.append("</svg>")
    return "".join(parts)
