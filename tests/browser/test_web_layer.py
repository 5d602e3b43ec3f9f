"""The web layer in a real Chromium: signing in (with the TOTP step) keeps the deep link, keyboard
shortcuts, accessibility, the CSP and cache headers as the browser sees them, the language switch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page

SignedIn = Callable[..., Page]


def test_signing_in_through_the_totp_step_returns_to_the_deep_link(signed_in_page: SignedIn) -> None:
    deep = "/app/patients/child-42/break-glass?from=queue"
    page = signed_in_page(role="pediatrician", next_path=deep)
    assert page.url.endswith(deep)
    assert page.get_by_label("Причина доступа").is_visible()


def test_staff_land_on_the_workspace(signed_in_page: SignedIn, page: Page) -> None:
    signed_in_page(role="nurse")
    assert page.url.endswith("/app/")
    assert page.get_by_role("heading", name="Мой день").is_visible()


def test_slash_focuses_the_search_and_arrows_move_through_results(signed_in_page: SignedIn) -> None:
    page = signed_in_page()
    page.locator("h1").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.hasAttribute('data-search')")
    # A results list as the search pages render it (they come later): the keys must walk it.
    page.evaluate("""() => {
        const ul = document.createElement('ul');
        ul.setAttribute('data-results', '');
        ul.innerHTML = '<li><a href="#a">A</a></li><li><a href="#b">B</a></li>';
        document.querySelector('main').append(ul);
    }""")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent") == "A"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent") == "B"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.hasAttribute('data-search')")


def test_sign_in_and_workspace_pass_axe_and_look_right(page: Page, signed_in_page: SignedIn,
                                                       check_axe: Callable[[Page], None],
                                                       shot: Callable[[Page, str], Path]) -> None:
    page.goto("/auth/login")
    check_axe(page)
    shot(page, "login")
    page.set_viewport_size({"width": 360, "height": 740})
    shot(page, "login-360")
    page.set_viewport_size({"width": 1366, "height": 768})
    signed_in_page()
    check_axe(page)
    shot(page, "app-home")
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # reflows, no side scroll
    shot(page, "app-home-360")


def test_pages_run_under_the_csp_with_cached_static_files(page: Page, signed_in_page: SignedIn) -> None:
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if _csp(m) else None)
    statics: dict[str, str] = {}
    page.on("response", lambda r: statics.update({r.url: r.headers.get("cache-control", "")})
            if "/static/" in r.url else None)
    response = page.goto("/auth/login")
    assert response is not None
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    signed_in_page()
    page.reload()
    assert page.evaluate("typeof window.htmx") == "object"  # htmx loaded from this server
    assert refused == []
    assert len(statics) >= 3
    assert set(statics.values()) == {"public, max-age=31536000, immutable"}


def _csp(message: ConsoleMessage) -> bool:
    return "Content Security Policy" in message.text


def test_the_language_switch_goes_to_english_and_back(signed_in_page: SignedIn) -> None:
    page = signed_in_page()
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("heading", name="My day").is_visible()
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto("/app/")  # remembered for the next page
    assert page.get_by_role("button", name="Sign out").is_visible()
    page.get_by_role("link", name="Русский").click()
    assert page.get_by_role("heading", name="Мой день").is_visible()
    assert page.locator("html").get_attribute("lang") == "ru"
