"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import psycopg

from medcard.access import accounts, tokens
from medcard.core import jsonutil

T = TypeVar("T")

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def body(response: httpx.Response) -> Any:
    """The parsed JSON body of a response."""
    return jsonutil.loads(response.content)


def post(http: httpx.Client, path: str, resource: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.post(path, content=jsonutil.dumps(resource), headers={**FHIR_JSON, **(headers or {})})


def put(http: httpx.Client, path: str, resource: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.put(path, content=jsonutil.dumps(resource), headers={**FHIR_JSON, **(headers or {})})


def created_id(response: httpx.Response) -> str:
    """The id of the resource a 201 response created."""
    assert response.status_code == 201, response.text
    return str(body(response)["id"])


def run_db(url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    """Run async database work (medcard's own account and token functions) in one committed transaction."""
    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            result = await work(conn)
            await conn.commit()
            return result

    return asyncio.run(go())


def system_token(url: str, scope: str = "system/*.*") -> str:
    """An access token of a newly registered backend client (what integrations and bulk jobs use)."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        client_id, _ = await tokens.register_client(conn, f"test-backend-{uuid.uuid4()}", "backend", scope,
                                                    jwks={"keys": []})
        return (await tokens.issue(conn, client_id, scope, 60)).access_token

    return run_db(url, work)


def person_token(url: str, account_id: str, scope: str = "user/*.*", *, patient_id: str | None = None) -> str:
    """An access token for a signed-in person, as an app registered for people would get it."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        client_id, _ = await tokens.register_client(conn, f"test-app-{uuid.uuid4()}", "public",
                                                    "user/*.* patient/*.* launch/patient openid fhirUser",
                                                    redirect_uris=["http://127.0.0.1/callback"])
        return (await tokens.issue(conn, client_id, scope, 60, account_id=account_id,
                                   patient_id=patient_id)).access_token

    return run_db(url, work)


def create_account(url: str, kind: str, username: str, *, roles: list[tuple[str, str]] | None = None,
                   practitioner_id: str | None = None, patient_id: str | None = None,
                   level: str = "standard", password: str | None = None) -> str:
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        return await accounts.create(conn, kind=kind, username=username, display_name=username.title(),
                                     password=password, roles=roles or [], practitioner_id=practitioner_id,
                                     patient_id=patient_id, level=level)

    return run_db(url, work)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
