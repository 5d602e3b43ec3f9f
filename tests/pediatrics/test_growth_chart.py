"""The SVG growth chart (medcard.pediatrics.growth_chart)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from medcard.pediatrics import growth
from medcard.pediatrics.growth_chart import render_growth_chart

SVG = "{http://www.w3.org/2000/svg}"
GIRL_WEIGHTS = [(30, 4.2), (120, 6.0), (200, 7.1), (365, 8.6), (500, 9.2)]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed
    assert root.tag == f"{SVG}svg"
    return root


def centile_paths(root: ET.Element) -> list[ET.Element]:
    return [p for p in root.iter(f"{SVG}path") if p.get("class") == "centile"]


def points(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter(f"{SVG}circle") if c.get("class") == "point"]


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_a_chart_is_well_formed_svg_with_five_centile_curves_and_the_childs_points() -> None:
    root = parse(render_growth_chart("weight-for-age", "female", GIRL_WEIGHTS))
    assert [p.get("data-centile") for p in centile_paths(root)] == ["3", "15", "50", "85", "97"]
    assert len(points(root)) == len(GIRL_WEIGHTS)
    assert [p for p in root.iter(f"{SVG}path") if p.get("class") == "child"]


def test_the_curves_follow_the_who_centiles_in_order() -> None:
    root = parse(render_growth_chart("height-for-age", "male", age_days=(0, 730)))
    last_y = [float(p.get("d", "").split()[-1].split(",")[1]) for p in centile_paths(root)]
    # SVG y grows downwards: the 97th centile ends highest on the chart.
    assert last_y == sorted(last_y, reverse=True)


def test_the_title_is_russian_by_default_and_english_on_request() -> None:
    ru = parse(render_growth_chart("weight-for-age", "male", [(100, 6.0)]))
    assert ru.findtext(f"{SVG}title") == "Масса тела к возрасту — мальчики, 0–24 мес. (ВОЗ)"
    assert "Возраст, мес." in texts(ru)
    assert "Масса тела, кг" in texts(ru)
    en = parse(render_growth_chart("weight-for-age", "male", [(100, 6.0)], lang="en"))
    assert en.findtext(f"{SVG}title") == "Weight-for-age — boys, 0–24 months (WHO)"
    assert "Age, months" in texts(en)


def test_axes_are_labelled_with_ages_and_values() -> None:
    root = parse(render_growth_chart("height-for-age", "female", [(400, 76.0), (4000, 140.0)], lang="en"))
    labels = texts(root)
    assert "Age, years" in labels
    assert "Length/height, cm" in labels
    for year in ("0", "5", "10", "19"):
        assert year in labels
    assert "100" in labels


def test_the_default_age_window_is_the_smallest_that_holds_the_points() -> None:
    def title(points: list[tuple[float, float]]) -> str:
        return parse(render_growth_chart("bmi-for-age", "female", points, lang="en")).findtext(f"{SVG}title") or ""

    assert "0–24 months" in title([(100, 15.0), (700, 16.0)])
    assert "0–5 years" in title([(100, 15.0), (1800, 16.0)])
    assert "5–19 years" in title([(2000, 15.0), (6000, 20.0)])
    assert "0–19 years" in title([(100, 15.0), (6000, 20.0)])


def test_points_outside_the_chosen_ages_are_left_out() -> None:
    root = parse(render_growth_chart("weight-for-age", "female", GIRL_WEIGHTS, age_days=(0, 250)))
    assert len(points(root)) == 3


def test_a_curve_breaks_where_the_reference_changes_table() -> None:
    root = parse(render_growth_chart("height-for-age", "male", age_days=(0, 6939)))
    for path in centile_paths(root):
        # Lying length to 2 years, standing height to 5, the 2007 reference after.
        assert path.get("d", "").count("M") == 3


def test_weight_for_length_and_height_are_drawn_against_length() -> None:
    lying = parse(render_growth_chart("weight-for-height", "male", [(70.0, 8.0)]))
    assert "Длина тела, см" in texts(lying)
    assert lying.findtext(f"{SVG}title") == "Масса тела к длине тела — мальчики, 0–24 мес. (ВОЗ)"
    standing = parse(render_growth_chart("weight-for-height", "male", [(70.0, 8.0), (118.0, 22.0)], recumbent=False))
    assert "Рост, см" in texts(standing)
    assert {"65", "120"} <= set(texts(standing))
    assert len(points(standing)) == 2


def test_text_is_escaped() -> None:
    title = 'Рост <script>alert("x")</script> & "вес"'
    root = parse(render_growth_chart("weight-for-age", "male", title=title))
    assert root.findtext(f"{SVG}title") == title
    assert title in texts(root)


def test_the_same_input_gives_the_same_bytes() -> None:
    first = render_growth_chart("head-circumference-for-age", "female", [(10, 35.0), (300, 44.0)])
    assert render_growth_chart("head-circumference-for-age", "female", [(10, 35.0), (300, 44.0)]) == first


def test_a_chart_stays_small() -> None:
    for indicator in growth.INDICATORS:
        assert len(render_growth_chart(indicator, "male").encode()) < 100_000


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("weight-for-length", "male"), {}, "unknown growth indicator"),
    (("weight-for-age", "boy"), {}, "sex"),
    (("weight-for-age", "male"), {"lang": "de"}, "lang"),
    (("weight-for-age", "male"), {"age_days": (500, 100)}, "age_days"),
    (("weight-for-age", "male"), {"age_days": (4000, 5000)}, "covers no age"),
    (("weight-for-age", "male", [(10, float("nan"))]), {}, "finite"),
])
def test_invalid_arguments_are_value_errors(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_growth_chart(*args, **kwargs)  # type: ignore[arg-type]
