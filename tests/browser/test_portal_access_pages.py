"""The family's access pages in Chromium on a phone: who opened the record, a grant, a share link
and its public page, requests, notifications; axe-core on each, screenshots for a look."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from playwright.sync_api import Browser, Page

from browser.conftest import PASSWORD, off_loop, sign_in
from helpers import bearer, create_account, created_id, post, run_db, system_token
from medcard.access import accounts
from medcard.access.requester import Requester
from medcard.config import Settings
from medcard.core.identifiers import enp_check_digit, system_uri
from medcard.core.time import today_moscow
from medcard.notifications import inbox

PHONE = {"width": 390, "height": 844}
PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/156.0 Mobile Safari/537.36")


def _child(http: httpx.Client) -> str:
    clinic = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 12"}))
    head = f"{7700000000000000 + uuid.uuid4().int % 10**8:016d}"[:15]
    return created_id(post(http, "/Patient", {
        "resourceType": "Patient", "gender": "female", "birthDate": "2019-04-12",
        "name": [{"family": "Орлова", "given": ["Анна", "Сергеевна"]}],
        "managingOrganization": {"reference": f"Organization/{clinic}"},
        "identifier": [{"system": system_uri("enp"), "value": head + enp_check_digit(head)}]}))


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


def test_a_parent_on_a_phone_manages_access_and_shares_a_document(
        browser: Browser, root: str, database_url: str, settings: Settings,
        check_axe: Callable[[Page], None], shot: Callable[[Page, str], Path]) -> None:
    token = off_loop(lambda: system_token(database_url))
    with httpx.Client(base_url=f"{root}/fhir/R4", headers=bearer(token), timeout=60) as http:
        kid = _child(http)
    context = browser.new_context(base_url=root, viewport=PHONE, user_agent=PHONE_UA, locale="ru-RU",  # type: ignore[arg-type]
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        username = sign_in(page, database_url, settings, role="family", next_path="/my/notifications")
        granny = f"granny-{uuid.uuid4().hex[:6]}@example.ru"

        def setup() -> None:
            create_account(database_url, "family", granny, password=PASSWORD)
            with psycopg.connect(database_url) as conn:
                row = conn.execute("SELECT id::text FROM account WHERE username = %s", (username,)).fetchone()
            assert row is not None

            async def work(conn: psycopg.AsyncConnection[Any]) -> None:
                await accounts.link(conn, Requester("system", "registry"), row[0], kid, "parent", "свидетельство")
                await inbox.add(conn, [(row[0], kid, "result", "DiagnosticReport/x", None),
                                       (row[0], kid, "vaccination-due", "measles:2026-12-10",
                                        today_moscow() + timedelta(days=14))])

            run_db(database_url, work)

        off_loop(setup)

        page.goto("/my/notifications")
        assert page.get_by_text("Новый результат исследования").is_visible()
        _no_sideways_scroll(page)
        check_axe(page)
        shot(page, "portal-notifications-phone")

        page.goto(f"/my/children/{kid}/access")
        page.get_by_label("Адрес электронной почты родственника").fill(granny)
        page.get_by_label("Кем приходится ребёнку").fill("бабушка")
        page.get_by_label("Доступ до").fill((today_moscow() + timedelta(days=60)).isoformat())
        page.get_by_role("button", name="Дать доступ").click()
        page.wait_for_load_state()
        assert page.get_by_text("бабушка").first.is_visible()
        _no_sideways_scroll(page)
        check_axe(page)
        shot(page, "portal-access-phone")

        page.get_by_role("link", name="Создать ссылку").click()
        page.get_by_label("Для кого").fill("ортопед Петрова")
        _no_sideways_scroll(page)
        check_axe(page)
        shot(page, "portal-share-new-phone")
        page.get_by_role("button", name="Создать ссылку").click()
        page.wait_for_load_state()
        link = page.locator(".share-url a").inner_text()
        assert "/share/" in link
        _no_sideways_scroll(page)
        check_axe(page)
        shot(page, "portal-share-made-phone")

        page.goto("/my/requests")
        page.get_by_label("Фамилия ребёнка").fill("Орлова")
        page.get_by_label("Имя ребёнка").fill("Анна")
        page.get_by_label("Дата рождения ребёнка").fill("12.04.2019")
        page.get_by_label("Номер полиса ОМС ребёнка").fill("1234567890123456")
        page.get_by_label("Документ, который проверит регистратура").fill("свидетельство II-МЮ 123456")
        page.get_by_role("button", name="Отправить заявку").click()
        page.wait_for_load_state()
        assert page.get_by_text("контрольная").is_visible()  # the wrong check digit, next to its field
        _no_sideways_scroll(page)
        check_axe(page)
        shot(page, "portal-requests-phone")

        doctor = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU")
        try:
            public = doctor.new_page()
            public.goto(link)
            check_axe(public)
            shot(public, "share-open")
        finally:
            doctor.close()
    finally:
        context.close()
