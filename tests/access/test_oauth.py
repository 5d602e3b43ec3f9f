"""OAuth 2.0 / SMART on FHIR end to end with a real HTTP client: discovery, the app launch with PKCE,
the backend-services flow with signed assertions, refresh, revocation, introspection."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from access_helpers import PASSWORD, browser, form_fields, sign_in, staff_with_totp, totp_code
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from conftest import ServerThread
from helpers import bearer, create_account, created_id, post, run_db
from medcard.access import accounts, tokens
from medcard.access.requester import Requester
from medcard.config import Settings

REDIRECT = "http://127.0.0.1:9/callback"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def plain(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A server on plain HTTP with non-Secure cookies, so a test client keeps its session like a browser."""
    with ServerThread(database_url, settings.model_copy(update={"secure_cookies": False})) as srv:
        yield srv


@pytest.fixture
def root(plain: ServerThread, database_url: str) -> str:
    return f"http://127.0.0.1:{plain.port}"


@pytest.fixture
def client(root: str) -> Iterator[httpx.Client]:
    with browser(root) as c:
        yield c


def register(url: str, kind: str, scope: str, *, jwks: dict[str, Any] | None = None) -> tuple[str, str | None]:
    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[str, str | None]:
        return await tokens.register_client(conn, f"app-{uuid.uuid4().hex[:8]}", kind, scope,
                                            redirect_uris=[REDIRECT] if kind != "backend" else None, jwks=jwks)

    return run_db(url, work)


def child_of(url: str, http: httpx.Client, account_id: str) -> str:
    """A ten-year-old Patient, linked by a registrar to the family account as its child; the Patient id."""
    patient_id = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": "2016-03-01", "gender": "female",
        "name": [{"family": "Смирнова", "given": ["Анна"]}]}))

    async def link(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.link(conn, Requester("system", "registry"), account_id, patient_id, "parent", "passport 4510")

    run_db(url, link)
    return patient_id


def authorize(client: httpx.Client, client_id: str, scope: str, verifier: str, root: str) -> httpx.Response:
    return client.get("/oauth/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
        "state": "xyz-state", "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256", "aud": root + "/fhir/R4"})


def callback_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent(client: httpx.Client, page: httpx.Response, **choices: str) -> dict[str, str]:
    assert page.status_code == 200, page.text
    return callback_params(client.post("/oauth/authorize", data={**form_fields(page.text), "decision": "allow",
                                                                 **choices}))


def exchange(client: httpx.Client, client_id: str, code: str, verifier: str) -> httpx.Response:
    return client.post("/oauth/token", data={"grant_type": "authorization_code", "code": code, "client_id": client_id,
                                             "redirect_uri": REDIRECT, "code_verifier": verifier})


def test_smart_configuration_is_published_at_the_root_and_under_the_fhir_base(root: str) -> None:
    for path in ("/.well-known/smart-configuration", "/fhir/R4/.well-known/smart-configuration"):
        response = httpx.get(root + path)
        assert response.status_code == 200
        config = response.json()
        assert config["token_endpoint"] == root + "/oauth/token"
        assert config["code_challenge_methods_supported"] == ["S256"]
        assert {"client_secret_basic", "private_key_jwt"} <= set(config["token_endpoint_auth_methods_supported"])
        assert {"launch-standalone", "client-public", "context-standalone-patient", "permission-v2"} <= set(
            config["capabilities"])


def test_a_parents_app_gets_a_token_for_the_chosen_child(client: httpx.Client, root: str, database_url: str,
                                                          http: httpx.Client) -> None:
    parent = create_account(database_url, "family", "parent", password=PASSWORD, level="full")
    child = child_of(database_url, http, parent)
    client_id, _ = register(database_url, "public", "patient/*.rs launch/patient offline_access")
    verifier = secrets.token_urlsafe(48)

    first = authorize(client, client_id, "patient/*.rs patient/Observation.cud launch/patient offline_access",
                      verifier, root)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/auth/login?next=")  # not signed in: to the login page
    login_page = client.get(first.headers["location"])
    signed_in = client.post("/auth/login", data={**form_fields(login_page.text), "username": "parent",
                                                 "password": PASSWORD})
    assert signed_in.headers["location"].startswith("/oauth/authorize?")  # and back
    page = client.get(signed_in.headers["location"])
    assert "Анна Смирнова" in page.text
    assert "form-action 'self' http://127.0.0.1:9" in page.headers["content-security-policy"]
    back = consent(client, page, patient=child)
    assert back["state"] == "xyz-state"

    token = exchange(client, client_id, back["code"], verifier)
    assert token.status_code == 200, token.text
    grant = token.json()
    assert grant["token_type"] == "Bearer"
    assert grant["patient"] == child
    assert grant["expires_in"] > 0
    assert "patient/Observation" not in grant["scope"]  # narrowed to what the app registered
    assert "launch/patient" in grant["scope"]
    assert token.headers["cache-control"] == "no-store"

    access = grant["access_token"]
    assert httpx.get(root + "/fhir/R4/metadata", headers=bearer(access)).status_code == 200
    seen = client.post("/oauth/introspect", data={"token": access}, headers=bearer(access)).json()
    assert seen["active"] is True
    assert seen["patient"] == child
    assert seen["sub"] == parent
    search = httpx.get(root + "/fhir/R4/Patient", params={"_count": "1"},
                       headers={**bearer(access), "Accept": "application/fhir+json"})
    assert search.status_code == 200, search.text
    assert search.json()["type"] == "searchset"

    refreshed = client.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                                  "refresh_token": grant["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["patient"] == child
    again = client.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                              "refresh_token": grant["refresh_token"]})
    assert again.json()["error"] == "invalid_grant"  # refresh tokens rotate
    new_access = refreshed.json()["access_token"]
    assert client.post("/oauth/revoke", data={"token": new_access, "client_id": client_id}).status_code == 200
    assert httpx.get(root + "/fhir/R4/metadata", headers=bearer(access)).status_code == 200
    gone = client.post("/oauth/introspect", data={"token": access}, headers=bearer(new_access))
    assert gone.status_code == 401  # the revoked token no longer authorizes anything


def test_a_clinicians_app_after_password_and_totp(client: httpx.Client, root: str, database_url: str,
                                                 settings: Settings) -> None:
    staff = staff_with_totp(database_url, settings)
    client_id, _ = register(database_url, "public", "user/*.rs")
    verifier = secrets.token_urlsafe(48)
    to_login = authorize(client, client_id, "user/*.rs", verifier, root).headers["location"]
    next_path = parse_qs(urlsplit(to_login).query)["next"][0]
    to_totp = sign_in(client, "dr.ivanova", next_path=next_path).headers["location"]
    fields = form_fields(client.get(to_totp).text)
    to_consent = client.post("/auth/login/totp", data={**fields, "code": totp_code(database_url, settings, staff)})
    back = consent(client, client.get(to_consent.headers["location"]))
    grant = exchange(client, client_id, back["code"], verifier).json()
    assert grant["scope"] == "user/*.rs"
    assert "patient" not in grant
    assert httpx.get(root + "/fhir/R4/Patient", params={"_count": "1"},
                     headers=bearer(grant["access_token"])).status_code == 200


def test_authorization_errors(client: httpx.Client, root: str, database_url: str) -> None:
    create_account(database_url, "family", "mum", password=PASSWORD)
    client_id, _ = register(database_url, "public", "patient/*.rs")
    sign_in(client, "mum")
    wrong_redirect = client.get("/oauth/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": "https://evil.example/cb",
        "code_challenge": create_s256_code_challenge("x" * 43), "code_challenge_method": "S256"})
    assert wrong_redirect.status_code == 400  # told to the person, never redirected
    no_pkce = client.get("/oauth/authorize", params={"response_type": "code", "client_id": client_id,
                                                     "redirect_uri": REDIRECT, "scope": "patient/*.rs",
                                                     "state": "s1"})
    assert callback_params(no_pkce) == {"error": "invalid_request", "state": "s1",
                                        "error_description": "PKCE is required: send code_challenge"}
    verifier = secrets.token_urlsafe(48)
    denied = client.post("/oauth/authorize", data={
        **form_fields(authorize(client, client_id, "patient/*.rs", verifier, root).text), "decision": "deny"})
    assert callback_params(denied)["error"] == "access_denied"
    back = consent(client, authorize(client, client_id, "patient/*.rs", verifier, root))
    wrong_verifier = exchange(client, client_id, back["code"], secrets.token_urlsafe(48))
    assert wrong_verifier.json()["error"] == "invalid_grant"
    assert exchange(client, client_id, back["code"], verifier).json()["error"] == "invalid_grant"  # spent
    forged = client.post("/oauth/authorize", data={
        **form_fields(authorize(client, client_id, "patient/*.rs", verifier, root).text), "csrf": "forged",
        "decision": "allow"})
    assert forged.status_code == 403


# replays: a code or a refresh token used twice revokes its token family -----------------------


def _basic(client_id: str, secret: str | None) -> dict[str, str]:
    assert secret is not None
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _confidential_grant(client: httpx.Client, root: str, database_url: str, username: str
                        ) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """A confidential app's (Basic credentials, code grant parameters, token response) for a signed-in parent."""
    create_account(database_url, "family", username, password=PASSWORD, level="full")
    client_id, secret = register(database_url, "confidential", "user/*.rs offline_access")
    credentials = _basic(client_id, secret)
    sign_in(client, username)
    verifier = secrets.token_urlsafe(48)
    back = consent(client, authorize(client, client_id, "user/*.rs offline_access", verifier, root))
    code_grant = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                  "code_verifier": verifier}
    token = client.post("/oauth/token", data=code_grant, headers=credentials)
    assert token.status_code == 200, token.text
    return credentials, code_grant, token.json()


def _fhir_status(root: str, access_token: str) -> int:
    return httpx.get(root + "/fhir/R4/Organization", headers=bearer(access_token)).status_code


def test_a_replayed_refresh_token_revokes_the_pair_its_rotation_issued(client: httpx.Client, root: str,
                                                                       database_url: str) -> None:
    credentials, _, first = _confidential_grant(client, root, database_url, "replay-parent")
    rotated = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                "refresh_token": first["refresh_token"]}, headers=credentials)
    assert rotated.status_code == 200, rotated.text
    legitimate = rotated.json()
    assert _fhir_status(root, legitimate["access_token"]) == 200

    replayed = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": first["refresh_token"]}, headers=credentials)
    assert replayed.json()["error"] == "invalid_grant"
    assert _fhir_status(root, legitimate["access_token"]) == 401
    seen = client.post("/oauth/introspect", data={"token": legitimate["access_token"]}, headers=credentials)
    assert seen.json() == {"active": False}
    again = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                              "refresh_token": legitimate["refresh_token"]}, headers=credentials)
    assert again.json()["error"] == "invalid_grant"


def test_a_replayed_code_revokes_the_tokens_of_its_first_exchange(client: httpx.Client, root: str,
                                                                 database_url: str) -> None:
    credentials, code_grant, first = _confidential_grant(client, root, database_url, "code-replay-parent")
    assert _fhir_status(root, first["access_token"]) == 200
    replayed = client.post("/oauth/token", data=code_grant, headers=credentials)
    assert replayed.json()["error"] == "invalid_grant"
    assert _fhir_status(root, first["access_token"]) == 401
    refresh = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                "refresh_token": first["refresh_token"]}, headers=credentials)
    assert refresh.json()["error"] == "invalid_grant"


# backend services --------------------------------------------------------------------------


def rsa_key() -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return RSAKey.import_key(pem, {"kid": "backend-1", "alg": "RS384", "use": "sig"})


def assertion(key: RSAKey | ECKey, client_id: str, aud: str, *, lifetime: int = 240, jti: str | None = None,
              alg: str = "RS384") -> str:
    now = int(time.time())
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"},
                      {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + lifetime,
                       "jti": jti or uuid.uuid4().hex}, key, algorithms=[alg])


def credentials(client_id: str, signed: str, scope: str = "system/*.rs") -> dict[str, str]:
    return {"grant_type": "client_credentials", "scope": scope, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed}


def test_backend_service_gets_a_token_with_a_signed_assertion(root: str, database_url: str) -> None:
    key = rsa_key()
    client_id, secret = register(database_url, "backend", "system/*.rs",
                                 jwks={"keys": [key.as_dict(private=False)]})
    assert secret is None
    aud = root + "/oauth/token"
    reused = uuid.uuid4().hex
    response = httpx.post(aud, data=credentials(client_id, assertion(key, client_id, aud, jti=reused),
                                                "system/Patient.rs system/Observation.cruds"))
    assert response.status_code == 200, response.text
    grant = response.json()
    assert grant["scope"] == "system/Patient.rs"  # narrowed to the registered system/*.rs
    assert "refresh_token" not in grant
    seen = httpx.post(root + "/oauth/introspect", data={
        "token": grant["access_token"], "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(key, client_id, aud)}).json()
    assert seen["active"] is True
    assert seen["client_id"] == client_id
    assert "sub" not in seen
    assert httpx.get(root + "/fhir/R4/Patient", params={"_count": "1"},
                     headers=bearer(grant["access_token"])).status_code == 200

    replayed = httpx.post(aud, data=credentials(client_id, assertion(key, client_id, aud, jti=reused)))
    assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_client")
    wrong_aud = httpx.post(aud, data=credentials(client_id, assertion(key, client_id, root + "/other")))
    assert wrong_aud.json()["error"] == "invalid_client"
    expired = httpx.post(aud, data=credentials(client_id, assertion(key, client_id, aud, lifetime=-120)))
    assert expired.json()["error"] == "invalid_client"
    too_long = httpx.post(aud, data=credentials(client_id, assertion(key, client_id, aud, lifetime=900)))
    assert too_long.json()["error"] == "invalid_client"
    other_key = httpx.post(aud, data=credentials(client_id, assertion(rsa_key(), client_id, aud)))
    assert other_key.json()["error"] == "invalid_client"
    with psycopg.connect(database_url) as conn:
        issued = conn.execute("SELECT count(*) FROM oauth_token WHERE client_id = %s", (client_id,)).fetchone()
    assert issued == (1,)


def test_backend_service_with_an_es384_key(root: str, database_url: str) -> None:
    private = ec.generate_private_key(ec.SECP384R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    key = ECKey.import_key(pem, {"kid": "ec-1"})
    client_id, _ = register(database_url, "backend", "system/*.read", jwks={"keys": [key.as_dict(private=False)]})
    aud = root + "/oauth/token"
    response = httpx.post(aud, data=credentials(client_id, assertion(key, client_id, aud, alg="ES384"),
                                                "system/*.read"))
    assert response.status_code == 200, response.text


def test_backend_service_with_a_client_secret(root: str, database_url: str) -> None:
    client_id, secret = register(database_url, "backend", "system/*.rs")
    assert secret is not None
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = httpx.post(root + "/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.text
    wrong = base64.b64encode(f"{client_id}:not-the-secret".encode()).decode()
    refused = httpx.post(root + "/oauth/token", data={"grant_type": "client_credentials"},
                         headers={"Authorization": f"Basic {wrong}"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")
    public_id, _ = register(database_url, "public", "patient/*.rs")
    public = httpx.post(root + "/oauth/token", data={"grant_type": "client_credentials", "client_id": public_id})
    assert public.json()["error"] == "unauthorized_client"  # a public app cannot be a backend service
