"""The kinds of document medcard issues: their codes, titles and forms, and the kind of a DocumentReference.

A DocumentReference says its kind with a coding of ``urn:medcard:code-system:document-kind`` in
``type``; documents written before that (the synthetic city's, imports) are recognised by their
LOINC type and, for certificates, by their title.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medcard.core.errors import Unprocessable

KIND_SYSTEM = "urn:medcard:code-system:document-kind"
LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Kind:
    code: str
    title: str  # as printed at the top of the document
    form: str = ""  # the paper form it follows, printed in the corner ("Форма № 156/у-93")


KINDS = {k.code: k for k in (
    Kind("visit-protocol", "Протокол приёма"),
    Kind("lab-report", "Результаты лабораторного исследования"),
    Kind("vaccination-certificate", "Сертификат о профилактических прививках", "Форма № 156/у-93"),
    Kind("certificate-kindergarten", "Медицинская справка для поступления в дошкольную образовательную организацию",
         "Форма № 026/у-2000 (выписка)"),
    Kind("certificate-school", "Медицинская справка для поступления в общеобразовательную организацию",
         "Форма № 026/у-2000 (выписка)"),
    Kind("certificate-sports", "Медицинская справка о допуске к занятиям физической культурой и спортом"),
    Kind("certificate-086", "Медицинская справка (врачебное профессионально-консультативное заключение)",
         "Форма № 086/у"),
    Kind("certificate", "Медицинская справка"),  # any other purpose: its own is the document's description
    Kind("extract-027", "Выписка из медицинской карты амбулаторного больного", "Форма № 027/у"),
    Kind("record-book", "Медицинская карта ребёнка: полная выписка"),
)}
CERTIFICATES = ("certificate-kindergarten", "certificate-school", "certificate-sports", "certificate-086",
                "certificate")
_LOINC_KIND = {"11506-3": "visit-protocol", "11488-4": "visit-protocol", "34133-9": "extract-027",
               "11502-2": "lab-report", "11369-6": "vaccination-certificate", "82593-5": "vaccination-certificate"}
# Certificates of the synthetic city and of imports carry only a title: the words that tell their kind.
_TITLE_WORDS = (("086", "certificate-086"), ("дошкольн", "certificate-kindergarten"),
                ("общеобразовательн", "certificate-school"), ("школ", "certificate-school"),
                ("спорт", "certificate-sports"), ("бассейн", "certificate-sports"), ("физкульт", "certificate-sports"))


def kind_of(docref: dict[str, Any]) -> Kind:
    """The kind of document a DocumentReference is; 422 when medcard has no layout for it."""
    codings = docref.get("type", {}).get("coding", [])
    for coding in codings:
        if coding.get("system") == KIND_SYSTEM and coding.get("code") in KINDS:
            return KINDS[coding["code"]]
    for coding in codings:
        if coding.get("system") == LOINC and coding.get("code") in _LOINC_KIND:
            return KINDS[_LOINC_KIND[coding["code"]]]
    words = " ".join(str(x) for x in (docref.get("type", {}).get("text"), docref.get("description"),
                                       *(c.get("attachment", {}).get("title") for c in docref.get("content", []))))
    if "справк" in words.lower() or "заключени" in words.lower():
        for word, code in _TITLE_WORDS:
            if word in words.lower():
                return KINDS[code]
        return KINDS["certificate"]
    raise Unprocessable(f"DocumentReference/{docref.get('id')}: medcard has no printed form for this kind of "
                        "document (type.coding of " + KIND_SYSTEM + " names one)")


def coding(code: str) -> dict[str, str]:
    """The ``type`` coding that names a kind."""
    return {"system": KIND_SYSTEM, "code": code, "display": KINDS[code].title}
