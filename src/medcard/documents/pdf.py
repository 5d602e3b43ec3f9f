"""HTML to PDF/A-2b: the templates' Jinja2 environment, the embedded font, the QR code.

Templates are autoescaped Jinja2 files in ``templates/`` (this environment is the documents'
own: PDF layouts are not web pages). The font is PT Sans from the ``fontpkg-pt-sans`` package,
referred to by file URL and embedded (subset) in every PDF, so a PDF looks the same wherever it
is rendered and read, whatever fonts the machine has (ADR 0010).
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

import fontpkg_pt_sans
import segno
import weasyprint
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from weasyprint.css import ColorProfile
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

MOSCOW = ZoneInfo("Europe/Moscow")
PDF_VARIANT = "pdf/a-2b"
OUTPUT_INTENT = "medcard-srgb"
_FACES = (("normal", 400, "Regular"), ("italic", 400, "Italic"), ("normal", 700, "Bold"),
          ("italic", 700, "BoldItalic"))


def font_css() -> str:
    """``@font-face`` rules for PT Sans from the package's files (never a system font)."""
    rules = []
    for style, weight, name in _FACES:
        url = (fontpkg_pt_sans.ROOT / "files" / f"PT_Sans-Web-{name}.ttf").as_uri()
        rules.append(f'@font-face {{ font-family: "PT Sans"; font-style: {style}; font-weight: {weight}; '
                     f'src: url("{url}"); }}')
    return "\n".join(rules)


def ru_date(value: Any) -> str:
    """ДД.ММ.ГГГГ of a date, or of an instant in Moscow time; '' for nothing."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.astimezone(MOSCOW).strftime("%d.%m.%Y")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    text = str(value)
    if len(text) > 10:
        return ru_date(datetime.fromisoformat(text.replace("Z", "+00:00")))
    parts = text.split("-")
    return ".".join(reversed(parts))


def ru_datetime(value: Any) -> str:
    """ДД.ММ.ГГГГ ЧЧ:ММ in Moscow time (a bare date stays a date)."""
    if isinstance(value, str) and len(value) > 10:
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")
    return ru_date(value)


def number(value: Any, digits: int = 1) -> str:
    """A number as Russian text: a decimal comma, a minus sign, no trailing zeros beyond ``digits``."""
    if value is None:
        return ""
    text = f"{float(value):.{digits}f}".rstrip("0").rstrip(".") if digits else f"{float(value):.0f}"
    return text.replace(".", ",").replace("-", "−")


# Superscript digits PT Sans lacks (it has ¹ ² ³): printed as <sup> digits, so no glyph comes from another font.
_SUPERSCRIPTS = {"⁰": "0", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9", "⁻": "−"}


def sup(value: Any) -> Markup:
    """Escape ``value`` and write the superscript digits the font lacks as ``<sup>`` (×10⁹/л)."""
    text = str(escape("" if value is None else value))
    for char, digit in _SUPERSCRIPTS.items():
        text = text.replace(char, f"<sup>{digit}</sup>")
    return Markup(text)  # noqa: S704 - built from escaped text and fixed tags


@cache
def env() -> Environment:
    environment = Environment(loader=PackageLoader("medcard.documents", "templates"),
                              autoescape=select_autoescape(["html"], default=True), undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(ru_date=ru_date, ru_datetime=ru_datetime, number=number, sup=sup)
    environment.globals["font_css"] = font_css()
    return environment


def html(template: str, context: dict[str, Any]) -> str:
    return env().get_template(template).render(**context)


@cache
def _fonts() -> FontConfiguration:
    return FontConfiguration()


class _Fetcher(URLFetcher):  # type: ignore[misc]
    """Only the font's files and inline data: a document never reaches the network or other files."""

    def fetch(self, url: str, headers: Any = None) -> Any:
        if url.startswith("data:") or url.startswith(fontpkg_pt_sans.ROOT.as_uri() + "/"):
            return super().fetch(url, headers)
        raise ValueError("documents load nothing but the embedded font and inline images")


def _srgb() -> ColorProfile:
    """The sRGB output intent PDF/A requires: WeasyPrint's own profile, read from a file closed again (given
    under another name, WeasyPrint would open its copy and leave the file for the collector to close)."""
    with (files("weasyprint.pdf") / "sRGB2014.icc").open("rb") as f:
        return ColorProfile(f, "sRGB2014.icc", "relative-colorimetric", (["r"], ["g"], ["b"]))


def to_pdf(markup: str) -> bytes:
    """The PDF/A-2b of ``markup`` (title and author from its ``<title>`` and ``<meta name=author>``)."""
    document = weasyprint.HTML(string=markup, base_url=fontpkg_pt_sans.ROOT.as_uri() + "/", url_fetcher=_Fetcher())
    pdf: bytes = document.write_pdf(pdf_variant=PDF_VARIANT, font_config=_fonts(), output_intent=OUTPUT_INTENT,
                                    color_profiles={OUTPUT_INTENT: _srgb()})
    return pdf


def qr_svg_uri(url: str) -> str:
    """A data URI of the QR code of ``url`` as SVG (vector: sharp in print at any size)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=False)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
