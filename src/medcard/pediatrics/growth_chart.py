"""Growth charts as SVG text: the WHO centile curves of one indicator and sex, with a child's points.

One renderer for every surface: pages embed the SVG, PDF documents draw the same text. It is a
pure function of its arguments and the WHO tables (read through :mod:`medcard.pediatrics.growth`),
needs no library, and writes the same bytes for the same input.

The curves are the centiles of ``centile_lines.json`` (3, 15, 50, 85, 97), one ``<path
class="centile">`` each; a path breaks where the reference changes table (recumbent length to
standing height at 2 years, the 2006 standards to the 2007 reference after 5 years), as WHO's own
charts do. The child's points are ``<circle class="point">`` elements.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from medcard.core.wording import years_word as _years_word
from medcard.pediatrics import growth

Lang = Literal["ru", "en"]
# A centile curve: one list of (x, value) vertices per reference segment.
Curve = list[list[tuple[float, float]]]

WIDTH, HEIGHT = 800, 560
LEFT, RIGHT, TOP, BOTTOM = 70, 56, 56, 78
# At most this many vertices per curve segment: smooth at chart size, small in a page or a PDF.
_MAX_SAMPLES = 400
_COLOURS = {3: "#c0392b", 15: "#e67e22", 50: "#27ae60", 85: "#e67e22", 97: "#c0392b"}

_INDICATOR_NAMES: dict[str, dict[Lang, str]] = {
    "weight-for-age": {"ru": "Масса тела к возрасту", "en": "Weight-for-age"},
    "height-for-age": {"ru": "Длина/рост к возрасту", "en": "Length/height-for-age"},
    "bmi-for-age": {"ru": "ИМТ к возрасту", "en": "BMI-for-age"},
    "head-circumference-for-age": {"ru": "Окружность головы к возрасту", "en": "Head circumference-for-age"},
    "weight-for-length": {"ru": "Масса тела к длине тела", "en": "Weight-for-length"},
    "weight-for-height": {"ru": "Масса тела к росту", "en": "Weight-for-height"},
}
_VALUE_AXES: dict[str, dict[Lang, str]] = {
    "weight-for-age": {"ru": "Масса тела, кг", "en": "Weight, kg"},
    "height-for-age": {"ru": "Длина/рост, см", "en": "Length/height, cm"},
    "bmi-for-age": {"ru": "ИМТ, кг/м²", "en": "BMI, kg/m²"},
    "head-circumference-for-age": {"ru": "Окружность головы, см", "en": "Head circumference, cm"},
    "weight-for-height": {"ru": "Масса тела, кг", "en": "Weight, kg"},
}
_WORDS: dict[str, dict[Lang, str]] = {
    "male": {"ru": "мальчики", "en": "boys"},
    "female": {"ru": "девочки", "en": "girls"},
    "who": {"ru": "ВОЗ", "en": "WHO"},
    "months": {"ru": "Возраст, мес.", "en": "Age, months"},
    "years": {"ru": "Возраст, лет", "en": "Age, years"},
    "length": {"ru": "Длина тела, см", "en": "Length, cm"},
    "height": {"ru": "Рост, см", "en": "Height, cm"},
    "who2006": {"ru": "Стандарты роста детей ВОЗ (2006)", "en": "WHO Child Growth Standards (2006)"},
    "who2007": {"ru": "Референсные данные ВОЗ (2007)", "en": "WHO Growth Reference (2007)"},
    "centile": {"ru": "центиль", "en": "centile"},
}


@dataclass(frozen=True, slots=True)
class _Frame:
    """The plotting area and the data ranges it shows."""

    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one chart shows: the segments of the reference, the x range and how x is labelled."""

    indicator: str
    sex: str
    segments: tuple[growth.Segment, ...]
    x0: float
    x1: float
    by_height: bool


def render_growth_chart(
    indicator: str,
    sex: str,
    points: Sequence[tuple[float, float]] = (),
    *,
    lang: Lang = "ru",
    age_days: tuple[int, int] | None = None,
    recumbent: bool | None = None,
    title: str | None = None,
) -> str:
    """The SVG chart of one indicator and sex, with the child's ``points`` on it.

    Points are (age in days, value) — plot a preterm child at the age the z-score used, see
    :func:`growth.corrected_age_days` — or, for weight-for-height, (length/height in cm, weight).
    ``age_days`` picks the ages shown; by default the smallest of 0-2 years, 0-5 years, 5 years
    to the end of the reference, or all of it, that holds every point. Weight-for-height shows
    the weight-for-length standard (lying, under 2 years) unless ``recumbent`` is False, over the
    standard's whole length range (``age_days`` does not apply to it).
    ``lang`` is "ru" (default) or "en"; ``title`` replaces the generated one.
    """
    growth.check_sex(sex)
    if lang not in ("ru", "en"):
        raise ValueError(f"lang must be 'ru' or 'en', not {lang!r}")
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in points):
        raise ValueError("points must be pairs of finite numbers")
    plan = _plan(indicator, sex, points, age_days, recumbent)
    curves = _curves(plan)
    shown = [(x, y) for x, y in points if plan.x0 <= x <= plan.x1]
    frame = _frame(plan, curves, shown)
    parts = [
        _open(title or _title(plan, lang)),
        *_grid(plan, frame, lang),
        _drawn_centiles(plan, frame, lang),
        *_child(shown, frame, plan, lang),
        _source_note(plan, lang),
        "</svg>\n",
    ]
    return "\n".join(parts)


# --- What to draw -------------------------------------------------------------------------------


def _plan(
    indicator: str,
    sex: str,
    points: Sequence[tuple[float, float]],
    age_days: tuple[int, int] | None,
    recumbent: bool | None,
) -> _Plan:
    segments = growth.segments(indicator)
    if indicator == "weight-for-height":
        wanted = "who2006-height" if recumbent is False else "who2006-length"
        segment = next(s for s in segments if s.id == wanted)
        return _Plan(indicator, sex, (segment,), *segment.x_range, True)
    low, high = age_days if age_days is not None else _age_window(segments, [x for x, _ in points])
    if not low < high:
        raise ValueError(f"age_days must be an increasing pair of ages, not {age_days!r}")
    shown = tuple(s for s in segments if s.age_days[0] <= high and s.age_days[1] >= low)
    if not shown:
        raise ValueError(f"the {indicator} reference covers no age in {age_days!r}")
    return _Plan(indicator, sex, shown, float(low), float(high), False)


def _age_window(segments: tuple[growth.Segment, ...], ages: list[float]) -> tuple[int, int]:
    """The smallest standard window of ages (0-2 y, 0-5 y, 5 y-end, all) that holds every age."""
    first, last = segments[0].age_days[0], segments[-1].age_days[1]
    # The charts WHO prints: under 2 years (lying length), under 5 (the 2006 standards), 5-19 years.
    two_years = int(growth.reference_data("indicators")["standing_from_days"]) - 1
    five_years = max(s.age_days[1] for s in segments if s.id.startswith("who2006"))
    candidates = [(first, min(two_years, last)), (first, min(five_years, last))]
    if last > five_years:
        candidates.append((five_years + 1, last))
    candidates.append((first, last))
    for low, high in candidates:
        if all(low <= age <= high for age in ages):
            return low, high
    return first, last


def _chart_centiles() -> list[float]:
    return [float(c) for c in growth.reference_data("centile_lines")["chart_centiles"]]


# The same few plans recur for every child (a standard age window, a sex), and their curves are
# most of a chart's cost: they are kept, read back only, never changed. Bounded: cleared when full.
_CACHE_SIZE = 64
_CURVES: dict[tuple[object, ...], dict[float, Curve]] = {}
_DRAWN: dict[tuple[object, ...], str] = {}


def _plan_key(plan: _Plan) -> tuple[object, ...]:
    return (plan.indicator, plan.sex, tuple(s.id for s in plan.segments), plan.x0, plan.x1, plan.by_height)


def _curves(plan: _Plan) -> dict[float, Curve]:
    key = _plan_key(plan)
    found = _CURVES.get(key)
    if found is None:
        if len(_CURVES) >= _CACHE_SIZE:
            _CURVES.clear()
        found = _CURVES[key] = {c: list(_curve(plan, c)) for c in _chart_centiles()}
    return found


def _drawn_centiles(plan: _Plan, frame: _Frame, lang: Lang) -> str:
    """The centile paths and their labels in a frame (most children's points fit the curves' own frame)."""
    key = (*_plan_key(plan), frame, lang)
    found = _DRAWN.get(key)
    if found is None:
        curves = _curves(plan)
        if len(_DRAWN) >= _CACHE_SIZE:
            _DRAWN.clear()
        found = _DRAWN[key] = "\n".join([*(_centile_path(c, paths, frame) for c, paths in curves.items()),
                                          *_centile_labels(curves, frame, lang)])
    return found


def _curve(plan: _Plan, centile: float) -> Iterator[list[tuple[float, float]]]:
    """The curve of one centile: one list of (x, value) per reference segment in the chart."""
    z = NormalDist().inv_cdf(centile / 100)
    for segment in plan.segments:
        low, high = max(segment.x_range[0], plan.x0), min(segment.x_range[1], plan.x1)
        vertices = []
        for x in _samples(low, high, segment.x_step):
            lms = segment.lms(plan.sex, x)
            if lms is not None:
                vertices.append((x, lms.value(z)))
        if vertices:
            yield vertices


def _samples(low: float, high: float, unit: float) -> Iterator[float]:
    """Evenly spaced x values from ``low`` to ``high`` on the table's grid, both ends included."""
    count = round((high - low) / unit)
    stride = max(1, math.ceil(count / _MAX_SAMPLES))
    for k in range(0, count, stride):
        yield low + k * unit
    yield high


def _frame(plan: _Plan, curves: dict[float, Curve], shown: list[tuple[float, float]]) -> _Frame:
    values = [y for paths in curves.values() for path in paths for _, y in path] + [y for _, y in shown]
    low, high = min(values), max(values)
    pad = (high - low) * 0.04
    return _Frame(plan.x0, plan.x1, low - pad, high + pad)


# --- SVG pieces ---------------------------------------------------------------------------------


def _open(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
        f'font-family="sans-serif" font-size="12">\n'
        f'<title id="chart-title">{escape(title)}</title>\n'
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>\n'
        f'<text class="title" x="{WIDTH / 2:.1f}" y="30" text-anchor="middle" font-size="16" '
        f'font-weight="bold">{escape(title)}</text>'
    )


def _grid(plan: _Plan, frame: _Frame, lang: Lang) -> Iterator[str]:
    """Grid lines, tick labels and axis titles."""
    bottom, top = HEIGHT - BOTTOM, TOP
    for y in _nice_ticks(frame.y0, frame.y1):
        py = frame.py(y)
        yield f'<line class="grid" x1="{LEFT}" y1="{py:.1f}" x2="{WIDTH - RIGHT}" y2="{py:.1f}" stroke="#dddddd"/>'
        yield f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{_number(y)}</text>'
    x_ticks, x_title = _x_ticks(plan, lang)
    for x, label in x_ticks:
        px = frame.px(x)
        colour = "#dddddd" if label else "#f0f0f0"
        yield f'<line class="grid" x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{bottom}" stroke="{colour}"/>'
        if label:
            yield f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle">{escape(label)}</text>'
    yield (f'<rect class="frame" x="{LEFT}" y="{top}" width="{WIDTH - LEFT - RIGHT}" height="{bottom - top}" '
           f'fill="none" stroke="#555555"/>')
    centre = (LEFT + WIDTH - RIGHT) / 2
    yield f'<text class="axis-title" x="{centre:.1f}" y="{bottom + 36}" text-anchor="middle">{escape(x_title)}</text>'
    middle = (top + bottom) / 2
    yield (f'<text class="axis-title" x="18" y="{middle:.1f}" text-anchor="middle" '
           f'transform="rotate(-90 18 {middle:.1f})">{escape(_VALUE_AXES[plan.indicator][lang])}</text>')


def _x_ticks(plan: _Plan, lang: Lang) -> tuple[list[tuple[float, str]], str]:
    """Ticks of the x axis as (x, label; empty for a minor line) and the axis title."""
    if plan.by_height:
        ticks = [(float(cm), str(cm)) for cm in range(math.ceil(plan.x0 / 5) * 5, math.floor(plan.x1) + 1, 5)]
        return ticks, _WORDS["length" if plan.segments[0].id.endswith("length") else "height"][lang]
    dpm = growth.days_per_month()
    # Within a day of the edge counts as on it: 730 days is the 24-month tick, 6939 the 19-year one.
    first, last = math.ceil((plan.x0 - 1) / dpm), math.floor((plan.x1 + 1) / dpm)
    if last - first <= 25:
        ticks = [(m * dpm, str(m) if m % 2 == 0 else "") for m in range(first, last + 1)]
        return ticks, _WORDS["months"][lang]
    minor = 6 if last - first <= 72 else 12
    ticks = [(m * dpm, str(m // 12) if m % 12 == 0 else "") for m in range(first, last + 1) if m % minor == 0]
    return ticks, _WORDS["years"][lang]


def _centile_path(centile: float, paths: Curve, frame: _Frame) -> str:
    """One centile as one path; each reference segment is a subpath of its own."""
    commands = []
    for path in paths:
        points = " L".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in path)
        commands.append(f"M{points}")
    width = 2.0 if centile == 50 else 1.2
    colour = _COLOURS.get(round(centile), "#7f8c8d")
    return (f'<path class="centile" data-centile={quoteattr(_number(centile))} d="{" ".join(commands)}" '
            f'fill="none" stroke="{colour}" stroke-width="{width}"/>')


def _centile_labels(curves: dict[float, Curve], frame: _Frame, lang: Lang) -> Iterator[str]:
    """The centile's number at the right end of its curve."""
    for centile, paths in curves.items():
        x, y = paths[-1][-1]
        label = _number(centile)
        yield (f'<text class="centile-label" x="{frame.px(x) + 4:.1f}" y="{frame.py(y) + 4:.1f}">'
               f"<title>{escape(label)} {escape(_WORDS['centile'][lang])}</title>{escape(label)}</text>")


def _child(shown: list[tuple[float, float]], frame: _Frame, plan: _Plan, lang: Lang) -> Iterator[str]:
    """The child's measurements: a line through them in order of x, and a dot for each."""
    ordered = sorted(shown)
    if len(ordered) > 1:
        d = " L".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in ordered)
        yield f'<path class="child" d="M{d}" fill="none" stroke="#2c3e50" stroke-width="1.5"/>'
    for x, y in ordered:
        where = f"{_number(x)} {'cm' if lang == 'en' else 'см'}" if plan.by_height else _age_text(x, lang)
        yield (f'<circle class="point" cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="3.5" fill="#2c3e50">'
               f"<title>{escape(where)}: {escape(_number(y))}</title></circle>")


def _source_note(plan: _Plan, lang: Lang) -> str:
    sources = sorted({s.id.split("-")[0] for s in plan.segments})
    text = "; ".join(_WORDS[s][lang] for s in sources)
    return f'<text class="source" x="{LEFT}" y="{HEIGHT - 12}" font-size="10" fill="#555555">{escape(text)}</text>'


# --- Words and numbers --------------------------------------------------------------------------


def _title(plan: _Plan, lang: Lang) -> str:
    name = plan.indicator
    if plan.by_height and plan.segments[0].id.endswith("length"):
        name = "weight-for-length"
    low, high = plan.segments[0].age_days[0], plan.segments[-1].age_days[1]
    if not plan.by_height:
        low, high = int(plan.x0), int(plan.x1)
    span = _span_text(low, high, lang)
    return f"{_INDICATOR_NAMES[name][lang]} — {_WORDS[plan.sex][lang]}, {span} ({_WORDS['who'][lang]})"


def _span_text(low_days: int, high_days: int, lang: Lang) -> str:
    """The ages of the chart in words: '0–24 мес.' or '5–19 лет'."""
    dpm = growth.days_per_month()
    if high_days <= 731:
        low, high = round(low_days / dpm), round(high_days / dpm)
        return f"{low}–{high} {'мес.' if lang == 'ru' else 'months'}"
    low, high = round(low_days / dpm / 12), round(high_days / dpm / 12)
    return f"{low}–{high} {_years_word(high) if lang == 'ru' else 'years'}"



def _age_text(age_days: float, lang: Lang) -> str:
    if lang == "ru":
        return f"{_number(age_days)} дн."
    return f"{_number(age_days)} days"


def _nice_ticks(low: float, high: float) -> list[float]:
    """Round values from 1, 2 or 5 times a power of ten, at most ten of them, within [low, high]."""
    raw = (high - low) / 10
    power = 10 ** math.floor(math.log10(raw))
    step = next(f * power for f in (1, 2, 5, 10) if f * power >= raw)
    first = math.ceil(low / step)
    return [k * step for k in range(first, math.floor(high / step) + 1)]


def _number(value: float) -> str:
    """A number as a label: no trailing zeros, at most two decimals."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
