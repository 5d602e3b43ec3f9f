"""«Мой день», the inbox and the registrar's page in a real Chromium, at 1366×768 and 768×1024: the lists
as a pediatrician sees them (deep links to the charts), marking a result seen, a registrar attaching a
child to a district; axe-core on each page, and screenshots to look at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Page

from conftest import ServerThread
from helpers import bearer, body, system_token
from worklist_data import CLINIC, COLLEAGUE_ROLE, DOCTOR, district

SignedIn = Callable[..., Page]
SIZES = {"1366": {"width": 1366, "height": 768}, "768": {"width": 768, "height": 1024}}


@pytest.fixture
def api(server: ServerThread, database_url: str) -> Iterator[httpx.Client]:
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps an event loop running in this thread
        token = pool.submit(system_token, database_url).result()
    with httpx.Client(base_url=server.base, timeout=60, headers=bearer(token)) as client:
        district(client)
        yield client


def be_the_district_doctor(database_url: str) -> None:
    """The signed-in pediatrician is the district's doctor (their account names the Practitioner)."""
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE account SET practitioner_id = %s WHERE username LIKE 'pediatrician-%%'", (DOCTOR,))


@pytest.mark.parametrize("size", SIZES)
def test_my_day_lists_the_district_with_links_to_the_charts(api: httpx.Client, database_url: str, size: str,
                                                           signed_in_page: SignedIn, check_axe: Callable[[Page], None],
                                                           shot: Callable[[Page, str], Path]) -> None:
    page = signed_in_page(role="pediatrician", organization=CLINIC)
    be_the_district_doctor(database_url)
    page.set_viewport_size(SIZES[size])  # type: ignore[arg-type]
    page.goto("/app/")
    assert page.get_by_role("heading", name="Мой день").is_visible()
    exams = page.locator("#examinations")
    assert exams.get_by_role("link", name="Малышева Анна Петровна").get_attribute("href") == "/app/patients/baby"
    assert "срок наступил" in exams.inner_text()
    assert page.locator("#vaccinations").get_by_role("link", name="Школьникова Анна Петровна").is_visible()
    results = page.locator("#results")
    assert "Гемоглобин 98 г/л" in results.inner_text()
    assert "ниже нормы" in results.inner_text()
    assert "Консультация врача-невролога" in page.locator("#referrals").inner_text()
    assert page.locator(".day-counts").get_by_role("link", name="2 новые результаты").is_visible()
    check_axe(page)
    shot(page, f"day-{size}")


@pytest.mark.parametrize("size", SIZES)
def test_the_doctor_marks_a_result_seen_in_the_inbox(api: httpx.Client, database_url: str, size: str,
                                                     signed_in_page: SignedIn, check_axe: Callable[[Page], None],
                                                     shot: Callable[[Page, str], Path]) -> None:
    page = signed_in_page(role="pediatrician", organization=CLINIC)
    be_the_district_doctor(database_url)
    page.set_viewport_size(SIZES[size])  # type: ignore[arg-type]
    page.goto("/app/")
    page.locator(".day-counts").get_by_role("link", name="новые результаты").click()
    page.wait_for_url("**/app/inbox")
    first = page.locator("article.result").first
    assert "Общий анализ крови" in first.inner_text()  # the abnormal one first
    assert "↓ ниже нормы" in first.inner_text()
    check_axe(page)
    shot(page, f"inbox-{size}")
    first.get_by_role("button", name="Просмотрено").click()
    page.wait_for_url("**/app/inbox?seen=1**")
    assert page.get_by_role("status").inner_text() == "Результат отмечен как просмотренный."
    assert page.locator("article.result").first.get_by_role("button", name="Просмотрено").count() == 1  # the next one
    assert "просмотрен" in page.locator("#r-cbc").inner_text()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT resource_id FROM result_seen").fetchall() == [("cbc",)]
    page.goto("/app/")
    assert page.locator(".day-counts").get_by_role("link", name="1 новые результаты").is_visible()


@pytest.mark.parametrize("size", SIZES)
def test_the_registrar_attaches_a_child_to_a_district(api: httpx.Client, size: str, signed_in_page: SignedIn,
                                                      check_axe: Callable[[Page], None],
                                                      shot: Callable[[Page, str], Path]) -> None:
    page = signed_in_page(role="registrar", organization=CLINIC, next_path="/app/patients/pupil/registry")
    page.set_viewport_size(SIZES[size])  # type: ignore[arg-type]
    assert page.get_by_role("heading", name="Регистратура: Школьникова Анна Петровна").is_visible()
    check_axe(page)
    shot(page, f"registry-{size}")
    page.get_by_label("Участок").select_option(COLLEAGUE_ROLE)
    page.get_by_role("button", name="Прикрепить").click()
    page.wait_for_url("**/registry?saved=attach")
    assert page.get_by_role("status").inner_text() == "Прикрепление сохранено."
    assert "участок № 4" in page.locator("#attachment").inner_text()
    assert body(api.get("/Patient/pupil"))["generalPractitioner"] == [
        {"reference": f"PractitionerRole/{COLLEAGUE_ROLE}"}]
    check_axe(page)
    shot(page, f"registry-saved-{size}")
