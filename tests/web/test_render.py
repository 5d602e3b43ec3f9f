"""The web layer's rendering: filters, the i18n catalog's completeness, autoescaping, macros."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import UndefinedError

from medcard.web import i18n, render

WEB = Path(render.__file__).parent
ACCESS = WEB.parent / "access"
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def msgids() -> set[str]:
    """Every text the pages show, as Babel extracts it (templates, and N_() in the Python of the pages)."""
    found: set[str] = set()
    for folder in (WEB, ACCESS):
        for _file, _line, message, _comments, _context in extract_from_dir(folder, METHODS, OPTIONS, keywords=KEYWORDS):
            found.update([message] if isinstance(message, str) else message)
    return found


def test_every_text_of_the_pages_has_an_english_translation() -> None:
    with (WEB / "locale" / "en" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="en")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    texts = msgids()
    assert len(texts) > 90  # the extraction found the templates and the sign-in texts
    assert texts - translated == set()


def test_english_comes_from_the_catalog_and_russian_is_the_msgid() -> None:
    assert i18n.gettext("en", "Выйти") == "Sign out"
    assert i18n.gettext("ru", "Выйти") == "Выйти"
    assert render.render("errors/500.html", {}, "en").count("Server error") == 2
    assert "Ошибка сервера" in render.render("errors/500.html", {}, "ru")


@pytest.mark.parametrize(("birth", "expected"), [
    (date(2026, 11, 14), "12 дн."),
    (date(2026, 10, 27), "30 дн."),
    (date(2026, 10, 26), "1 мес."),
    (date(2025, 7, 20), "1 г. 4 мес."),
    (date(2025, 11, 26), "1 г."),
    (date(2024, 1, 1), "2 г. 10 мес."),
    (date(2023, 11, 26), "3 года"),
    (date(2021, 11, 26), "5 лет"),
    (date(2019, 11, 27), "6 лет"),
    (date(2005, 1, 1), "21 год"),
    (date(2014, 1, 1), "12 лет"),
])
def test_age_as_the_banner_shows_it(birth: date, expected: str) -> None:
    assert render.age(birth, date(2026, 11, 26)) == expected


def test_age_in_english_and_when_unknown() -> None:
    token = render._lang.set("en")
    try:
        assert render.age(date(2025, 7, 20), date(2026, 11, 26)) == "1 y 4 m"
        assert render.age(date(2019, 1, 1), date(2026, 11, 26)) == "7 y"
        assert render.age(None) == "not given"
    finally:
        render._lang.reset(token)
    assert render.age(None) == "не указано"


def test_dates_are_shown_in_moscow() -> None:
    late_utc = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)  # 1:30 on 2 March in Moscow
    assert render.ru_date(late_utc) == "02.03.2026"
    assert render.ru_datetime(late_utc) == "02.03.2026 01:30"
    assert render.ru_date("2026-03-01") == "01.03.2026"
    assert render.ru_date(None) == "не указано"


def test_templates_escape_values_and_refuse_undefined_names() -> None:
    template = render.env.from_string('{% import "macros.html" as m %}{{ m.field("q", label, value=v, error=e) }}')
    html = template.render(label="Вес, кг", v='"><script>x</script>', e="Слишком много")
    assert "<script>" not in html
    assert "&#34;&gt;&lt;script&gt;" in html
    assert '<label for="f-q">Вес, кг' in html
    assert 'aria-describedby="e-q"' in html
    assert 'id="e-q"' in html
    assert 'aria-invalid="true"' in html
    with pytest.raises(UndefinedError):
        render.env.from_string("{{ missing }}").render()


def test_static_urls_carry_the_content_hash() -> None:
    url = render.static_url("app.css")
    assert url.startswith("/static/app.css?v=")
    assert len(url.split("v=")[1]) == 12
    assert render.static_url("htmx.min.js") != render.static_url("app.js")
