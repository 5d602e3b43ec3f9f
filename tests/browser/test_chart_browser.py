"""The chart in a real Chromium, as a pediatrician with a queue uses it: the last blood count and its
abnormal values, the next vaccination due, the last ENT conclusion and the growth chart, at 1366×768
and at 768×1024; the timeline's search and its next 50 rows; axe-core on every page; screenshots."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from helpers import bearer, post, put, system_token
from medcard.config import Settings
from records.chart_data import transaction

SignedIn = Callable[..., Page]
VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "tablet": {"width": 768, "height": 1024}}


@pytest.fixture
def record(root: str, database_url: str) -> str:
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread: database set-up goes elsewhere
        token = pool.submit(system_token, database_url).result()
    with httpx.Client(base_url=f"{root}/fhir/R4", headers=bearer(token), timeout=60) as api:
        assert post(api, "", transaction()).status_code == 200
        for n in range(55):  # enough events for a second page of the timeline
            flu = {"resourceType": "Immunization", "id": f"f{n}", "status": "completed",
                   "vaccineCode": {"text": "Гриппол плюс"}, "patient": {"reference": "Patient/p1"},
                   "occurrenceDateTime": f"2025-10-{1 + n % 28:02d}"}
            assert put(api, f"/Immunization/{flu['id']}", flu).status_code == 201
    return token


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_pediatrician_finds_what_the_visit_needs_on_the_chart(viewport: str, record: str, page: Page,
                                                                signed_in_page: SignedIn, settings: Settings,
                                                                check_axe: Callable[[Page], None],
                                                                shot: Callable[[Page, str], Path]) -> None:
    page.set_viewport_size(VIEWPORTS[viewport])  # type: ignore[arg-type]
    signed_in_page(role="pediatrician", organization="org1", next_path="/app/patients/p1")
    assert page.url.endswith("/app/patients/p1")
    expect(page).to_have_title("СМИРНОВА Анна Сергеевна — medcard")
    banner = page.get_by_role("region", name="Пациент")
    expect(banner).to_contain_text("Аллергии: Амоксициллин")
    expect(banner.get_by_role("link", name="+7 925 111-22-33")).to_have_attribute("href", "tel:+79251112233")
    # the last complete blood count and its abnormal values
    results = page.locator("#results")
    expect(results.get_by_role("link", name="Общий (клинический) анализ крови").first).to_be_visible()
    expect(results.locator("tr.abnormal").first).to_contain_text("Гемоглобин")
    expect(results.locator("tr.abnormal").first).to_contain_text("ниже нормы")
    # the next vaccination due: the first row of the forecast, overdue ones first
    first_due = page.locator("#vaccinations-due tbody tr").first
    expect(first_due).to_contain_text("просрочена")
    # the last ENT consultation's conclusion
    expect(page.locator("#consultations")).to_contain_text("Врач-оториноларинголог")
    expect(page.locator("#consultations")).to_contain_text("Гипертрофия аденоидов I степени.")
    # the growth chart
    page.get_by_role("link", name="Антропометрия").click()
    expect(page.locator("#growth svg").first).to_be_visible()
    expect(banner).to_be_in_viewport()  # the banner stays when the page scrolls
    check_axe(page)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, f"chart-{viewport}")
    page.screenshot(path=str(shot(page, f"chart-{viewport}-screen").with_suffix(".png")), full_page=False)


def test_the_timeline_searches_and_loads_the_next_fifty(record: str, page: Page, signed_in_page: SignedIn,
                                                        check_axe: Callable[[Page], None],
                                                        shot: Callable[[Page, str], Path]) -> None:
    signed_in_page(role="pediatrician", organization="org1", next_path="/app/patients/p1/timeline")
    rows = page.locator("#events li.event")
    expect(rows).to_have_count(50)
    page.locator("#events li.event").last.scroll_into_view_if_needed()
    expect(rows).to_have_count(50 + 8 + 55 - 50)  # htmx fetched the rest when the last row came into view
    check_axe(page)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "timeline")
    page.get_by_label("Поиск в медкарте").fill("аденоиды")
    page.get_by_role("button", name="Показать").click()
    expect(page.locator("#events mark").first).to_have_text("аденоидов")
    shot(page, "timeline-search")
    page.get_by_role("link", name="Врач-оториноларинголог").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Врач-оториноларинголог")
    expect(page.locator("#protocol")).to_contain_text("Гипертрофия аденоидов I степени.")
    check_axe(page)
    shot(page, "visit")
    # htmx keeps no page of the record in the browser (historyCacheSize 0): nothing left after sign-out
    assert page.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('htmx-history'))") == []


def test_a_lab_report_shows_each_value_with_its_trend(record: str, page: Page, signed_in_page: SignedIn,
                                                      check_axe: Callable[[Page], None],
                                                      shot: Callable[[Page, str], Path]) -> None:
    signed_in_page(role="pediatrician", organization="org1", next_path="/app/patients/p1/timeline/report/r1")
    hb = page.locator("tr", has_text="Гемоглобин")
    expect(hb).to_contain_text("98 г/л")
    expect(hb).to_contain_text("110–140 г/л")
    expect(hb.locator("svg.trend")).to_be_visible()
    check_axe(page)
    shot(page, "report")
    page.goto("/app/patients/p1/changes")
    check_axe(page)
    shot(page, "changes")
