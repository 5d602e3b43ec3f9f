"""Families registering themselves: the form, the code in the outbox, confirming it, signing in."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import psycopg
import pytest
from access_helpers import PASSWORD, browser, form_fields, sign_in

from conftest import ServerThread
from medcard.config import Settings

EMAIL = "Maria.Ivanova@example.org"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("register-home")


@pytest.fixture(scope="module")
def medcard(database_url: str, settings: Settings, home: Path) -> Iterator[ServerThread]:
    """A server with its own data directory (so its outbox holds only these tests' mail), plain HTTP."""
    with ServerThread(database_url, settings.model_copy(update={"secure_cookies": False, "home": home})) as srv:
        yield srv


@pytest.fixture
def outbox(home: Path) -> Path:
    box = home / "outbox"
    for old in box.glob("*.eml"):
        old.unlink()
    return box


@pytest.fixture
def client(medcard: ServerThread, database_url: str, outbox: Path) -> Iterator[httpx.Client]:
    with browser(f"http://127.0.0.1:{medcard.port}") as c:
        yield c


def messages(outbox: Path, to: str = EMAIL) -> list[EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] == to.lower():
            found.append(message)
    return found


def latest_code(outbox: Path, to: str = EMAIL) -> str:
    body = messages(outbox, to)[-1].get_content()
    match = re.search(r"\b(\d{8})\b", body)
    assert match, body
    return match.group(1)


def register(client: httpx.Client, email: str = EMAIL, password: str = PASSWORD, name: str = "Мария Иванова",
             again: str | None = None) -> httpx.Response:
    page = client.get("/auth/register")
    assert page.status_code == 200
    return client.post("/auth/register", data={**form_fields(page.text), "email": email, "display_name": name,
                                               "password": password, "password2": again or password})


def confirm(client: httpx.Client, code: str, email: str = EMAIL) -> httpx.Response:
    page = client.get("/auth/verify")
    return client.post("/auth/verify", data={**form_fields(page.text), "email": email, "code": code})


def account_row(url: str, email: str = EMAIL) -> tuple[object, ...] | None:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT kind, level, email_verified, display_name FROM account WHERE username = %s",
                            (email.lower(),)).fetchone()


def test_register_confirm_then_sign_in(client: httpx.Client, outbox: Path, database_url: str,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert "Зарегистрироваться" in client.get("/auth/login").text
    registered = register(client)
    assert registered.status_code == 200, registered.text
    assert 'action="/auth/verify"' in registered.text
    assert account_row(database_url) == ("family", "standard", False, "Мария Иванова")
    (message,) = messages(outbox)
    assert message["Subject"] == "Код подтверждения medcard"
    code = latest_code(outbox)
    assert code not in registered.text
    with psycopg.connect(database_url) as conn:
        (stored,) = conn.execute("SELECT code_hash FROM email_verification").fetchone() or ()
    assert code.encode() not in bytes(stored)
    assert sign_in(client, EMAIL).status_code == 401  # not before the address is confirmed

    confirmed = confirm(client, code)
    assert confirmed.status_code == 200
    assert "Адрес подтверждён" in confirmed.text
    assert account_row(database_url) == ("family", "standard", True, "Мария Иванова")
    signed_in = sign_in(client, EMAIL)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/my/"  # families land on the portal
    assert "Мария Иванова" in client.get("/auth/account").text
    assert code not in caplog.text


def test_an_unconfirmed_account_cannot_sign_in(client: httpx.Client, database_url: str) -> None:
    assert register(client).status_code == 200
    refused = sign_in(client, EMAIL)
    assert refused.status_code == 401
    assert "Неверное имя пользователя или пароль" in refused.text  # the same message as any failure
    assert "medcard_session" not in client.cookies
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT failed_logins FROM account").fetchone() == (0,)


def test_a_wrong_code_is_refused_and_the_right_one_still_works(client: httpx.Client, outbox: Path,
                                                               database_url: str) -> None:
    register(client)
    code = latest_code(outbox)
    wrong = "0" * 8 if code != "0" * 8 else "1" * 8
    refused = confirm(client, wrong)
    assert refused.status_code == 400
    assert "Код не подошёл" in refused.text
    assert confirm(client, code, email="someone.else@example.org").status_code == 400
    assert confirm(client, code).status_code == 200
    assert account_row(database_url) == ("family", "standard", True, "Мария Иванова")


def test_a_code_works_once(client: httpx.Client, outbox: Path) -> None:
    register(client)
    code = latest_code(outbox)
    assert confirm(client, code).status_code == 200
    assert confirm(client, code).status_code == 400


def test_an_expired_code_is_refused(client: httpx.Client, outbox: Path, database_url: str) -> None:
    register(client)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE email_verification SET expires_at = now() - interval '1 second'")
    assert confirm(client, latest_code(outbox)).status_code == 400
    assert account_row(database_url) == ("family", "standard", False, "Мария Иванова")
    assert sign_in(client, EMAIL).status_code == 401


def test_too_many_wrong_codes_void_the_code(client: httpx.Client, outbox: Path, settings: Settings) -> None:
    register(client)
    code = latest_code(outbox)
    for _ in range(settings.login_attempts):
        assert confirm(client, "12345678" if code != "12345678" else "87654321").status_code == 400
    assert confirm(client, code).status_code == 400


def test_registering_again_with_the_same_password_sends_a_new_code(client: httpx.Client, outbox: Path) -> None:
    register(client)
    first = latest_code(outbox)
    register(client)
    second = latest_code(outbox)
    assert len(messages(outbox)) == 2
    if first != second:
        assert confirm(client, first).status_code == 400  # the earlier code stopped working
    assert confirm(client, second).status_code == 200


def test_a_taken_address_is_not_taken_over(client: httpx.Client, outbox: Path, database_url: str) -> None:
    register(client)
    code = latest_code(outbox)
    other = register(client, password="another long password", name="Someone Else")
    assert other.status_code == 200  # the same answer: the form does not tell who has an account
    assert 'action="/auth/verify"' in other.text
    notice = messages(outbox)[-1]
    assert notice["Subject"] == "Регистрация в medcard"
    assert not re.search(r"\b\d{8}\b", notice.get_content())
    assert confirm(client, code).status_code == 200  # the first code still works
    assert account_row(database_url) == ("family", "standard", True, "Мария Иванова")
    assert sign_in(client, EMAIL, "another long password").status_code == 401
    assert sign_in(client, EMAIL).status_code == 303
    with browser(str(client.base_url)) as elsewhere:  # once confirmed, registering again changes nothing either
        assert register(elsewhere).status_code == 200
    assert messages(outbox)[-1]["Subject"] == "Регистрация в medcard"


def test_a_lapsed_registration_can_be_made_again(client: httpx.Client, outbox: Path, database_url: str) -> None:
    register(client)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE email_verification SET expires_at = now() - interval '1 second'")
    register(client, password="a new long password", name="Мария Петровна")
    assert confirm(client, latest_code(outbox)).status_code == 200
    assert sign_in(client, EMAIL, "a new long password").status_code == 303


@pytest.mark.parametrize(("email", "password", "again", "name", "message"), [
    ("not-an-address", PASSWORD, None, "Мария", "Укажите правильный адрес"),
    (EMAIL, "short", None, "Мария", "не короче 10 символов"),
    (EMAIL, PASSWORD, PASSWORD + "!", "Мария", "Пароли не совпадают"),
    (EMAIL, PASSWORD, None, "   ", "Укажите имя"),
], ids=["bad-email", "short-password", "mismatch", "no-name"])
def test_invalid_registrations_are_refused(client: httpx.Client, outbox: Path, database_url: str, email: str,
                                           password: str, again: str | None, name: str, message: str) -> None:
    refused = register(client, email=email, password=password, again=again, name=name)
    assert refused.status_code == 400
    assert message in refused.text
    assert account_row(database_url) is None
    assert not list(outbox.glob("*.eml"))


def test_forms_without_the_csrf_token_are_refused(client: httpx.Client, outbox: Path, database_url: str) -> None:
    client.get("/auth/register")
    forged = client.post("/auth/register", data={"email": EMAIL, "display_name": "Мария", "password": PASSWORD,
                                                 "password2": PASSWORD, "csrf": "forged"})
    assert forged.status_code == 403
    assert account_row(database_url) is None
    with browser(str(client.base_url)) as elsewhere:  # a form token without the browser's cookie
        token = form_fields(client.get("/auth/register").text)["csrf"]
        no_cookie = elsewhere.post("/auth/register", data={"email": EMAIL, "display_name": "Мария",
                                                           "password": PASSWORD, "password2": PASSWORD,
                                                           "csrf": token})
        assert no_cookie.status_code == 403
    assert account_row(database_url) is None
    register(client)
    client.get("/auth/verify")
    refused = client.post("/auth/verify", data={"email": EMAIL, "code": latest_code(outbox), "csrf": "forged"})
    assert refused.status_code == 403
    assert account_row(database_url) == ("family", "standard", False, "Мария Иванова")


def test_registrations_from_one_address_are_throttled(client: httpx.Client, settings: Settings) -> None:
    statuses = [register(client, email=f"parent{i}@example.org").status_code
                for i in range(settings.login_rate_per_address + 1)]
    assert statuses[:-1] == [200] * settings.login_rate_per_address
    assert statuses[-1] == 429


def test_english_pages(client: httpx.Client, outbox: Path) -> None:
    page = client.get("/auth/register", params={"lang": "en"})
    assert "Create an account" in page.text
    done = client.post("/auth/register", data={**form_fields(page.text), "email": EMAIL, "display_name": "Maria",
                                               "password": PASSWORD, "password2": PASSWORD})
    assert "Confirm your address" in done.text
    assert messages(outbox)[-1]["Subject"] == "Your medcard confirmation code"
