"""The operators' commands: accounts, links, clients and tokens from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from conftest import ServerThread
from helpers import bearer, body, created_id, post
from test_cli import MEDCARD, env_for


def medcard(home: Path, url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MEDCARD, *args], env=env_for(home, MEDCARD_DATABASE_URL=url), input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_an_operator_links_a_parent_and_revokes_the_link(tmp_path: Path, database_url: str, server: ServerThread,
                                                        http: httpx.Client) -> None:
    child = created_id(post(http, "/Patient", {"resourceType": "Patient", "birthDate": "2020-05-01"}))
    made = medcard(tmp_path, database_url, "user", "create", "mother@example.ru", "--kind", "family",
                   "--name", "Иванова Елена", "--password-stdin", stdin="a long enough password\n")
    assert made.returncode == 0, made.stderr
    short = medcard(tmp_path, database_url, "user", "create", "x@example.ru", "--kind", "family", "--password-stdin",
                    stdin="short\n")
    assert short.returncode == 1
    assert "10 characters" in short.stderr
    linked = medcard(tmp_path, database_url, "link", "create", "--user", "mother@example.ru", "--patient", child,
                     "--relationship", "parent", "--document", "свидетельство о рождении IV-МЮ 654321")
    assert linked.returncode == 0, linked.stderr
    link_id = linked.stdout.strip()
    listed = medcard(tmp_path, database_url, "link", "list", "--patient", child)
    assert f"{link_id}\tmother@example.ru\t{child}\tparent\tactive" in listed.stdout

    # the mother reads her child's record with a token for her account
    from helpers import person_token

    accounts = medcard(tmp_path, database_url, "user", "list").stdout
    assert "mother@example.ru\tfamily\tstandard\tactive" in accounts
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM account WHERE username = 'mother@example.ru'").fetchone()
    assert row is not None
    mother = bearer(person_token(database_url, str(row[0])))
    assert http.get(f"/Patient/{child}", headers=mother).status_code == 200

    assert medcard(tmp_path, database_url, "link", "revoke", link_id).returncode == 0
    assert http.get(f"/Patient/{child}", headers=mother).status_code == 404
    assert "\trevoked\t" in medcard(tmp_path, database_url, "link", "list", "--patient", child).stdout

    # disabling the account stops its tokens at once
    assert medcard(tmp_path, database_url, "user", "disable", "mother@example.ru").returncode == 0
    assert http.get("/Organization", headers=mother).status_code == 401


def test_a_revoked_client_loses_its_tokens(tmp_path: Path, database_url: str, server: ServerThread,
                                           http: httpx.Client) -> None:
    assert medcard(tmp_path, database_url, "client", "register", "nightly", "--scope", "system/*.read").returncode == 0
    token = medcard(tmp_path, database_url, "token", "--client", "nightly").stdout.strip()
    reader = bearer(token)
    assert body(http.get("/Patient", headers=reader))["resourceType"] == "Bundle"
    refused = post(http, "/Patient", {"resourceType": "Patient"}, reader)
    assert refused.status_code == 403  # the client may only read
    wider = medcard(tmp_path, database_url, "token", "--client", "nightly", "--scope", "system/*.*")
    assert wider.returncode == 1  # asking for more than the client has gets nothing
    assert "may not have" in wider.stderr
    created_id(post(http, "/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}))
    assert body(http.get("/Observation", headers=reader))["total"] == 1
    narrower = medcard(tmp_path, database_url, "token", "--client", "nightly", "--scope", "system/Patient.read")
    patients_only = bearer(narrower.stdout.strip())
    assert http.get("/Patient", headers=patients_only).status_code == 200
    assert body(http.get("/Observation", headers=patients_only)).get("entry") is None
    assert medcard(tmp_path, database_url, "client", "revoke", "nightly").returncode == 0
    assert http.get("/Patient", headers=reader).status_code == 401


def test_a_client_registered_with_a_low_rate_gets_429_with_retry_after(tmp_path: Path, database_url: str,
                                                                      server: ServerThread) -> None:
    made = medcard(tmp_path, database_url, "client", "register", "chatty", "--scope", "system/*.read",
                   "--rate-per-minute", "3")
    assert made.returncode == 0, made.stderr
    token = medcard(tmp_path, database_url, "token", "--client", "chatty").stdout.strip()
    with httpx.Client(base_url=server.base, headers=bearer(token), timeout=60) as client:
        answers = [client.get("/metadata") for _ in range(7)]  # more than two minutes' budgets
        refused = next(r for r in answers if r.status_code == 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        outcome = body(refused)
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "throttled"

        assert medcard(tmp_path, database_url, "client", "rate", "chatty", "0").stdout.strip() == "chatty: unlimited"
        unlimited = medcard(tmp_path, database_url, "token", "--client", "chatty").stdout.strip()
        assert [client.get("/metadata", headers=bearer(unlimited)).status_code for _ in range(7)] == [200] * 7
    negative = medcard(tmp_path, database_url, "client", "register", "odd", "--rate-per-minute", "-1")
    assert negative.returncode != 0
    assert "--rate-per-minute" in negative.stderr  # named in the error
    huge = medcard(tmp_path, database_url, "client", "rate", "chatty", "99999999999")
    assert huge.returncode == 1
    assert "up to 2147483647" in huge.stderr


def test_a_registrar_approves_a_familys_request(tmp_path: Path, database_url: str, server: ServerThread,
                                                http: httpx.Client) -> None:
    import asyncio

    import psycopg

    from medcard.access import accounts

    child = created_id(post(http, "/Patient", {"resourceType": "Patient", "birthDate": "2021-02-02"}))
    father = medcard(tmp_path, database_url, "user", "create", "father@example.ru", "--kind", "family",
                     "--no-password").stdout.strip()

    async def ask() -> str:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            link_id = await accounts.request_link(conn, father, child, "parent", "прошу связать с сыном")
            await conn.commit()
            return link_id

    link_id = asyncio.run(ask())
    assert "\trequested\t" in medcard(tmp_path, database_url, "link", "list", "--user", "father@example.ru").stdout
    approved = medcard(tmp_path, database_url, "link", "approve", link_id, "--document", "свидетельство III-МЮ 777777")
    assert approved.returncode == 0, approved.stderr
    listed = medcard(tmp_path, database_url, "link", "list", "--user", "father@example.ru").stdout
    assert f"{link_id}\tfather@example.ru\t{child}\tparent\tactive\tсвидетельство III-МЮ 777777" in listed
    again = medcard(tmp_path, database_url, "link", "approve", link_id, "--document", "x")
    assert again.returncode == 1  # only a pending request can be approved


def test_a_token_cache_trusts_a_token_for_its_ttl_only(database_url: str) -> None:
    import asyncio

    import psycopg

    from helpers import system_token
    from medcard.access import tokens
    from medcard.fhir.api.access import TokenCache

    token = system_token(database_url)

    async def check() -> tuple[bool, bool, bool]:
        cache = TokenCache()
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            first = await cache.get(conn, token, 60) is not None
            await tokens.revoke(conn, token)
            cached = await cache.get(conn, token, 60) is not None  # within the TTL: still trusted
            uncached = await cache.get(conn, token, 0) is not None  # no cache: refused at once
            return first, cached, uncached

    assert asyncio.run(check()) == (True, True, False)
