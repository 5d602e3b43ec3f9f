"""Signing families in through an external OpenID Connect provider (the city portal in production).

``GET /auth/oidc/login`` sends the browser to the provider (authorization code flow, PKCE S256,
scope ``openid profile email``); ``GET /auth/oidc/callback`` takes the code back, exchanges it at the
provider's token endpoint (``client_secret_basic``), and checks the ``id_token`` with joserfc against
the provider's JWKS: the signature (asymmetric algorithms only), ``iss``, ``aud`` (and ``azp``),
``exp``, ``iat`` and the ``nonce`` of this sign-in. The person's account is the family account whose
``oidc_subject`` is ``{issuer}|{sub}``; the first time, a *full* family account is made for them (the
provider verified who they are). They are then signed in with a new web session, as after a password.

State, nonce and PKCE verifier of a sign-in in progress live in a short-lived cookie signed with the
server key (HMAC-SHA256), bound to the issuer, so no table is needed and a callback without the
browser that started it fails. Staff accounts never sign in this way. Every failure shows the error
page; the reason (a fixed phrase, never a token, code or claim value) goes to the log for operators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from fastapi import APIRouter
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import Response

from medcard.access import accounts, pages, sessions, signin
from medcard.config import Settings
from medcard.core import jsonutil
from medcard.core.db import Database
from medcard.state import settings as _settings

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

SCOPE = "openid profile email"
TIMEOUT_SECONDS = 10.0
STATE_SECONDS = 600  # a sign-in must come back from the provider within ten minutes
CACHE_SECONDS = 300  # discovery document and keys are fetched again after five minutes
CLOCK_SKEW_SECONDS = 60
MAX_RESPONSE_BYTES = 1024 * 1024
# Signatures with the provider's published keys only: never "none", never HMAC with the client secret.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_COOKIE = "medcard_oidc"
_SECURE_COOKIE = "__Host-medcard_oidc"  # see sessions.py for why __Host-


class OIDCError(Exception):
    """A sign-in through the provider failed; ``str(e)`` is a fixed phrase safe to log."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def configured(settings: Settings) -> bool:
    return _client(settings) is not None


def _client(settings: Settings) -> tuple[str, str, str] | None:
    """(issuer, client id, client secret) when all three are set."""
    if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret:
        return settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# the provider: discovery and keys -------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_providers: dict[str, tuple[float, Provider]] = {}
_keys: dict[str, tuple[float, KeySet]] = {}


def _check_endpoint(url: object, what: str) -> str:
    """An endpoint URL of the provider: https, or http to this machine only (development, tests)."""
    if not isinstance(url, str):
        raise OIDCError(f"the provider's discovery document has no {what}", 502)
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname:
        try:
            loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url
    raise OIDCError(f"the provider's {what} is not an https URL", 502)


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError:
        raise OIDCError("the provider could not be reached", 502) from None
    return _json_object(response, "the provider answered with an error")


def _json_object(response: httpx.Response, failure: str) -> dict[str, Any]:
    if response.status_code != 200 or len(response.content) > MAX_RESPONSE_BYTES:
        raise OIDCError(failure, 502)
    try:
        body = jsonutil.loads(response.content)
    except ValueError:
        raise OIDCError("the provider's answer is not JSON", 502) from None
    if not isinstance(body, dict):
        raise OIDCError("the provider's answer is not a JSON object", 502)
    return body


async def discover(client: httpx.AsyncClient, issuer: str) -> Provider:
    """The provider's endpoints from ``{issuer}/.well-known/openid-configuration`` (cached a while)."""
    cached = _providers.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    _check_endpoint(issuer, "issuer")
    document = await _get_json(client, issuer.rstrip("/") + "/.well-known/openid-configuration")
    if document.get("issuer") != issuer:  # OpenID Connect Discovery §4.3
        raise OIDCError("the discovery document names another issuer", 502)
    provider = Provider(issuer, _check_endpoint(document.get("authorization_endpoint"), "authorization_endpoint"),
                        _check_endpoint(document.get("token_endpoint"), "token_endpoint"),
                        _check_endpoint(document.get("jwks_uri"), "jwks_uri"))
    _providers[issuer] = (time.monotonic() + CACHE_SECONDS, provider)
    return provider


async def _key_set(client: httpx.AsyncClient, provider: Provider, *, fresh: bool = False) -> KeySet:
    cached = _keys.get(provider.jwks_uri)
    if cached and not fresh and cached[0] > time.monotonic():
        return cached[1]
    try:
        keys = KeySet.import_key_set(await _get_json(client, provider.jwks_uri))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise OIDCError("the provider's JWKS cannot be read", 502) from None
    _keys[provider.jwks_uri] = (time.monotonic() + CACHE_SECONDS, keys)
    return keys


def _http() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)


# the sign-in in progress: a signed cookie -----------------------------------------------------


@dataclass(frozen=True)
class Pending:
    issuer: str
    state: str
    nonce: str
    verifier: str
    next_path: str
    lang: str
    expires: int


def cookie_name(settings: Settings) -> str:
    return _SECURE_COOKIE if settings.secure_cookies else _COOKIE


def _mac(settings: Settings, payload: bytes) -> bytes:
    return hmac.new(settings.secret(), b"oidc-state:" + payload, hashlib.sha256).digest()


def _seal(settings: Settings, pending: Pending) -> str:
    payload = jsonutil.dumps({"i": pending.issuer, "s": pending.state, "n": pending.nonce, "v": pending.verifier,
                              "x": pending.next_path, "l": pending.lang, "e": pending.expires})
    return _b64(payload) + "." + _b64(_mac(settings, payload))


def _unseal(settings: Settings, value: str | None) -> Pending | None:
    """The sign-in in progress from the cookie, when the signature holds and it has not expired."""
    if not value or len(value) > 4096 or value.count(".") != 1:
        return None
    encoded, mac = value.split(".")
    try:
        data, given = _unb64(encoded), _unb64(mac)
    except ValueError:
        return None
    if not hmac.compare_digest(given, _mac(settings, data)):
        return None
    try:
        p = jsonutil.loads(data)
        pending = Pending(p["i"], p["s"], p["n"], p["v"], p["x"], p["l"], int(p["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    return pending if pending.expires > time.time() else None


def _redirect_uri(request: Request) -> str:
    return signin.root_url(request) + "/auth/oidc/callback"


def _failed(request: Request, lang: str, error: OIDCError, key: str = "oidc_failed") -> Response:
    log.warning("OIDC sign-in refused: %s", error)
    response = pages.message_page(request, lang, "error_title", key, status=error.status,
                                  link=signin.login_url(signin.HOME, lang))
    settings = _settings(request)
    response.delete_cookie(cookie_name(settings), path="/", secure=settings.secure_cookies, httponly=True,
                           samesite="lax")
    return response


# the routes -----------------------------------------------------------------------------------


@router.get("/auth/oidc/login")
async def login(request: Request) -> Response:
    settings, lang = _settings(request), pages.language(request)
    next_path = signin.safe_next(request.query_params.get("next"))
    client_settings = _client(settings)
    if client_settings is None:
        return pages.message_page(request, lang, "error_title", "oidc_off", status=404,
                                  link=signin.login_url(next_path, lang))
    issuer, client_id, _ = client_settings
    try:
        async with _http() as client:
            provider = await discover(client, issuer)
    except OIDCError as e:
        return _failed(request, lang, e)
    pending = Pending(issuer, secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                      secrets.token_urlsafe(64), next_path, lang, int(time.time()) + STATE_SECONDS)
    query = urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": _redirect_uri(request),
        "scope": SCOPE, "state": pending.state, "nonce": pending.nonce,
        "code_challenge": _b64(hashlib.sha256(pending.verifier.encode("ascii")).digest()),
        "code_challenge_method": "S256", "ui_locales": lang})
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    response = signin.redirect(provider.authorization_endpoint + separator + query)
    response.set_cookie(cookie_name(settings), _seal(settings, pending), max_age=STATE_SECONDS, path="/",
                        secure=settings.secure_cookies, httponly=True, samesite="lax")
    return response


@router.get("/auth/oidc/callback")
async def callback(request: Request) -> Response:
    settings, params = _settings(request), request.query_params
    pending = _unseal(settings, request.cookies.get(cookie_name(settings)))
    lang = pending.lang if pending and params.get("lang") not in pages.LANGUAGES else pages.language(request)
    client_settings = _client(settings)
    try:
        if client_settings is None:
            raise OIDCError("OpenID Connect is not configured", 404)
        if pending is None or pending.issuer != client_settings[0]:
            raise OIDCError("no sign-in in progress in this browser, or it took too long")
        if not hmac.compare_digest(params.get("state", "").encode(), pending.state.encode()):
            raise OIDCError("the state does not match the sign-in in progress")
        if "error" in params:
            raise OIDCError("the provider refused the sign-in")
        code = params.get("code")
        if not code:
            raise OIDCError("the provider sent no code")
        claims = await _exchange(client_settings, request, pending, code)
    except OIDCError as e:
        return _failed(request, lang, e, "oidc_off" if e.status == 404 else "oidc_failed")
    issuer = client_settings[0]
    db: Database = request.app.state.db
    async with db.transaction() as conn:
        subject = f"{issuer}|{claims['sub']}"
        account = await accounts.by_oidc_subject(conn, subject)
        if account is None:
            account = await accounts.create_oidc_family(
                conn, issuer=issuer, subject=subject, email=_verified_email(claims),
                display_name=_display_name(claims))
        session = None
        if account.kind == "family" and account.status == "active":  # staff never sign in this way
            old = await sessions.current(request, conn)
            if old is not None:
                await sessions.end(conn, old.value)
            session = await sessions.start(conn, settings, account.id, second_factor=False)
    if session is None:
        return _failed(request, lang, OIDCError("the account is not an active family account", 403))
    response = signin.redirect(pending.next_path)
    sessions.set_cookie(response, settings, session)
    response.delete_cookie(cookie_name(settings), path="/", secure=settings.secure_cookies, httponly=True,
                           samesite="lax")
    response.delete_cookie(sessions.login_cookie_name(settings), path="/", secure=settings.secure_cookies)
    return response


# the code and the id_token --------------------------------------------------------------------


async def _exchange(client_settings: tuple[str, str, str], request: Request, pending: Pending,
                    code: str) -> dict[str, Any]:
    """The verified claims of the id_token the provider gives for the code."""
    issuer, client_id, client_secret = client_settings
    # client_secret_basic: id and secret form-urlencoded, then Basic (RFC 6749 §2.3.1)
    auth = httpx.BasicAuth(quote(client_id, safe=""), quote(client_secret, safe=""))
    async with _http() as client:
        provider = await discover(client, issuer)
        try:
            response = await client.post(provider.token_endpoint, auth=auth, headers={"Accept": "application/json"},
                                         data={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": _redirect_uri(request),
                                               "code_verifier": pending.verifier})
        except httpx.HTTPError:
            raise OIDCError("the provider's token endpoint could not be reached", 502) from None
        if 400 <= response.status_code < 500:  # a code used before, expired, or not for this verifier
            raise OIDCError("the provider refused the code")
        tokens = _json_object(response, "the provider's token endpoint failed")
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OIDCError("the provider's token response has no id_token", 502)
        try:
            token = jwt.decode(id_token, await _key_set(client, provider), algorithms=list(ALGORITHMS))
        except InvalidKeyIdError:  # the provider may have rotated its keys: fetch them once more
            try:
                token = jwt.decode(id_token, await _key_set(client, provider, fresh=True), algorithms=list(ALGORITHMS))
            except (JoseError, ValueError):
                raise OIDCError("the id_token's signature is not valid") from None
        except (JoseError, ValueError):
            raise OIDCError("the id_token's signature is not valid") from None
    return verify_claims(token.claims, issuer=issuer, client_id=client_id, nonce=pending.nonce)


def verify_claims(claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str) -> dict[str, Any]:
    """The id_token's claims, once ``iss``, ``aud``/``azp``, ``exp``, ``iat``, ``sub`` and ``nonce`` hold
    (OpenID Connect Core §3.1.3.7)."""
    try:
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
    except (JoseError, ValueError):
        raise OIDCError("the id_token's claims are not valid (issuer, audience, lifetime or nonce)") from None
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise OIDCError("the id_token is for several audiences and not authorized for medcard")
    if "azp" in claims and claims["azp"] != client_id:
        raise OIDCError("the id_token was issued to another party (azp)")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise OIDCError("the id_token's subject is not valid")
    return claims


def _verified_email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    if claims.get("email_verified") is not True or not isinstance(email, str):
        return None
    email = email.strip().lower()
    return email if 3 <= len(email) <= 254 and email.count("@") == 1 and not any(c.isspace() for c in email) else None


def _display_name(claims: dict[str, Any]) -> str:
    def claim(name: str) -> str:
        value = claims.get(name)
        return " ".join(value.split()) if isinstance(value, str) else ""

    parts = [claim("given_name"), claim("middle_name"), claim("family_name")]
    name = (claim("name") or " ".join(p for p in parts if p) or claim("preferred_username")
            or (_verified_email(claims) or ""))
    return name[:200] or "—"
