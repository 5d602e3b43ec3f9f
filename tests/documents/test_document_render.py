"""Documents rendered from the record: text extracted from the PDF matches the record, escaped, signed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from document_records import CHILD_NAME, CLINIC_NAME, DOCTOR_NAME, base_record, load, pdf_text, run_render

from medcard.config import Settings
from medcard.core.errors import Unprocessable


@pytest.fixture
def record(http: httpx.Client) -> None:
    load(http, base_record())


@pytest.mark.usefixtures("record")
def test_visit_protocol_shows_the_record_in_cyrillic_with_symbols_and_escaped_markup(
        database_url: str, settings: Settings, tmp_path: Path) -> None:
    rendered = run_render(database_url, settings, "doc-visit")
    assert rendered.data.startswith(b"%PDF-")
    text = pdf_text(rendered.data, tmp_path)
    flat = " ".join(text.split())
    for expected in (CHILD_NAME, "15.03.2022", CLINIC_NAME, DOCTOR_NAME, "J06.9", "38,2 °C", "14,1 кг",
                     "Ибупрофен, суспензия 100 мг/5 мл", "Консультация врача-оториноларинголога", "11,8",
                     "выше нормы", "Стр. 1 из", rendered.code, "«кашель» ± 2 дня", "µ-тест"):
        assert expected in flat, expected
    assert "<script>alert('x')</script>" in flat  # shown as text, not run or dropped


@pytest.mark.usefixtures("record")
def test_lab_report_lists_values_units_ranges_and_flags(database_url: str, settings: Settings, tmp_path: Path) -> None:
    flat = " ".join(pdf_text(run_render(database_url, settings, "doc-lab").data, tmp_path).split())
    for expected in ("Общий (клинический) анализ крови", "Лейкоциты", "11,8 10*9/л", "5,5–11,0 10*9/л",
                     "выше нормы", "Гемоглобин", "121 г/л", "Лейкоцитоз"):
        assert expected in flat, expected


@pytest.mark.usefixtures("record")
def test_kindergarten_certificate_has_its_title_fields_and_conclusion(database_url: str, settings: Settings,
                                                                      tmp_path: Path) -> None:
    rendered = run_render(database_url, settings, "doc-school")
    assert rendered.kind == "certificate-kindergarten"
    flat = " ".join(pdf_text(rendered.data, tmp_path).split())
    for expected in ("Медицинская справка для поступления в дошкольную образовательную организацию",
                     f"№ {rendered.code}", CHILD_NAME, "Противопоказаний к посещению не выявлено"):
        assert expected in flat, expected


@pytest.mark.usefixtures("record")
def test_vaccination_certificate_in_the_layout_of_156u93(database_url: str, settings: Settings,
                                                          tmp_path: Path) -> None:
    flat = " ".join(pdf_text(run_render(database_url, settings, "doc-vacc").data, tmp_path).split())
    for expected in ("Форма № 156/у-93", "Сертификат о профилактических прививках", "Инфанрикс Гекса", "A21CB№5",
                     "20.05.2022", "Реакций нет", "Дифтерия, коклюш, столбняк", "Корь", "Очередные прививки"):
        assert expected in flat, expected


def test_extract_027_and_certificate_086_and_sports_from_the_record(http: httpx.Client, database_url: str,
                                                                    settings: Settings, tmp_path: Path) -> None:
    def docref(rid: str, type_: dict[str, Any], description: str) -> dict[str, Any]:
        return {"resourceType": "DocumentReference", "id": rid, "status": "current", "type": type_,
                "subject": {"reference": "Patient/child-1"}, "date": "2026-11-20T10:00:00+03:00",
                "author": [{"reference": "PractitionerRole/role-1"}], "custodian": {"reference": "Organization/org-7"},
                "description": description,
                "content": [{"attachment": {"contentType": "text/plain", "data": "0KLQtdC60YHRgg=="}}]}

    load(http, [*base_record(),
                docref("doc-027", {"coding": [{"system": "urn:medcard:code-system:document-kind",
                                              "code": "extract-027"}]}, "Выписка для санатория"),
                docref("doc-086", {"text": "Медицинская справка"}, "Медицинская справка ф. 086/у для колледжа"),
                docref("doc-sport", {"text": "Медицинская справка"}, "Справка о допуске к занятиям спортом"),
                docref("doc-other", {"text": "Согласие на обработку данных"}, "Согласие")])
    extract = run_render(database_url, settings, "doc-027")
    flat = " ".join(pdf_text(extract.data, tmp_path).split())
    for expected in ("Форма № 027/у", "Выписка из медицинской карты амбулаторного больного", CHILD_NAME,
                     "Инфанрикс Гекса", "Последние обращения", "J06.9", "Лейкоциты"):
        assert expected in flat, expected
    form086 = run_render(database_url, settings, "doc-086")
    assert form086.kind == "certificate-086"
    flat = " ".join(pdf_text(form086.data, tmp_path).split())
    for expected in ("Форма № 086/у", "врачебное профессионально-консультативное заключение",
                     "Место предъявления для колледжа"):
        assert expected in flat, expected
    sports = run_render(database_url, settings, "doc-sport")
    assert sports.kind == "certificate-sports"
    assert "о допуске к занятиям физической культурой и спортом" in " ".join(pdf_text(sports.data, tmp_path).split())
    with pytest.raises(Unprocessable):
        run_render(database_url, settings, "doc-other")
