"""Who is calling the token, revocation and introspection endpoints: OAuth client authentication.

Three ways, one per kind of client (RFC 6749 §2.3, RFC 7523, SMART Backend Services):

- ``client_secret_basic``: confidential apps and backend services registered with a secret;
- ``private_key_jwt``: a JWT signed with RS384 or ES384 by a key of the client's registered JWKS,
  with ``iss`` = ``sub`` = the client id, ``aud`` = the token endpoint, ``exp`` at most five minutes
  ahead, and a ``jti`` never seen before (kept until the assertion expires, so replays fail);
- ``none``: a public app (in a browser or on a phone) names itself by ``client_id`` and proves
  nothing; PKCE protects its codes.

JOSE is joserfc (Authlib's JOSE library; ``authlib.jose`` is deprecated in favour of it).
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from psycopg import AsyncConnection
from starlette.requests import Request

from medcard.access import throttle, tokens
from medcard.core import jsonutil

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_SECONDS = 300  # SMART: exp no more than five minutes in the future
CLOCK_SKEW_SECONDS = 30


@dataclass
class OAuthError(Exception):
    """An error answered as RFC 6749 §5.2 JSON (``error``, ``error_description``)."""

    error: str
    description: str
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class Authenticated:
    client: tokens.Client
    method: str  # none | client_secret_basic | private_key_jwt


def _invalid_client(description: str, *, basic: bool = False) -> OAuthError:
    headers = {"WWW-Authenticate": 'Basic realm="medcard"'} if basic else {}
    return OAuthError("invalid_client", description, 401, headers)


async def authenticate(conn: AsyncConnection, request: Request, form: dict[str, str],
                       token_endpoint: str) -> Authenticated:
    """The calling client, authenticated by the one method it used; OAuthError otherwise."""
    authorization = request.headers.get("authorization", "")
    has_basic = authorization[:6].lower() == "basic "
    has_assertion = "client_assertion" in form or "client_assertion_type" in form
    if has_basic and has_assertion:
        raise OAuthError("invalid_request", "use one client authentication method, not several")
    if has_basic:
        return await _basic(conn, authorization[6:].strip())
    if has_assertion:
        return await _assertion(conn, form, token_endpoint)
    client = await tokens.client(conn, form.get("client_id", ""))
    if client is None:
        raise _invalid_client("unknown client")
    if client.kind != "public":
        raise _invalid_client("this client must authenticate (client_secret_basic or private_key_jwt)")
    return Authenticated(client, "none")


async def _basic(conn: AsyncConnection, encoded: str) -> Authenticated:
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("malformed Basic credentials", basic=True) from None
    client = await tokens.client(conn, unquote(client_id))
    if client is None or client.kind == "public" or not client.check_secret(unquote(secret)):
        raise _invalid_client("the client id or secret is wrong", basic=True)
    return Authenticated(client, "client_secret_basic")


def _unverified_claims(assertion: str) -> dict[str, object]:
    """The claims of an assertion before its signature is checked (only to find whose keys check it)."""
    try:
        payload = jsonutil.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError):
        raise _invalid_client("the client assertion is not a JWT") from None
    if not isinstance(payload, dict):
        raise _invalid_client("the client assertion is not a JWT")
    return payload


async def _assertion(conn: AsyncConnection, form: dict[str, str], token_endpoint: str) -> Authenticated:
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise _invalid_client(f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion", "")
    issuer = _unverified_claims(assertion).get("iss")
    client = await tokens.client(conn, issuer) if isinstance(issuer, str) else None
    if client is None or not client.jwks or client.kind == "public":
        raise _invalid_client("unknown client, or no keys registered for it")
    if form.get("client_id") not in (None, client.client_id):
        raise _invalid_client("client_id and the assertion's issuer differ")
    jti, exp = _verified_claims(assertion, client, token_endpoint)
    if not await throttle.first_use(conn, "jti:" + client.client_id, jti, datetime.fromtimestamp(exp, UTC)):
        raise _invalid_client("this client assertion was used before (jti)")
    return Authenticated(client, "private_key_jwt")


def _verified_claims(assertion: str, client: tokens.Client, token_endpoint: str) -> tuple[str, int]:
    """The assertion's (jti, exp) once its signature, issuer, subject, audience and lifetime are checked."""
    assert client.jwks is not None
    try:
        keys = KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
        token = jwt.decode(assertion, keys, algorithms=list(ASSERTION_ALGORITHMS))
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": client.client_id},
            sub={"essential": True, "value": client.client_id},
            aud={"essential": True, "value": token_endpoint},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as e:
        raise _invalid_client(f"the client assertion is not valid ({type(e).__name__})") from None
    exp, jti = token.claims["exp"], token.claims["jti"]
    if not isinstance(exp, int) or exp > time.time() + MAX_ASSERTION_SECONDS + CLOCK_SKEW_SECONDS:
        raise _invalid_client("the client assertion must expire within five minutes")
    return str(jti), exp
