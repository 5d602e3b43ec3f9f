"""OAuth 2.0 / SMART on FHIR: discovery, authorization (code + PKCE), tokens, revocation, introspection.

- ``/oauth/authorize``: apps acting for a signed-in person. PKCE with S256 is required of every app;
  the redirect URI must equal a registered one exactly; the scopes granted are those asked for,
  narrowed to the client's registered scopes (never more); a family account launching with
  ``launch/patient`` chooses whose record (among those the policy lets it read today) the token is for.
- ``/oauth/token``: ``authorization_code`` (single-use codes, the verifier checked), ``refresh_token``
  (rotated: each refresh token works once), ``client_credentials`` for backend services (system/
  scopes; a signed JWT assertion or a secret, see ``clientauth``). A code or refresh token used a
  second time revokes every token of its family (``tokens``).
- ``/oauth/revoke`` (RFC 7009) and ``/oauth/introspect`` (RFC 7662): a client reaches its own tokens only.

Authlib's server core is synchronous (its grants call the store without ``await``), so medcard
keeps the protocol flow here, on its async store, and takes the delicate parts from Authlib:
the PKCE comparison, and JOSE through joserfc (``clientauth``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from fastapi import APIRouter
from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from medcard.access import accounts, pages, sessions, signin, tokens
from medcard.access.authn import requester_for_account
from medcard.access.clientauth import OAuthError, authenticate
from medcard.access.hardening import content_security_policy
from medcard.access.policy import Policy
from medcard.access.scopes import Scopes
from medcard.access.signin import root_url
from medcard.config import Settings
from medcard.core.time import today_moscow
from medcard.fhir import store
from medcard.state import settings as _settings

router = APIRouter(include_in_schema=False)
FHIR_PREFIX = "/fhir/R4"
CODE_SECONDS = 120
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_AUTHZ_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                 "code_challenge_method", "aud", "nonce", "lang")
_REFRESH_SCOPES = {"offline_access", "online_access"}
# No id_token is issued (medcard is not an OpenID provider): these are never granted.
_NOT_GRANTED = {"openid", "fhirUser", "profile"}


# discovery ------------------------------------------------------------------------------


def smart_configuration(root: str) -> dict[str, Any]:
    """The SMART App Launch discovery document (``.well-known/smart-configuration``)."""
    return {
        "issuer": root,
        "authorization_endpoint": root + "/oauth/authorize",
        "token_endpoint": root + "/oauth/token",
        "revocation_endpoint": root + "/oauth/revoke",
        "introspection_endpoint": root + "/oauth/introspect",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(("RS384", "ES384")),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "scopes_supported": ["launch/patient", "offline_access", "online_access", "patient/*.read", "patient/*.rs",
                             "user/*.read", "user/*.rs", "user/*.cruds", "system/*.read", "system/*.rs"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": ["launch-standalone", "client-public", "client-confidential-symmetric",
                         "client-confidential-asymmetric", "context-standalone-patient", "permission-offline",
                         "permission-online", "permission-patient", "permission-user", "permission-v1",
                         "permission-v2"],
    }


# Under the FHIR base, the discovery document must be matched before the FHIR router's /{rtype}/{rid}:
# it has a router of its own, which ``mount_access`` puts first.
fhir_router = APIRouter(include_in_schema=False)


@router.get("/.well-known/smart-configuration")
@fhir_router.get(FHIR_PREFIX + "/.well-known/smart-configuration")
async def well_known(request: Request) -> Response:
    return JSONResponse(smart_configuration(root_url(request)), headers={"Cache-Control": "max-age=3600"})


# the authorization request ----------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    client: tokens.Client
    redirect_uri: str
    state: str | None
    scopes: Scopes
    code_challenge: str
    nonce: str | None
    params: dict[str, str]  # as received, for the consent form to send back

    def redirect(self, **values: str) -> RedirectResponse:
        query = values | ({"state": self.state} if self.state is not None else {})
        separator = "&" if "?" in self.redirect_uri else "?"
        return RedirectResponse(self.redirect_uri + separator + urlencode(query), status_code=303,
                                headers={"Cache-Control": "no-store"})

    def error(self, error: str, description: str) -> RedirectResponse:
        """RFC 6749 §4.1.2.1: the error goes back to the app (the client and redirect URI were valid)."""
        return self.redirect(error=error, error_description=description)


class _NoRedirect(Exception):
    """The client or its redirect URI is wrong: tell the person, never redirect (open redirector)."""


async def _client_and_redirect(conn: AsyncConnection, params: dict[str, str]) -> tuple[tokens.Client, str]:
    client = await tokens.client(conn, params.get("client_id", ""))
    if client is None or client.kind not in ("public", "confidential"):
        raise _NoRedirect
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None and len(client.redirect_uris) == 1:
        redirect_uri = client.redirect_uris[0]
    if redirect_uri is None or redirect_uri not in client.redirect_uris:
        raise _NoRedirect
    return client, redirect_uri


def _validated(request: Request, params: dict[str, str], client: tokens.Client,
               redirect_uri: str) -> AuthorizationRequest | RedirectResponse:
    req = AuthorizationRequest(client, redirect_uri, params.get("state"), Scopes(()), params.get("code_challenge", ""),
                               params.get("nonce"), {k: params[k] for k in _AUTHZ_PARAMS if k in params})
    if params.get("response_type") != "code":
        return req.error("unsupported_response_type", "only response_type=code is supported")
    if not _CHALLENGE.match(req.code_challenge):
        return req.error("invalid_request", "PKCE is required: send code_challenge")
    if params.get("code_challenge_method") != "S256":
        return req.error("invalid_request", "code_challenge_method must be S256")
    aud = params.get("aud")
    if aud is not None and aud.rstrip("/") != root_url(request) + FHIR_PREFIX:
        return req.error("invalid_request", "aud is not this FHIR server")
    try:
        asked = Scopes.parse(params.get("scope", ""))
    except ValueError as e:
        return req.error("invalid_scope", str(e))
    granted = asked.narrowed_to(Scopes.parse(client.scope))
    granted = Scopes(tuple(g for g in granted.grants if g.level != "system"), granted.other - _NOT_GRANTED)
    if not granted.grants:
        return req.error("invalid_scope", "none of the requested scopes is allowed for this app")
    return replace(req, scopes=granted)


async def _authorization_request(request: Request, conn: AsyncConnection, params: dict[str, str],
                                 lang: str) -> AuthorizationRequest | Response:
    try:
        client, redirect_uri = await _client_and_redirect(conn, params)
    except _NoRedirect:
        return pages.message_page(request, lang, "error_title", "bad_client", status=400)
    return _validated(request, params, client, redirect_uri)


@router.get("/oauth/authorize")
async def authorize(request: Request) -> Response:
    params = dict(request.query_params)
    lang = pages.language(request)
    settings = _settings(request)
    async with request.app.state.db.connection() as conn:
        req = await _authorization_request(request, conn, params, lang)
        if not isinstance(req, AuthorizationRequest):
            return req
        session = await sessions.current(request, conn)
        account = await sessions.account_of(conn, settings, session) if session else None
        if session is None or account is None:
            return signin.redirect(signin.login_url(request.url.path + "?" + request.url.query, lang))
        req = _for_account(req, account)
        patients = await _patient_choices(conn, account, lang) if "launch/patient" in req.scopes.other else None
    if patients == []:
        return pages.message_page(request, lang, "consent_title", "no_patients", status=403)
    return _consent_page(request, lang, req, session.csrf_token, patients)


def _for_account(req: AuthorizationRequest, account: accounts.Account) -> AuthorizationRequest:
    """Staff choose no launch patient yet (no patient picker for staff apps): ``launch/patient`` is dropped."""
    if account.kind == "family":
        return req
    return replace(req, scopes=Scopes(req.scopes.grants, req.scopes.other - {"launch/patient"}))


async def _readable(conn: AsyncConnection, account: accounts.Account) -> list[str]:
    today = today_moscow()
    return await Policy(conn, requester_for_account(account), today).readable_patients()


async def _patient_choices(conn: AsyncConnection, account: accounts.Account, lang: str) -> list[tuple[str, str]]:
    """(patient id, name shown) for each record the family account may open today."""
    choices = []
    for pid in await _readable(conn, account):
        stored = await store.read_current(conn, "Patient", pid)
        name = _display_name(stored.resource()) if stored and not stored.deleted else pid
        choices.append((pid, pages.text(lang, "own_record") if pid == account.patient_id else name))
    return choices


def _display_name(patient: dict[str, Any]) -> str:
    for name in patient.get("name", []):
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        if any(parts):
            return " ".join(p for p in parts if p)
    return str(patient.get("id", ""))


def _consent_page(request: Request, lang: str, req: AuthorizationRequest, csrf: str,
                  patients: list[tuple[str, str]] | None) -> Response:
    context = {"client_name": req.client.name, "csrf": csrf, "patients": patients or [],
               "scope_items": [_describe(lang, s) for s in req.scopes.text().split()],
               "hidden": list(req.params.items())}
    csp = content_security_policy(_origin(req.redirect_uri))
    return pages.page(request, lang, "consent_title", "consent.html", context,
                      headers={"Content-Security-Policy": csp})


def _origin(uri: str) -> str:
    """The CSP source for a redirect URI (its origin, or its scheme for an app's custom scheme)."""
    parts = urlsplit(uri)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
    return origin if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*:(//[A-Za-z0-9.\-:\[\]]+)?", origin) else ""


def _describe(lang: str, scope: str) -> str:
    key = "scope_" + scope
    if key in pages.MESSAGES:
        return pages.text(lang, key)
    level, _, rest = scope.partition("/")
    rtype, _, perms = rest.partition(".")
    what = pages.text(lang, "all_types") if rtype == "*" else rtype
    verbs = [pages.text(lang, "scope_read")] if set(perms) & set("rs") else []
    verbs += [pages.text(lang, "scope_write")] if set(perms) & set("cud") else []
    return f"{what}: {', '.join(verbs)} — {pages.text(lang, 'scope_' + level)}"


@router.post("/oauth/authorize")
async def consent(request: Request) -> Response:
    form = await signin.read_form(request)
    lang = pages.language(request, form)
    settings = _settings(request)
    async with request.app.state.db.transaction() as conn:
        session = await sessions.current(request, conn)
        account = await sessions.account_of(conn, settings, session) if session else None
        if session is None or account is None:
            return signin.redirect(signin.login_url("/oauth/authorize?" + urlencode(
                {k: form[k] for k in _AUTHZ_PARAMS if k in form}), lang))
        if not sessions.tokens_match(form.get("csrf"), session.csrf_token):
            return pages.message_page(request, lang, "error_title", "csrf", status=403)
        req = await _authorization_request(request, conn, form, lang)
        if not isinstance(req, AuthorizationRequest):
            return req
        if form.get("decision") != "allow":
            return req.error("access_denied", "the person did not allow access")
        req = _for_account(req, account)
        patient = None
        if "launch/patient" in req.scopes.other:
            patient = form.get("patient")
            if patient not in await _readable(conn, account):
                return req.error("access_denied", "no record was chosen that this person may open")
        code = await tokens.issue_code(
            conn, client_id=req.client.client_id, account_id=account.id, redirect_uri=req.redirect_uri,
            scope=req.scopes.text(), code_challenge=req.code_challenge, code_challenge_method="S256",
            patient_id=patient, nonce=req.nonce, seconds=CODE_SECONDS)
    return req.redirect(code=code, iss=root_url(request))


# the token endpoint ---------------------------------------------------------------------


def _token_response(issued: tokens.Issued, patient: str | None) -> Response:
    body: dict[str, Any] = {"access_token": issued.access_token, "token_type": "Bearer",
                            "expires_in": issued.expires_in, "scope": issued.scope}
    if issued.refresh_token:
        body["refresh_token"] = issued.refresh_token
    if patient:
        body["patient"] = patient
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _oauth_error(error: OAuthError) -> Response:
    return JSONResponse(error.body(), status_code=error.status,
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache", **error.headers})


@router.post("/oauth/token")
async def token(request: Request) -> Response:
    form = await signin.read_form(request)
    grants = {"authorization_code": _code_grant, "refresh_token": _refresh_grant,
              "client_credentials": _client_credentials_grant}
    grant = grants.get(form.get("grant_type", ""))
    if grant is None:
        return _oauth_error(OAuthError("unsupported_grant_type", "grant_type is authorization_code, "
                                       "refresh_token or client_credentials"))
    async with request.app.state.db.transaction() as conn:
        # An error is answered inside the transaction, so what the attempt spent stays spent: a code
        # tried with a wrong verifier is gone, an assertion's jti is used.
        try:
            client = await authenticate(conn, request, form, root_url(request) + "/oauth/token")
            return await grant(conn, _settings(request), client.client, client.method, form)
        except OAuthError as e:
            return _oauth_error(e)


def _refresh_days(settings: Settings, scope: Scopes) -> int | None:
    return settings.refresh_token_days if scope.other & _REFRESH_SCOPES else None


async def _code_grant(conn: AsyncConnection, settings: Settings, client: tokens.Client, method: str,
                      form: dict[str, str]) -> Response:
    if client.kind not in ("public", "confidential"):
        raise OAuthError("unauthorized_client", "backend services use client_credentials")
    code = await tokens.take_code(conn, form.get("code", ""))
    if code is None or code.client_id != client.client_id:
        raise OAuthError("invalid_grant", "the code is unknown, used, expired, or for another client")
    redirect_uri = form.get("redirect_uri")
    if redirect_uri != code.redirect_uri and not (redirect_uri is None and len(client.redirect_uris) == 1):
        raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request's")
    verifier = form.get("code_verifier", "")
    if not code.code_challenge or not _CHALLENGE.match(verifier) or not compare_s256_code_challenge(
            verifier, code.code_challenge):
        raise OAuthError("invalid_grant", "the code_verifier does not match the code_challenge")
    account = await accounts.get(conn, code.account_id)
    if account is None or account.status != "active":
        raise OAuthError("invalid_grant", "the account is no longer active")
    scope = Scopes.parse(code.scope)
    issued = await tokens.issue(conn, client.client_id, code.scope, settings.token_minutes, account_id=account.id,
                                patient_id=code.patient_id, refresh_days=_refresh_days(settings, scope),
                                family_id=code.family_id)
    return _token_response(issued, code.patient_id)


async def _refresh_grant(conn: AsyncConnection, settings: Settings, client: tokens.Client, method: str,
                         form: dict[str, str]) -> Response:
    spent = await tokens.take_refresh(conn, form.get("refresh_token", ""), client.client_id)
    if spent is None:
        raise OAuthError("invalid_grant", "the refresh token is unknown, used, expired or revoked")
    scope = Scopes.parse(spent.scope)
    if "scope" in form:
        try:
            scope = Scopes.parse(form["scope"]).narrowed_to(scope)  # a refresh may narrow, never widen
        except ValueError as e:
            raise OAuthError("invalid_scope", str(e)) from None
    if spent.account_id is not None:
        account = await accounts.get(conn, spent.account_id)
        if account is None or account.status != "active":
            raise OAuthError("invalid_grant", "the account is no longer active")
    issued = await tokens.issue(conn, client.client_id, scope.text(), settings.token_minutes,
                                account_id=spent.account_id, patient_id=spent.patient_id,
                                refresh_days=_refresh_days(settings, scope), family_id=spent.family_id)
    return _token_response(issued, spent.patient_id)


async def _client_credentials_grant(conn: AsyncConnection, settings: Settings, client: tokens.Client, method: str,
                                    form: dict[str, str]) -> Response:
    if client.kind != "backend" or method == "none":
        raise OAuthError("unauthorized_client", "client_credentials is for registered backend services")
    try:
        asked = Scopes.parse(form.get("scope") or client.scope)
    except ValueError as e:
        raise OAuthError("invalid_scope", str(e)) from None
    granted = asked.narrowed_to(Scopes.parse(client.scope))
    granted = Scopes(tuple(g for g in granted.grants if g.level == "system"))
    if not granted.grants:
        raise OAuthError("invalid_scope", "none of the requested system/ scopes is allowed for this client")
    issued = await tokens.issue(conn, client.client_id, granted.text(), settings.token_minutes)
    return _token_response(issued, None)


# revocation and introspection -------------------------------------------------------------


@router.post("/oauth/revoke")
async def revoke(request: Request) -> Response:
    form = await signin.read_form(request)
    try:
        async with request.app.state.db.transaction() as conn:
            caller = await authenticate(conn, request, form, root_url(request) + "/oauth/token")
            if form.get("token"):
                await tokens.revoke(conn, form["token"], client_id=caller.client.client_id)
    except OAuthError as e:
        return _oauth_error(e)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


@router.post("/oauth/introspect")
async def introspect(request: Request) -> Response:
    """RFC 7662, for a confidential client or backend service, or an app showing one of its live tokens."""
    form = await signin.read_form(request)
    authorization = request.headers.get("authorization", "")
    try:
        async with request.app.state.db.transaction() as conn:
            if authorization[:7].lower() == "bearer ":
                bearer = await tokens.lookup(conn, authorization[7:].strip())
                if bearer is None:
                    raise OAuthError("invalid_token", "the bearer token is not live", 401,
                                     {"WWW-Authenticate": 'Bearer error="invalid_token"'})
                caller = bearer.client_id
            else:
                authenticated = await authenticate(conn, request, form, root_url(request) + "/oauth/token")
                if authenticated.method == "none":
                    raise OAuthError("invalid_client", "public apps introspect with a live token as bearer", 401)
                caller = authenticated.client.client_id
            info = await tokens.lookup(conn, form.get("token", ""))
    except OAuthError as e:
        return _oauth_error(e)
    if info is None or info.client_id != caller:
        return JSONResponse({"active": False}, headers={"Cache-Control": "no-store"})
    body: dict[str, Any] = {"active": True, "scope": info.scope, "client_id": info.client_id, "token_type": "Bearer",
                            "exp": int(info.expires_at.timestamp()), "iat": int(info.issued_at.timestamp()),
                            "iss": root_url(request)}
    if info.account_id:
        body["sub"] = info.account_id
    if info.patient_id:
        body["patient"] = info.patient_id
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
