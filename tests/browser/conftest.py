"""The browser harness: a real Chromium (Debian's, never downloaded) driven by Playwright against the
live test server, with axe-core for accessibility and screenshots for looking at the pages.

Fixtures: ``browser`` (one Chromium for the session), ``page`` (a fresh context at 1366x768 on the
live server), ``signed_in_page(role="pediatrician", organization="org-1", next_path="/app/")`` (a page
signed in through the sign-in form — staff through the TOTP step too — as a new account; role
"family" for a family account), ``check_axe(page)`` (fails on serious or critical violations),
``shot(page, name)`` (a PNG in tests/browser/screenshots/, git-ignored). ``off_loop(fn)`` runs
database set-up (``helpers.run_db``, ``create_account``) while a browser is open.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from helpers import create_account, run_db
from medcard.access import accounts
from medcard.config import Settings
from medcard.core.time import utcnow

HERE = Path(__file__).parent
AXE = HERE / "vendor" / "axe.min.js"
SCREENSHOTS = HERE / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"
VIEWPORT = {"width": 1366, "height": 768}
T = TypeVar("T")


# Module scope, not session: Playwright's sync API runs an event loop in the main thread while it is
# open, and the rest of the suite calls asyncio.run() (tests/helpers.run_db), which refuses to run
# inside one. So Chromium starts once per browser test module and is gone before other tests run.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def root(server: Any) -> str:  # tests/conftest.py's live server (a ServerThread)
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
def page(browser: Browser, root: str) -> Iterator[Page]:
    context = browser.new_context(base_url=root, viewport=VIEWPORT, locale="ru-RU")  # type: ignore[arg-type]
    tab = context.new_page()
    yield tab
    context.close()


def off_loop(work: Callable[[], T]) -> T:
    """Run database set-up in a thread: Playwright's sync API keeps an event loop running in this one,
    so ``run_db`` (asyncio.run) must go elsewhere: ``off_loop(lambda: run_db(url, work))``."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def totp_account(database_url: str, settings: Settings, username: str, roles: list[tuple[str, str]]) -> str:
    """A staff account with its TOTP second factor enabled; its id."""
    account_id = off_loop(lambda: create_account(database_url, "staff", username, roles=roles, password=PASSWORD))

    async def start(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.start_totp(conn, settings, account_id)

    off_loop(lambda: run_db(database_url, start))
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE account SET totp_enabled = true WHERE id = %s", (account_id,))
    return account_id


def totp_code(database_url: str, settings: Settings, account_id: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT totp_secret FROM account WHERE id = %s", (account_id,)).fetchone()
    assert row is not None
    return accounts.current_code(settings, bytes(row[0]), utcnow())


def sign_in(page: Page, database_url: str, settings: Settings, *, role: str = "pediatrician",
            organization: str = "org-1", next_path: str = "/app/") -> str:
    """Sign a new account in through the browser, landing on ``next_path``; the username."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    if role == "family":
        off_loop(lambda: create_account(database_url, "family", username, password=PASSWORD))
        account_id = None
    else:
        account_id = totp_account(database_url, settings, username, [(role, organization)])
    page.goto(next_path)  # not signed in: the sign-in page, keeping the address asked for
    page.get_by_label("Имя пользователя").fill(username)
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    if account_id is not None and "/auth/login/totp" in page.url:
        page.get_by_label("Код").fill(totp_code(database_url, settings, account_id))
        page.get_by_role("button", name="Продолжить").click()
    page.wait_for_load_state()
    return username


@pytest.fixture
def signed_in_page(page: Page, database_url: str, settings: Settings) -> Callable[..., Page]:
    """``signed_in_page(role="pediatrician", organization="org-1", next_path="/app/")``: the page, signed in."""

    def sign(role: str = "pediatrician", organization: str = "org-1", next_path: str = "/app/") -> Page:
        sign_in(page, database_url, settings, role=role, organization=organization, next_path=next_path)
        return page

    return sign


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is (WCAG 2.1 A and AA rules).

    axe is added through Playwright's isolated evaluation (not a <script> of the page), so the
    page's CSP stays as strict as in production."""
    page.evaluate(AXE.read_text("utf-8") + "\n;window.axe = axe;")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                                           'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


@pytest.fixture
def check_axe() -> Callable[[Page], None]:
    def check(page: Page) -> None:
        bad = axe_violations(page)
        assert bad == [], f"accessibility violations on {page.url}:\n{json.dumps(bad, ensure_ascii=False, indent=1)}"

    return check


@pytest.fixture
def shot() -> Callable[[Page, str], Path]:
    def take(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
