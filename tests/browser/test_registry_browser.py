"""In Chromium: a registrar finds a child with the keyboard, lands on the child's registry page from the
result, and reads where the child's paper card is."""

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

DISTRICT = "urn:medcard:code-system:district"


@pytest.fixture
def clinic(server: Any, database_url: str) -> dict[str, str]:
    """A polyclinic with a district, a child born before the electronic era with an archived paper card and a
    visit protocol, written through the FHIR API (off Playwright's event loop)."""
    token = off_loop(lambda: system_token(database_url))

    def make() -> dict[str, str]:
        with httpx.Client(base_url=server.base, timeout=60, headers=bearer(token)) as http:
            return rows(http)

    def rows(http: httpx.Client) -> dict[str, str]:
        org = created_id(post(http, "/Organization", {"resourceType": "Organization",
                                                      "name": "Детская городская поликлиника № 118"}))
        role = created_id(post(http, "/PractitionerRole", {
            "resourceType": "PractitionerRole", "active": True, "identifier": [{"system": DISTRICT, "value": "118-6"}],
            "code": [{"text": "Врач-педиатр участковый"}], "organization": {"reference": f"Organization/{org}"}}))
        child = created_id(post(http, "/Patient", {
            "resourceType": "Patient", "birthDate": "2014-09-21", "gender": "male",
            "name": [{"use": "official", "family": "Архипов", "given": ["Тимофей", "Сергеевич"]}],
            "managingOrganization": {"reference": f"Organization/{org}"},
            "generalPractitioner": [{"reference": f"PractitionerRole/{role}"}]}))
        post(http, "/DocumentReference", {
            "resourceType": "DocumentReference", "status": "current",
            "identifier": [{"system": "urn:medcard:paper-card:118", "value": "3-004512"}],
            "type": {"text": "История развития ребёнка (ф. 112/у)"}, "subject": {"reference": f"Patient/{child}"},
            "date": "2020-02-14T11:20:00+03:00", "custodian": {"reference": f"Organization/{org}"},
            "description": "Бумажная история развития ребёнка (ф. 112/у) № 3-004512, передана в архив",
            "context": {"period": {"start": "2014-09-21", "end": "2019-12-31"}},
            "content": [{"attachment": {"contentType": "text/plain", "data": "0JrQsNGA0YLQsA=="}}]})
        post(http, "/DocumentReference", {
            "resourceType": "DocumentReference", "status": "current", "description": "Протокол осмотра педиатра",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
            "subject": {"reference": f"Patient/{child}"}, "date": "2026-11-02T10:00:00+03:00",
            "content": [{"attachment": {"contentType": "text/plain", "data": "0JbQsNC70L7QsdGL"}}]})
        return {"clinic": org, "child": child}

    return off_loop(make)


def test_a_registrar_finds_a_child_and_sees_the_paper_card(
        signed_in_page: Callable[..., Page], clinic: dict[str, str], check_axe: Callable[[Page], None],
        shot: Callable[[Page, str], Path]) -> None:
    page = signed_in_page(role="registrar", organization=clinic["clinic"], next_path="/app/patients")
    box = page.get_by_label("Фамилия, дата рождения, СНИЛС, полис или номер карты")
    expect(box).to_be_focused()
    box.press_sequentially("Архипов", delay=40)
    first = page.locator("[data-results] a").first
    expect(first).to_contain_text("АРХИПОВ")
    expect(page.get_by_text("Enter — открыть регистратуру ребёнка", exact=False)).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(first).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/app/patients/{clinic['child']}/registry")
    expect(page.locator("h1")).to_contain_text("Архипов Тимофей")
    card = page.locator("#paper-card")
    expect(card.get_by_role("heading", name="Бумажная медкарта")).to_be_visible()
    expect(card).to_contain_text("3-004512")
    expect(card).to_contain_text("2014–2019")
    expect(card).to_contain_text("в архиве: Детская городская поликлиника № 118")
    expect(card).to_contain_text("14.02.2020")
    expect(page.get_by_text("Протокол осмотра педиатра")).to_have_count(0)
    expect(page.get_by_label("Участок")).to_contain_text("участок № 6")
    check_axe(page)
    shot(page, "registry-registrar")
    page.set_viewport_size({"width": 768, "height": 1024})
    check_axe(page)
    shot(page, "registry-registrar-768")


def test_a_registrar_finds_a_child_by_the_paper_card_number(
        signed_in_page: Callable[..., Page], clinic: dict[str, str]) -> None:
    """The card's number finds its child for a registrar of the child's clinic (the card is theirs to see)."""
    page = signed_in_page(role="registrar", organization=clinic["clinic"], next_path="/app/patients")
    box = page.get_by_label("Фамилия, дата рождения, СНИЛС, полис или номер карты")
    expect(box).to_be_focused()  # typed before the page's script focused the box, keys were lost on a busy machine
    box.press_sequentially("3-004512", delay=20)
    expect(box).to_have_value("3-004512")
    result = page.locator("[data-results] a")
    expect(result).to_have_count(1)
    expect(result.first).to_contain_text("по номеру бумажной карты")
    expect(result.first).to_have_attribute("href", re.compile(rf"/app/patients/{clinic['child']}/registry$"))
