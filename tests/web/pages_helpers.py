"""Helpers of the page tests: a server whose cookies work over plain HTTP, signing in with a client."""

from __future__ import annotations

import html
import re

import httpx

from helpers import create_account, created_id, post

PASSWORD = "correct horse battery"


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def sign_in_client(root: str, database_url: str, username: str, *, kind: str = "staff",
              roles: list[tuple[str, str]] | None = None) -> httpx.Client:
    """A cookie-keeping client signed in as a new account (no second factor: the test server asks none)."""
    create_account(database_url, kind, username, roles=roles if roles is not None else [], password=PASSWORD)
    client = httpx.Client(base_url=root, timeout=60, follow_redirects=False)
    form = client.get("/auth/login")
    done = client.post("/auth/login", data={**hidden_fields(form.text), "username": username, "password": PASSWORD})
    assert done.status_code == 303, done.text
    return client


def clinic_and_child(http: httpx.Client) -> tuple[str, str]:
    """A clinic and a child attached to it (through the FHIR API, as a backend service)."""
    clinic = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 7"}))
    child = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": "2024-05-01", "gender": "female",
        "name": [{"family": "Соколова", "given": ["Вера"]}],
        "managingOrganization": {"reference": f"Organization/{clinic}"}}))
    return clinic, child
