"""Operators' commands for issued documents.

    medcard documents render DOCUMENTREFERENCE_ID --out FILE   the signed PDF of a document
    medcard documents verify FILE                              its signature, issuer and revocation
    medcard documents revoke CODE --reason R                   mark an issued document revoked
    medcard documents purge-books                              delete the record books kept for past days

``render`` reads the record as the operator (a backend requester: audited like any other read).
``verify`` exits 0 for a valid document, 1 for a bad or unknown one, 2 for a revoked one.
The rendering modules are imported when a command runs, so other commands start without them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer

from medcard.access.requester import Requester
from medcard.config import Settings, get_settings
from medcard.core.errors import MedcardError
from medcard.launch import database, schema_ready

OPERATOR = Requester("system", "operator (command line)")
documents_app = typer.Typer(help="Issued documents: render, verify, revoke, purge kept books.", no_args_is_help=True)


def _run(work: Any, settings: Settings) -> Any:
    async def go(url: str) -> Any:
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


@documents_app.command("render")
def render_(
    docref_id: Annotated[str, typer.Argument(metavar="DOCUMENTREFERENCE_ID", help="The DocumentReference's id.")],
    out: Annotated[Path, typer.Option("--out", help="The PDF file to write.")],
) -> None:
    """Render, sign and register the PDF of a DocumentReference."""
    from medcard.access.gate import Gate
    from medcard.documents.render import render

    settings = get_settings()

    async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
        gate = Gate(conn, OPERATOR)
        rendered = await render(conn, gate, docref_id, settings=settings)
        await gate.flush(conn)
        return rendered

    rendered = _run(work, settings)
    out.write_bytes(rendered.data)
    typer.echo(f"{out}: {rendered.title}, {len(rendered.data)} bytes, code {rendered.code}, {rendered.verify_url}")


@documents_app.command("verify")
def verify_(file: Annotated[Path, typer.Argument(help="The PDF to check.", exists=True, dir_okay=False)]) -> None:
    """Check a PDF's signature against the organizations' certificates and its entry in the registry."""
    from medcard.documents.verification import verify_file

    settings = get_settings()
    data = file.read_bytes()

    async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
        return await verify_file(conn, data)

    report = _run(work, settings)
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(report.exit_code)


@documents_app.command("revoke")
def revoke_(code: Annotated[str, typer.Argument(help="The document's code, as printed under its QR code.")],
            reason: Annotated[str, typer.Option("--reason", help="Why it is revoked (shown to those who may "
                                                                 "read the child's record).")]) -> None:
    """Mark an issued document revoked: its verification page and checks say so from now on."""
    from medcard.documents import registry

    async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
        return await registry.revoke(conn, code, reason)

    issued = _run(work, get_settings())
    typer.echo(f"{issued.code}: revoked at {issued.revoked_at:%Y-%m-%d %H:%M:%S %Z}")


@documents_app.command("purge-books")
def purge_books() -> None:
    """Delete the record books kept for days before today (Moscow): a book prints its day, so they are never
    served again. Their registry entries stay (their codes remain verifiable)."""
    from medcard.core.time import today_moscow
    from medcard.documents import kept
    from medcard.documents.blobs import blob_store

    settings = get_settings()

    async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
        return await kept.stale(conn, today_moscow())

    stale = _run(work, settings)  # committed: only then are the files deleted
    store = blob_store(settings)
    for key in stale:
        store.delete(key)
    typer.echo(f"{len(stale)} kept record books of past days deleted")
