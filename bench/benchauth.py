"""A backend service's access token for the benchmarks' HTTP clients (the API needs one)."""

from __future__ import annotations

import asyncio
import uuid

import psycopg

from medcard.access import tokens


def backend_token(url: str, scope: str = "system/*.*") -> str:
    """Register a backend client in the benchmark's database and issue it a token for a few hours."""
    async def go() -> str:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            client_id, _ = await tokens.register_client(conn, f"bench-{uuid.uuid4()}", "backend", scope,
                                                        jwks={"keys": []})
            issued = await tokens.issue(conn, client_id, scope, 6 * 60)
            await conn.commit()
            return issued.access_token

    return asyncio.run(go())
