"""Languages of the pages: Russian (the source language of every text) and English (a Babel catalog).

The msgids are the Russian texts themselves, so Russian is always complete and needs no catalog.
English comes from ``locale/en/LC_MESSAGES/messages.po``, compiled in memory at start-up with Babel:
no compiled ``.mo`` file is kept in the repository that could drift from its ``.po``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from starlette.requests import Request

LANGUAGES = ("ru", "en")
DEFAULT = "ru"
COOKIE = "medcard_lang"


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark a text for extraction; it is translated where it is shown (``gettext(lang, text)``)."""
    return message


@cache
def translations(lang: str) -> NullTranslations:
    """The catalog of a language (Russian: none, the texts are the msgids)."""
    if lang == DEFAULT:
        return NullTranslations()
    source = resources.files(__package__).joinpath("locale", lang, "LC_MESSAGES", "messages.po")
    with source.open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    return translations(lang).ngettext(singular, plural, n)


def language(request: Request, form: dict[str, str] | None = None) -> str:
    """``lang`` in the form or query, else the language cookie, else the first of Accept-Language that
    medcard speaks, else Russian."""
    chosen = (form or {}).get("lang") or request.query_params.get("lang") or request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    ranked = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            ranked.append((float(q) if q else 1.0, tag.split("-")[0].lower()))
        except ValueError:
            continue
    for _, tag in sorted(ranked, key=lambda item: -item[0]):
        if tag in LANGUAGES:
            return tag
    return DEFAULT
