"""Documents rendered from the record: text extracted from the PDF matches the record, escaped, signed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from document_records import CHILD_NAME, CLINIC_NAME, DOCTOR_NAME, base_record, load, pdf_text, run_render

from medcard.config import Settings


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
