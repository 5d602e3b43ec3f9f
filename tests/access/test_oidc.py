"""Families signing in through an external OpenID Connect provider, against a small provider run here.

The provider is a Starlette app in a thread (uvicorn): discovery, JWKS, an authorize endpoint that
sends the browser straight back with a code, and a token endpoint that checks client_secret_basic
and PKCE and returns an id_token signed with a test RSA key (joserfc). Each test may tamper with the
next id_token's claims or signing key.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import uvicorn
from access_helpers import PASSWORD, browser
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from conftest import ServerThread, free_port
from helpers import create_account
from medcard.access import signin
from medcard.config import Settings

CLIENT_ID = "medcard-test"
CLIENT_SECRET = "test secret/+:="  # characters that client_secret_basic must form-encode


class Provider:
    """A minimal OpenID provider on a free port of this machine."""

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict[str, str]] = {}
        self.claims: dict[str, Any] = {}
        self.tamper: dict[str, Any] = {}
        self.sign_with: RSAKey | None = None
        self.authorize_requests: list[dict[str, str]] = []
        self.reset()
        app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
        ])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def reset(self) -> None:
        self.claims = {"sub": "citizen-1", "email": "Anna.Petrova@example.org", "email_verified": True,
                       "name": "Анна Петрова"}
        self.tamper, self.sign_with = {}, None
        self.authorize_requests.clear()

    def __enter__(self) -> Provider:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test provider did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        })

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.authorize_requests.append(q)
        if (q.get("response_type") != "code" or q.get("client_id") != CLIENT_ID
                or "openid" not in q.get("scope", "").split() or q.get("code_challenge_method") != "S256"
                or not q.get("code_challenge") or not q.get("nonce") or not q.get("state")):
            return PlainTextResponse("bad authorization request", 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        return RedirectResponse(q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}), 302)

    async def token(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Basic "):
            return JSONResponse({"error": "invalid_client"}, 401)
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        if (unquote(user), unquote(password)) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, 401)
        form = dict(parse_qsl((await request.body()).decode()))
        grant = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, 400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"],
                  **self.claims, **self.tamper}
        claims = {k: v for k, v in claims.items() if v is not None}
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.sign_with or self.key)
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                             "id_token": id_token}, headers={"Cache-Control": "no-store"})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider() as p:
        yield p


@pytest.fixture(scope="module")
def medcard(database_url: str, settings: Settings, provider: Provider) -> Iterator[ServerThread]:
    """A medcard server configured for the test provider (plain HTTP, non-Secure cookies)."""
    configured = settings.model_copy(update={"secure_cookies": False, "oidc_issuer": provider.issuer,
                                              "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET})
    with ServerThread(database_url, configured) as srv:
        yield srv


@pytest.fixture
def client(medcard: ServerThread, provider: Provider, database_url: str) -> Iterator[httpx.Client]:
    provider.reset()
    with browser(f"http://127.0.0.1:{medcard.port}") as c:
        yield c


def start(client: httpx.Client) -> str:
    """Follow medcard's sign-in link to the provider; the callback URL the provider sends the browser to."""
    begin = client.get("/auth/oidc/login", params={"next": "/auth/account"})
    assert begin.status_code == 303, begin.text
    at_provider = httpx.get(begin.headers["location"], timeout=30)
    assert at_provider.status_code == 302, at_provider.text
    return at_provider.headers["location"]


def oidc_sign_in(client: httpx.Client) -> httpx.Response:
    return client.get(start(client))


def rows(url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_the_sign_in_page_offers_the_portal_only_when_configured(client: httpx.Client,
                                                                  server: ServerThread) -> None:
    page = client.get("/auth/login")
    assert "Войти через портал госуслуг города" in page.text
    assert "/auth/oidc/login?" in page.text
    plain = httpx.get(f"http://127.0.0.1:{server.port}/auth/login")
    assert "/auth/oidc/login" not in plain.text
    assert httpx.get(f"http://127.0.0.1:{server.port}/auth/oidc/login").status_code == 404


def test_the_request_to_the_provider_uses_pkce_state_and_nonce(client: httpx.Client, provider: Provider,
                                                               medcard: ServerThread) -> None:
    begin = client.get("/auth/oidc/login", params={"next": "/auth/account"})
    location = urlsplit(begin.headers["location"])
    query = dict(parse_qsl(location.query))
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/authorize"
    assert query["scope"] == "openid profile email"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 32
    assert query["redirect_uri"] == f"http://127.0.0.1:{medcard.port}/auth/oidc/callback"
    assert "code_verifier" not in query
    cookie = next(h for h in begin.headers.get_list("set-cookie") if h.startswith("medcard_oidc="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_first_sign_in_makes_a_full_family_account_and_a_session(client: httpx.Client, provider: Provider,
                                                                  database_url: str) -> None:
    done = oidc_sign_in(client)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/auth/account"
    assert "medcard_session" in client.cookies
    account = client.get("/auth/account")
    assert account.status_code == 200
    assert "Анна Петрова" in account.text
    (row,) = rows(database_url, "SELECT kind, level, username, verification_document, oidc_subject, email_verified, "
                                "password_hash FROM account")
    assert row == ("family", "full", "anna.petrova@example.org", f"OIDC: {provider.issuer}",
                   f"{provider.issuer}|citizen-1", True, None)
    assert rows(database_url, "SELECT count(*) FROM web_session") == [(1,)]


def test_second_sign_in_finds_the_same_account(client: httpx.Client, medcard: ServerThread,
                                               database_url: str) -> None:
    assert oidc_sign_in(client).status_code == 303
    first_session = client.cookies["medcard_session"]
    assert oidc_sign_in(client).status_code == 303  # the same browser again: a new session replaces the old
    assert client.cookies["medcard_session"] != first_session
    with browser(f"http://127.0.0.1:{medcard.port}") as other:  # another browser
        assert oidc_sign_in(other).status_code == 303
        assert other.get("/auth/account").status_code == 200
    assert rows(database_url, "SELECT count(*) FROM account") == [(1,)]
    assert rows(database_url, "SELECT count(*) FROM web_session") == [(2,)]


@pytest.mark.parametrize("tamper", [
    {"nonce": "not-the-nonce"},
    {"nonce": None},
    {"iss": "https://evil.example"},
    {"aud": "another-client"},
    {"aud": [CLIENT_ID, "another-client"]},  # several audiences and no azp
    {"azp": "another-client"},
    {"exp": int(time.time()) - 3600},
    {"iat": None},
    {"sub": None},
], ids=["wrong-nonce", "no-nonce", "wrong-iss", "wrong-aud", "several-aud", "wrong-azp", "expired", "no-iat",
        "no-sub"])
def test_id_tokens_with_wrong_claims_are_refused(client: httpx.Client, provider: Provider, database_url: str,
                                                 tamper: dict[str, Any]) -> None:
    provider.tamper = tamper
    refused = oidc_sign_in(client)
    assert refused.status_code == 400
    assert "Вход через внешнего провайдера не удался" in refused.text
    assert "medcard_session" not in client.cookies
    assert rows(database_url, "SELECT count(*) FROM account") == [(0,)]


def test_an_id_token_signed_by_another_key_is_refused(client: httpx.Client, provider: Provider,
                                                      database_url: str) -> None:
    provider.sign_with = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    assert oidc_sign_in(client).status_code == 400
    provider.sign_with = RSAKey.generate_key(2048, parameters={"kid": "unknown-key"})  # medcard fetches keys again
    assert oidc_sign_in(client).status_code == 400
    assert "medcard_session" not in client.cookies
    assert rows(database_url, "SELECT count(*) FROM account") == [(0,)]


def test_a_state_that_does_not_match_is_refused(client: httpx.Client, medcard: ServerThread,
                                                database_url: str) -> None:
    callback = urlsplit(start(client))
    query = dict(parse_qsl(callback.query))
    forged = urlunsplit(callback._replace(query=urlencode({**query, "state": "forged-state"})))
    refused = client.get(forged)
    assert refused.status_code == 400
    assert "medcard_session" not in client.cookies
    with browser(f"http://127.0.0.1:{medcard.port}") as other:  # a callback in a browser that did not start it
        assert other.get(urlunsplit(callback)).status_code == 400
    assert rows(database_url, "SELECT count(*) FROM account") == [(0,)]


def test_the_sign_in_cookie_cannot_be_forged_or_reused(client: httpx.Client) -> None:
    callback = start(client)
    cookie = client.cookies["medcard_oidc"]
    client.cookies.set("medcard_oidc", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    assert client.get(callback).status_code == 400
    client.cookies.set("medcard_oidc", cookie)
    assert client.get(callback).status_code == 303  # the real one works, once
    client.cookies.set("medcard_oidc", cookie)
    assert client.get(callback).status_code == 400  # the provider's code worked once


def test_an_error_from_the_provider_shows_the_error_page(client: httpx.Client) -> None:
    callback = urlsplit(start(client))
    state = dict(parse_qsl(callback.query))["state"]
    refused = client.get("/auth/oidc/callback", params={"error": "access_denied", "state": state, "lang": "en"})
    assert refused.status_code == 400
    assert "Signing in through the external provider failed" in refused.text
    assert client.get("/auth/oidc/callback").status_code == 400  # nothing at all


def test_staff_never_sign_in_through_the_provider(client: httpx.Client, provider: Provider,
                                                  database_url: str) -> None:
    staff = create_account(database_url, "staff", "dr.sidorova", roles=[("pediatrician", "org-1")],
                           password=PASSWORD)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE account SET oidc_subject = %s WHERE id = %s", (f"{provider.issuer}|citizen-1", staff))
    refused = oidc_sign_in(client)
    assert refused.status_code == 403
    assert "medcard_session" not in client.cookies
    assert rows(database_url, "SELECT count(*) FROM web_session") == [(0,)]


def test_an_address_already_taken_is_not_taken_over(client: httpx.Client, provider: Provider,
                                                    database_url: str) -> None:
    create_account(database_url, "family", "anna.petrova@example.org", password=PASSWORD)
    assert oidc_sign_in(client).status_code == 303
    usernames = {r[0]: r[1] for r in rows(database_url, "SELECT username, oidc_subject FROM account")}
    assert usernames["anna.petrova@example.org"] is None  # the existing account is left alone
    (generated,) = [u for u in usernames if u != "anna.petrova@example.org"]
    assert generated.startswith("oidc-")


def test_an_unverified_address_is_not_used(client: httpx.Client, provider: Provider, database_url: str) -> None:
    provider.claims = {"sub": "citizen-2", "email": "someone@example.org", "email_verified": False,
                       "given_name": "Иван", "family_name": "Сидоров"}
    assert oidc_sign_in(client).status_code == 303
    assert rows(database_url, "SELECT username LIKE 'oidc-%%', email, display_name FROM account") == [
        (True, None, "Иван Сидоров")]


def _access_imports(module: str) -> set[str]:
    """The ``medcard.access`` modules a module of that package imports (by reading its source)."""
    source = Path(signin.__file__).parent / f"{module}.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "medcard.access":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("medcard.access."):
            found.add((node.module or "").removeprefix("medcard.access."))
    return found


def test_the_sign_in_modules_import_one_way() -> None:
    """web shows the provider's link (it imports oidc); what both need lives in signin, which imports neither."""
    assert "web" not in _access_imports("oidc")
    for module in ("oidc", "register", "oauth"):
        assert "web" not in _access_imports(module), module
    assert not {"web", "oidc", "register", "oauth"} & _access_imports("signin")
