"""Operators' commands: accounts, links between families and children, API clients, tokens.

    medcard user create USERNAME --kind staff --name "Иванова Анна Петровна" --role pediatrician:ORG_ID
    medcard user list | disable USERNAME | enable USERNAME | reset-totp USERNAME | verify USERNAME --document ...
    medcard link create --user USERNAME --patient PATIENT_ID --relationship parent --document "..."
    medcard link list [--patient ID] [--user USERNAME] | approve LINK_ID --document ... | revoke LINK_ID
    medcard client register NAME --kind backend --scope "system/*.read" [--jwks FILE] [--redirect-uri URI]
                            [--rate-per-minute N]
    medcard client rate NAME N|default
    medcard client revoke NAME
    medcard token --client NAME [--scope ...] [--minutes N]

Passwords are read from standard input (``--password-stdin``) or asked for, never taken as an
argument (arguments end up in shell histories and process lists). Secrets are printed once.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import psycopg
import typer

from medcard.access import accounts, tokens
from medcard.access.requester import Requester
from medcard.access.scopes import Scopes
from medcard.config import get_settings
from medcard.core.errors import MedcardError
from medcard.launch import database, schema_ready

T = TypeVar("T")
OPERATOR = Requester("system", "operator (command line)")

user_app = typer.Typer(help="Staff and family accounts.", no_args_is_help=True)
link_app = typer.Typer(help="Links between family accounts and children (legal representatives).",
                       no_args_is_help=True)
client_app = typer.Typer(help="Programs using the API (OAuth clients).", no_args_is_help=True)


def _run(work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on medcard's database; a medcard error is a message and exit code 1."""
    settings = get_settings()

    async def go(url: str) -> T:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            result = await work(conn)
            await conn.commit()
            return result

    with database(settings) as url:
        schema_ready(settings, url)
        try:
            return asyncio.run(go(url))
        except MedcardError as e:
            typer.echo(f"medcard: {e.message}", err=True)
            raise typer.Exit(1) from None


async def _account(conn: psycopg.AsyncConnection[Any], username: str) -> accounts.Account:
    found = await accounts.by_username(conn, username)
    if found is None:
        typer.echo(f"medcard: no account {username}", err=True)
        raise typer.Exit(1)
    return found


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        typer.echo("medcard: a password has at least 10 characters", err=True)
        raise typer.Exit(1)
    return password


# users ---------------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Sign-in name (an e-mail address for families).")],
    kind: Annotated[str, typer.Option(help="staff or family.")] = "staff",
    name: Annotated[str, typer.Option(help="Full name as shown in the audit log.")] = "",
    role: Annotated[list[str] | None, typer.Option(
        help="ROLE:ORGANIZATION_ID (repeatable); roles: pediatrician, nurse, specialist, registrar, archivist, "
             "clinic-admin, city-admin (city-admin needs no organization).")] = None,
    practitioner: Annotated[str | None, typer.Option(help="The staff member's Practitioner id.")] = None,
    patient: Annotated[str | None, typer.Option(help="A family account that is the patient (a teenager).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    no_password: Annotated[bool, typer.Option("--no-password", help="No password (sign-in via OIDC only).")] = False,
) -> None:
    """Create an account; prints its id."""
    roles = []
    for item in role or []:
        r, _, org = item.partition(":")
        roles.append((r, org))
    password = None if no_password else _password(password_stdin)

    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        return await accounts.create(conn, kind=kind, username=username, display_name=name or username,
                                     password=password, roles=roles, practitioner_id=practitioner, patient_id=patient)

    typer.echo(_run(work))


@user_app.command("list")
def user_list() -> None:
    """Every account: username, kind, level, status, second factor, roles."""
    for a in _run(accounts.list_accounts):
        roles = ",".join(f"{r.role}:{r.organization_id}" if r.organization_id else r.role for r in a.roles)
        typer.echo(f"{a.username}\t{a.kind}\t{a.level}\t{a.status}\ttotp={'on' if a.totp_enabled else 'off'}\t{roles}")


def _set_status(username: str, status: str) -> None:
    async def work(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.set_status(conn, (await _account(conn, username)).id, status)

    _run(work)
    typer.echo(f"{username}: {status}")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable an account (its sessions and tokens stop working at once)."""
    _set_status(username, "disabled")


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Enable a disabled account."""
    _set_status(username, "active")


@user_app.command("reset-totp")
def user_reset_totp(username: str) -> None:
    """Remove the second factor; the user enrols a new one at the next sign-in."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.reset_totp(conn, (await _account(conn, username)).id)

    _run(work)
    typer.echo(f"{username}: second factor reset")


@user_app.command("password")
def user_password(username: str, password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False) -> None:
    """Set a new password."""
    password = _password(password_stdin)

    async def work(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.set_password(conn, (await _account(conn, username)).id, password)

    _run(work)
    typer.echo(f"{username}: password set")


@user_app.command("verify")
def user_verify(
    username: str,
    document: Annotated[str, typer.Option(help="The identity document checked (kind, series, number).")],
    by: Annotated[str, typer.Option(help="Username of the registrar who checked it.")],
) -> None:
    """A registrar checked a family member's identity: the account becomes a full account."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> None:
        registrar = await _account(conn, by)
        await accounts.verify_identity(conn, (await _account(conn, username)).id, registrar.id, document)

    _run(work)
    typer.echo(f"{username}: full account")


# links ---------------------------------------------------------------------------------------


@link_app.command("create")
def link_create(
    user: Annotated[str, typer.Option(help="The family account's username.")],
    patient: Annotated[str, typer.Option(help="The child's Patient id.")],
    relationship: Annotated[str, typer.Option(help="parent, guardian or adoptive-parent.")],
    document: Annotated[str, typer.Option(help="The document checked (e.g. birth certificate series and number).")],
) -> None:
    """Link a family account to a child after checking the documents; prints the link id."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        return await accounts.link(conn, OPERATOR, (await _account(conn, user)).id, patient, relationship, document)

    typer.echo(_run(work))


@link_app.command("approve")
def link_approve(
    link_id: str,
    document: Annotated[str, typer.Option(help="The document checked (e.g. birth certificate series and number).")],
) -> None:
    """Approve a family's request to be linked to a child, after checking the documents."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.approve_link(conn, OPERATOR, link_id, document)

    _run(work)
    typer.echo(f"{link_id}: active")


@link_app.command("list")
def link_list(patient: Annotated[str | None, typer.Option()] = None,
              user: Annotated[str | None, typer.Option()] = None) -> None:
    """Links, of one child or one account (or all)."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> list[accounts.Link]:
        account = (await _account(conn, user)).id if user else None
        return await accounts.links(conn, patient_id=patient, account_id=account)

    for link in _run(work):
        typer.echo(f"{link.id}\t{link.username}\t{link.patient_id}\t{link.relationship}\t{link.status}\t"
                   f"{link.document or ''}")


@link_app.command("revoke")
def link_revoke(link_id: str) -> None:
    """Revoke a link (the family account stops reading the child's record at once)."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> None:
        await accounts.revoke_link(conn, OPERATOR, link_id)

    _run(work)
    typer.echo(f"{link_id}: revoked")


# clients and tokens ------------------------------------------------------------------------------


@client_app.command("register")
def client_register(
    name: str,
    kind: Annotated[str, typer.Option(help="backend (system scopes), confidential or public (apps for people).")
                    ] = "backend",
    scope: Annotated[str, typer.Option(help="The most the client may ask for, e.g. 'system/*.read'.")
                     ] = "system/*.read",
    redirect_uri: Annotated[list[str] | None, typer.Option(help="Redirect URI of an app (repeatable).")] = None,
    jwks: Annotated[Path | None, typer.Option(help="A JSON Web Key Set file with the client's public keys "
                                                    "(backend services authenticating with signed JWTs).")] = None,
    rate_per_minute: Annotated[int | None, typer.Option(
        min=0, max=tokens.MAX_RATE,
        help="API requests a minute, counted across server processes: a backend service's together, an app's "
             "for each person using it; 0 is unlimited. Default: MEDCARD_API_RATE_BACKEND_PER_MINUTE for a "
             "backend, MEDCARD_API_RATE_PER_MINUTE for an app.")] = None,
) -> None:
    """Register a client; prints its id and, once, its secret (only a hash is kept)."""
    keys = json.loads(jwks.read_text("utf-8")) if jwks else None

    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[str, str | None]:
        return await tokens.register_client(conn, name, kind, scope, redirect_uris=redirect_uri or [], jwks=keys,
                                            rate_per_minute=rate_per_minute)

    client_id, secret = _run(work)
    typer.echo(f"client_id: {client_id}")
    if secret:
        typer.echo(f"client_secret: {secret}")
        typer.echo("(the secret is shown only now; keep it in a secret store)", err=True)


@client_app.command("rate")
def client_rate(
    name: str,
    rate: Annotated[str, typer.Argument(help="Requests a minute (0: unlimited), or 'default' for the default "
                                             "of the client's kind.")],
) -> None:
    """Change a client's API rate limit (server processes apply it within a minute)."""
    if rate != "default" and not rate.isdigit():
        typer.echo("medcard: the rate is a number of requests a minute (0: unlimited) or 'default'", err=True)
        raise typer.Exit(1)
    limit = None if rate == "default" else int(rate)

    async def work(conn: psycopg.AsyncConnection[Any]) -> None:
        await tokens.set_client_rate(conn, (await tokens.client_named(conn, name)).client_id, limit)

    _run(work)
    described = {None: "the default rate of its kind", 0: "unlimited"}.get(limit, f"{limit} requests a minute")
    typer.echo(f"{name}: {described}")


@client_app.command("revoke")
def client_revoke(name: str) -> None:
    """Revoke a client and with it every token it holds."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> None:
        await tokens.revoke_client(conn, (await tokens.client_named(conn, name)).client_id)

    _run(work)
    typer.echo(f"{name}: revoked")


def token(
    client: Annotated[str, typer.Option(help="The registered backend client's name.")],
    scope: Annotated[str | None, typer.Option(help="Narrower scopes than the client's (default: all of them).")
                     ] = None,
    minutes: Annotated[int | None, typer.Option(help="Lifetime (default: MEDCARD_TOKEN_MINUTES).")] = None,
) -> None:
    """Print a short-lived access token of a backend client, for scripts: curl -H "Authorization: Bearer ..." """
    settings = get_settings()

    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        registered = await tokens.client_named(conn, client)
        if registered.kind != "backend":
            typer.echo("medcard: tokens for people come from signing in; this prints backend tokens", err=True)
            raise typer.Exit(1)
        allowed = Scopes.parse(registered.scope)
        wanted = Scopes.parse(scope).narrowed_to(allowed) if scope else allowed
        if not wanted.grants:
            typer.echo(f"medcard: the client may not have {scope}", err=True)
            raise typer.Exit(1)
        issued = await tokens.issue(conn, registered.client_id, wanted.text(), minutes or settings.token_minutes)
        return issued.access_token

    typer.echo(_run(work))
