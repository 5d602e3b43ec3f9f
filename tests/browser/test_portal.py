"""The family portal on a phone (360x640 and 390x844, a phone's user agent and touch), as a parent and
as a teenager: open each child, download one document and all of them, another child's pages are
404, axe-core on every page, no horizontal scrolling, tap targets of 44x44 CSS px, nothing of the
patient kept in the browser after sign-out. Screenshots land in tests/browser/screenshots/; two of
them are the README's (docs/img/, renewed when MEDCARD_README_SHOTS is set)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from browser.conftest import SCREENSHOTS, off_loop
from conftest import FIXED_TODAY
from helpers import bearer, run_db, system_token
from portal_family import PASSWORD, Family, make_family

PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36")
PHONES = {"360x640": {"width": 360, "height": 640}, "390x844": {"width": 390, "height": 844}}
README_IMG = Path(__file__).parents[2] / "docs" / "img"
README_SHOTS = bool(os.environ.get("MEDCARD_README_SHOTS"))  # set it to renew docs/img/portal-*.png


@pytest.fixture
def family(server: Any, database_url: str) -> Family:
    """The family (each test starts on an empty database); database work runs off Playwright's loop."""
    token = off_loop(lambda: system_token(database_url))
    with httpx.Client(base_url=server.base, timeout=60, headers=bearer(token)) as http:
        return make_family(http, database_url, FIXED_TODAY,
                           db=lambda url, work: off_loop(lambda: run_db(url, work)))


@pytest.fixture(params=list(PHONES))
def phone(request: pytest.FixtureRequest, family: Family, browser: Browser, root: str) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        base_url=root, viewport=PHONES[request.param], user_agent=PHONE_UA, is_mobile=True, has_touch=True,
        device_scale_factor=2, locale="ru-RU", accept_downloads=True)  # type: ignore[arg-type]
    tab = context.new_page()
    tab.phone = request.param  # type: ignore[attr-defined]
    yield tab
    context.close()


def sign_in(page: Page, username: str, path: str = "/my/") -> None:
    page.goto(path)
    page.get_by_label("Имя пользователя").fill(username)
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_load_state()
    assert "/auth/login" not in page.url, page.locator("main").inner_text()


def fits_the_phone(page: Page) -> None:
    """No horizontal scrolling, and every link and button is at least 44x44 CSS px (or inline in text)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"
    small = page.evaluate("""() => [...document.querySelectorAll('a[href], button, select, input:not([type=hidden])')]
        .filter(e => e.offsetParent !== null && !e.closest('.skip, svg'))
        .map(e => [e.textContent.trim().slice(0, 40), e.getBoundingClientRect()])
        .filter(([t, r]) => r.width < 43.5 || r.height < 43.5).map(([t, r]) => `${t} ${r.width}x${r.height}`)""")
    assert small == [], f"tap targets under 44x44 on {page.url}: {small}"


def look(page: Page, name: str, check_axe: Callable[[Page], None], *, targets: bool = True) -> Path:
    """Check the page on the phone (``targets=False``: the web layer's own pages, whose header is not the
    portal's) and keep its screenshot."""
    if targets:
        fits_the_phone(page)
    else:
        assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    # the phone's large-text setting: twice the text size still reads without scrolling sideways
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.evaluate("document.documentElement.style.fontSize = ''")
    assert wide <= 0, f"{page.url} scrolls sideways by {wide}px at 200% text"
    check_axe(page)
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"portal-{name}-{page.phone}.png"  # type: ignore[attr-defined]
    page.screenshot(path=str(path), full_page=True)
    return path


def pdftotext(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def test_a_parent_opens_each_child_and_downloads_documents(phone: Page, family: Family,
                                                          check_axe: Callable[[Page], None]) -> None:
    page = phone
    sign_in(page, family.parent)
    assert page.url.endswith("/my/")
    assert page.get_by_role("heading", name="Соколова Вера").is_visible()
    assert page.get_by_role("heading", name="Соколов Иван").is_visible()
    home = look(page, "home", check_axe)
    for child, name in ((family.toddler, "Соколова Вера"), (family.teen, "Соколов Иван")):
        page.goto(f"/my/children/{child}")
        assert page.get_by_role("heading", level=1).inner_text() == name
        assert page.get_by_text("выше нормы").first.is_visible()
        look(page, f"record-{'toddler' if child == family.toddler else 'teen'}", check_axe)
        if README_SHOTS and child == family.toddler and page.phone == "390x844":  # type: ignore[attr-defined]
            README_IMG.mkdir(exist_ok=True)
            shutil.copy(home, README_IMG / "portal-home.png")
            page.screenshot(path=str(README_IMG / "portal-record.png"))  # the first screen, as a phone shows it
    page.goto(f"/my/children/{family.toddler}/documents")
    look(page, "documents", check_axe)
    with page.expect_download() as one:
        page.get_by_role("link", name="Скачать PDF").first.click()
    pdf = Path(one.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert "Соколова Вера" in pdftotext(pdf)
    with page.expect_download() as every:
        page.get_by_role("link", name="Скачать все документы").click()
    assert every.value.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(Path(every.value.path()).read_bytes())) as z:
        pdfs = [n for n in z.namelist() if n.startswith("documents/") and n.endswith(".pdf")]
        assert pdfs
        for member in pdfs:
            assert "Соколова Вера" in pdftotext(z.read(member)), member


def test_another_childs_pages_are_404_and_sign_out_leaves_nothing(phone: Page, family: Family,
                                                                 check_axe: Callable[[Page], None]) -> None:
    page = phone
    sign_in(page, family.parent)
    for path in ("", "/documents"):
        response = page.goto(f"/my/children/{family.other}{path}")
        assert response is not None
        assert response.status == 404
        assert "Чужой" not in page.content()
    look(page, "not-found", check_axe, targets=False)
    page.goto(f"/my/children/{family.toddler}")
    stored = page.evaluate("""() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])""")
    for trace in (family.toddler, family.teen, "Соколов", "\\u0421\\u043e\\u043a"):  # ids and the name (escaped too)
        assert trace not in stored, stored  # the sign-in page's htmx keeps only its own path there
    assert page.evaluate("'serviceWorker' in navigator ? navigator.serviceWorker.controller : null") is None
    page.get_by_role("button", name="Выйти").click()
    page.wait_for_load_state()
    assert page.context.cookies() == [] or all(c["name"] == "medcard_lang" for c in page.context.cookies())
    page.goto(f"/my/children/{family.toddler}")
    assert "/auth/login" in page.url  # the record is not in the browser any more: signing in again is needed
    assert "Соколова" not in page.content()


def test_the_teenager_signs_in_to_their_own_record(phone: Page, family: Family,
                                                   check_axe: Callable[[Page], None]) -> None:
    page = phone
    sign_in(page, family.teen_login)
    assert page.get_by_role("heading", name="Моя медкарта").is_visible()
    assert page.get_by_text("это вы").is_visible()
    assert "Соколова Вера" not in page.content()
    look(page, "teen-home", check_axe)
    page.get_by_role("link", name="Открыть медкарту").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Соколов Иван"
    assert page.goto(f"/my/children/{family.toddler}").status == 404  # type: ignore[union-attr]
