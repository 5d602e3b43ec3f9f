"""Helpers of the sign-in and OAuth tests: a browser-like client, accounts with a second factor, forms."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import psycopg

from helpers import create_account, run_db
from medcard.access import accounts
from medcard.config import Settings
from medcard.core.time import utcnow

PASSWORD = "correct horse battery"


def browser(root: str) -> httpx.Client:
    """A client that keeps cookies like a browser and shows every redirect to the test."""
    return httpx.Client(base_url=root, timeout=60, follow_redirects=False)


def form_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page's form (the CSRF token among them)."""
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in hidden}


def staff_with_totp(url: str, settings: Settings, username: str = "dr.ivanova") -> str:
    """A pediatrician of clinic org-1 with an enabled TOTP second factor; the account id.

    The second factor is confirmed with the code of the time step before now (one step of drift is
    allowed), so the code of the current step is still unused: a code works once.
    """
    account_id = create_account(url, "staff", username, roles=[("pediatrician", "org-1")], password=PASSWORD)

    async def start(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.start_totp(conn, settings, account_id)

    async def enable(conn: psycopg.AsyncConnection[Any]) -> bool:
        code = totp_code(url, settings, account_id, steps_back=1)
        return await accounts.check_totp(conn, settings, account_id, code, enable=True)

    run_db(url, start)
    # Two tries: the step may change between making the code and checking it.
    assert run_db(url, enable) or run_db(url, enable)
    return account_id


def totp_code(url: str, settings: Settings, account_id: str, *, steps_back: int = 0) -> str:
    """The code the account's authenticator shows now (or ``steps_back`` time steps of 30 s ago)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT totp_secret FROM account WHERE id = %s", (account_id,)).fetchone()
    assert row is not None
    return accounts.current_code(settings, bytes(row[0]), utcnow() - timedelta(seconds=30 * steps_back))


def sign_in(client: httpx.Client, username: str, password: str = PASSWORD, next_path: str = "/auth/account"
            ) -> httpx.Response:
    """Fill in the sign-in form as a person would; the response to the POST."""
    page = client.get("/auth/login", params={"next": next_path})
    assert page.status_code == 200, page.text
    return client.post("/auth/login", data={**form_fields(page.text), "username": username, "password": password})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
