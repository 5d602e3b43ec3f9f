"""In Chromium: a pediatrician finds a child by a misspelled surname as they type, with the keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from browser.conftest import off_loop
from helpers import bearer, created_id, post, system_token


@pytest.fixture
def district(server: Any, database_url: str) -> dict[str, str]:
    """A clinic with a few children (a misspelling of one of them finds it), written through the FHIR API.

    The backend token is made off Playwright's event loop (``off_loop``), as every database set-up here."""
    token = off_loop(lambda: system_token(database_url))

    def make() -> dict[str, str]:
        with httpx.Client(base_url=server.base, timeout=60, headers=bearer(token)) as http:
            return rows(http)

    def rows(http: httpx.Client) -> dict[str, str]:
        clinic = created_id(post(http, "/Organization", {"resourceType": "Organization",
                                                         "name": "Детская городская поликлиника № 7"}))
        ids = {"clinic": clinic}
        for key, family, given, born, sex in (("gleb", "Шевченко", ["Глеб", "Андреевич"], "2016-10-02", "male"),
                                              ("vera", "Соколова", ["Вера", "Игоревна"], "2024-05-01", "female"),
                                              ("anna", "Шевцова", ["Анна", "Петровна"], "2019-03-12", "female")):
            ids[key] = created_id(post(http, "/Patient", {
                "resourceType": "Patient", "birthDate": born, "gender": sex,
                "name": [{"use": "official", "family": family, "given": given}],
                "managingOrganization": {"reference": f"Organization/{clinic}"}}))
        return ids

    return off_loop(make)


def test_a_pediatrician_finds_a_child_by_a_misspelled_surname(
        signed_in_page: Callable[..., Page], district: dict[str, str], check_axe: Callable[[Page], None],
        shot: Callable[[Page, str], Path]) -> None:
    page = signed_in_page(role="pediatrician", organization=district["clinic"], next_path="/app/patients")
    box = page.get_by_label("Фамилия, дата рождения, СНИЛС, полис или номер карты")
    expect(box).to_be_focused()
    box.press_sequentially("Шевчено", delay=60)  # a letter left out
    first = page.locator("[data-results] a").first
    expect(first).to_contain_text("ШЕВЧЕНКО")
    expect(first).to_contain_text("Глеб Андреевич")
    expect(page).to_have_url(re.compile(r"/app/patients\?q="))  # the search is a link that can be reopened
    check_axe(page)
    shot(page, "patient-search")
    page.keyboard.press("ArrowDown")
    expect(first).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/app/patients/{district['gleb']}")


def test_the_search_page_at_tablet_width_and_in_english(
        signed_in_page: Callable[..., Page], district: dict[str, str], check_axe: Callable[[Page], Any],
        shot: Callable[[Page, str], Path]) -> None:
    page = signed_in_page(role="pediatrician", organization=district["clinic"], next_path="/app/patients")
    page.goto("/app/patients?lang=en")
    page.set_viewport_size({"width": 768, "height": 1024})
    page.locator("h1").click()
    page.keyboard.press("/")  # focuses the box from anywhere on the page
    page.keyboard.type("Соколова 01.05.2024", delay=20)
    box = page.get_by_label("Surname, birth date, SNILS, policy or card number")
    expect(box).to_have_value("Соколова 01.05.2024")
    results = page.locator("[data-results] a")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("СОКОЛОВА Вера Игоревна")
    expect(page.get_by_text("Found: 1")).to_be_visible()
    check_axe(page)
    shot(page, "patient-search-768-en")
