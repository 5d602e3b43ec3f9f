"""Signing in to medcard's pages: password and TOTP, sessions, lock-out, throttling, CSRF, headers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from access_helpers import PASSWORD, browser, form_fields, sign_in, staff_with_totp, totp_code
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from conftest import ServerThread
from helpers import bearer, create_account, run_db
from medcard.access import accounts
from medcard.access.hardening import Hardening
from medcard.access.throttle import WindowCounter
from medcard.config import Settings


@pytest.fixture(scope="module")
def plain(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A server on plain HTTP with non-Secure cookies, so a test client keeps its session like a browser."""
    with ServerThread(database_url, settings.model_copy(update={"secure_cookies": False})) as srv:
        yield srv


@pytest.fixture
def client(plain: ServerThread, database_url: str) -> Iterator[httpx.Client]:
    with browser(f"http://127.0.0.1:{plain.port}") as c:
        yield c


def test_staff_sign_in_needs_the_password_then_the_totp_code(client: httpx.Client, database_url: str,
                                                             settings: Settings) -> None:
    account_id = staff_with_totp(database_url, settings)
    after_password = sign_in(client, "dr.ivanova")
    assert after_password.status_code == 303
    assert after_password.headers["location"].startswith("/auth/login/totp")
    first_session = client.cookies["medcard_session"]
    assert client.get("/auth/account").headers["location"].startswith("/auth/login")  # not signed in yet

    code_page = client.get(after_password.headers["location"])
    wrong = client.post("/auth/login/totp", data={**form_fields(code_page.text), "code": "000000"})
    assert wrong.status_code == 401
    done = client.post("/auth/login/totp", data={**form_fields(code_page.text),
                                                  "code": totp_code(database_url, settings, account_id)})
    assert done.status_code == 303
    assert done.headers["location"] == "/app/"  # staff land on the workspace
    assert client.cookies["medcard_session"] != first_session  # a new session id once signed in
    account = client.get("/auth/account")
    assert account.status_code == 200
    assert "Dr.Ivanova" in account.text
    assert "Вы вошли как" in account.text  # Russian by default


def test_a_totp_code_signs_in_once(plain: ServerThread, database_url: str, settings: Settings) -> None:
    """A second browser entering the code the first one used is refused like a wrong code."""
    account_id = staff_with_totp(database_url, settings, "dr.sidorova")
    root = f"http://127.0.0.1:{plain.port}"
    with browser(root) as first, browser(root) as second:
        pages = [b.get(sign_in(b, "dr.sidorova").headers["location"]) for b in (first, second)]
        code = totp_code(database_url, settings, account_id)
        signed_in = first.post("/auth/login/totp", data={**form_fields(pages[0].text), "code": code})
        assert signed_in.status_code == 303
        replayed = second.post("/auth/login/totp", data={**form_fields(pages[1].text), "code": code})
        assert replayed.status_code == 401
        assert "Код не подошёл" in replayed.text  # the message of a wrong code
        assert first.get("/auth/account").status_code == 200
        assert second.get("/auth/account").status_code == 303  # not signed in


def test_a_totp_code_of_an_earlier_step_is_refused_after_a_later_one(database_url: str, settings: Settings) -> None:
    account_id = staff_with_totp(database_url, settings, "dr.orlova")

    async def check(conn: psycopg.AsyncConnection[Any], code: str) -> bool:
        return await accounts.check_totp(conn, settings, account_id, code)

    now, before = totp_code(database_url, settings, account_id), totp_code(database_url, settings, account_id,
                                                                           steps_back=1)
    assert run_db(database_url, lambda conn: check(conn, now))
    assert not run_db(database_url, lambda conn: check(conn, now))  # the same code again
    assert not run_db(database_url, lambda conn: check(conn, before))  # within the drift window, but older


def test_session_cookie_is_httponly_samesite_and_only_its_hash_is_stored(client: httpx.Client,
                                                                        database_url: str) -> None:
    create_account(database_url, "family", "mother", password=PASSWORD)
    response = sign_in(client, "mother")
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("medcard_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    value = client.cookies["medcard_session"]
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT id_hash FROM web_session").fetchall()
    assert len(stored) == 1
    assert value.encode() not in bytes(stored[0][0])


def test_default_cookies_are_secure_and_host_only(server: ServerThread) -> None:
    response = httpx.get(f"http://127.0.0.1:{server.port}/auth/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-medcard_login=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


def test_english_page_by_query_or_accept_language(client: httpx.Client) -> None:
    assert "Sign in to medcard" in client.get("/auth/login", params={"lang": "en"}).text
    english = client.get("/auth/login", headers={"Accept-Language": "en-GB,en;q=0.9,ru;q=0.5"})
    assert "Sign in to medcard" in english.text
    assert "Вход в medcard" in client.get("/auth/login", headers={"Accept-Language": "de"}).text


def test_wrong_passwords_lock_the_account(client: httpx.Client, database_url: str, settings: Settings) -> None:
    create_account(database_url, "family", "father", password=PASSWORD)
    for _ in range(settings.login_attempts):
        assert sign_in(client, "father", "not the password").status_code == 401
    refused = sign_in(client, "father")  # the right password, but the account is locked now
    assert refused.status_code == 401
    assert "medcard_session" not in client.cookies
    with psycopg.connect(database_url) as conn:
        locked = conn.execute("SELECT locked_until > now() FROM account WHERE username = 'father'").fetchone()
    assert locked == (True,)


def test_too_many_attempts_from_one_address_are_throttled(client: httpx.Client, settings: Settings) -> None:
    statuses = [sign_in(client, f"nobody{i}", "whatever password").status_code
                for i in range(settings.login_rate_per_address + 1)]
    assert statuses[:-1] == [401] * settings.login_rate_per_address
    assert statuses[-1] == 429


def test_wrong_totp_codes_end_the_attempt(client: httpx.Client, database_url: str, settings: Settings) -> None:
    staff_with_totp(database_url, settings, "dr.petrov")
    location = sign_in(client, "dr.petrov").headers["location"]
    fields = form_fields(client.get(location).text)
    statuses = [client.post("/auth/login/totp", data={**fields, "code": "000000"}).status_code
                for _ in range(settings.login_attempts + 1)]
    assert statuses[-1] == 429
    assert client.get(location).headers["location"].startswith("/auth/login?")  # the pending session is gone


def test_session_ends_after_the_idle_timeout(client: httpx.Client, database_url: str, settings: Settings) -> None:
    create_account(database_url, "family", "aunt", password=PASSWORD)
    sign_in(client, "aunt")
    assert client.get("/auth/account").status_code == 200
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE web_session SET last_seen_at = now() - make_interval(mins => %s)",
                     (settings.session_idle_minutes + 1,))
    assert client.get("/auth/account").status_code == 303


def test_a_session_is_marked_seen_at_most_once_a_minute(client: httpx.Client, database_url: str) -> None:
    """Reading pages writes nothing while the mark is fresh; an older mark is moved to now."""
    create_account(database_url, "family", "cousin", password=PASSWORD)
    sign_in(client, "cousin")

    def seen_ago() -> float:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT extract(epoch FROM now() - last_seen_at) FROM web_session").fetchone()
        assert row is not None
        return float(row[0])

    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE web_session SET last_seen_at = now() - interval '30 seconds'")
    assert client.get("/auth/account").status_code == 200
    assert seen_ago() >= 30  # fresh enough: not written
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE web_session SET last_seen_at = now() - interval '5 minutes'")
    assert client.get("/auth/account").status_code == 200
    assert seen_ago() < 5  # stale: written again, so the idle timeout counts from now


def test_session_ends_at_the_absolute_timeout(client: httpx.Client, database_url: str) -> None:
    create_account(database_url, "family", "uncle", password=PASSWORD)
    sign_in(client, "uncle")
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE web_session SET expires_at = now() - interval '1 second'")
    assert client.get("/auth/account").status_code == 303


def test_forms_without_the_csrf_token_are_refused(client: httpx.Client, database_url: str) -> None:
    create_account(database_url, "family", "granny", password=PASSWORD)
    client.get("/auth/login")
    no_token = client.post("/auth/login", data={"username": "granny", "password": PASSWORD})
    assert no_token.status_code == 403
    assert "medcard_session" not in client.cookies
    sign_in(client, "granny")
    forged = client.post("/auth/logout", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert client.get("/auth/account").status_code == 200  # still signed in
    token = form_fields(client.get("/auth/account").text)["csrf"]
    assert client.post("/auth/logout", data={"csrf": token}).status_code == 200
    assert client.get("/auth/account").status_code == 303


def test_sign_in_never_redirects_to_another_site(client: httpx.Client, database_url: str) -> None:
    create_account(database_url, "family", "cousin", password=PASSWORD)
    response = sign_in(client, "cousin", next_path="//evil.example/steal")
    assert response.headers["location"] == "/my/"  # a family's home, not the other site


def test_every_response_carries_the_security_headers(server: ServerThread) -> None:
    for path in ("/auth/login", "/fhir/R4/metadata", "/fhir/R4/Patient", "/no/such/page"):
        headers = httpx.get(f"http://127.0.0.1:{server.port}{path}").headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in headers  # plain HTTP, no TLS proxy configured


def _through_hardening(settings: Settings, url: str, headers: list[dict[str, str]]) -> list[httpx.Response]:
    """Requests to a tiny app behind the middleware, in process (one per headers dict)."""
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Hardening(Starlette(routes=[Route("/", hello)]), settings)

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            return [await client.get(url, headers=h) for h in headers]

    return asyncio.run(go())


def test_hsts_over_https_and_behind_a_tls_proxy(settings: Settings) -> None:
    (https,) = _through_hardening(settings, "https://medcard.test/", [{}])
    assert "max-age=" in https.headers["strict-transport-security"]
    (proxied,) = _through_hardening(settings.model_copy(update={"tls_terminated": True}), "http://medcard.test/", [{}])
    assert "strict-transport-security" in proxied.headers


def test_requests_without_a_live_token_past_the_limit_get_429_with_an_operation_outcome(settings: Settings) -> None:
    """Sessions and addresses are counted per process; invented bearer tokens share their address's budget."""
    tight = settings.model_copy(update={"api_rate_per_minute": 3})
    sessions = [{"Cookie": f"medcard_session=s{i}"} for i in range(3)]
    responses = _through_hardening(tight, "http://medcard.test/", [bearer(f"invented-{i}") for i in range(10)]
                                   + sessions)
    refused = [r for r in responses[:10] if r.status_code == 429]
    assert refused  # at most 6 of 10 pass, even if a minute boundary falls inside the loop
    assert refused[0].json()["resourceType"] == "OperationOutcome"
    assert int(refused[0].headers["retry-after"]) >= 1
    assert refused[0].headers["x-content-type-options"] == "nosniff"
    assert [r.status_code for r in responses[10:]] == [200] * 3  # each session has its own budget


def test_window_counter_resets_each_window_and_caps_its_keys() -> None:
    counter = WindowCounter(2, max_keys=2)
    assert [counter.hit("a", now=0.0), counter.hit("a", now=1.0)] == [None, None]
    assert counter.hit("a", now=59.5) == 1
    assert counter.hit("a", now=60.0) is None  # a new window
    counter.hit("b", now=61.0)
    assert counter.hit("c", now=61.0) is None
    assert counter.hit("d", now=61.0) is None
    assert counter.hit("e", now=61.0) == 59  # keys past the cap ("c", "d", "e") share one budget
