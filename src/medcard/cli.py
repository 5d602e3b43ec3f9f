"""The ``medcard`` command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from medcard import __version__, launch
from medcard.config import get_settings
from medcard.documents.commands import documents_app
from medcard.launch import database, schema_ready, setup_logging

app = typer.Typer(help="medcard: the electronic medical record of a city's children's clinics.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"medcard {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """medcard's commands."""
    from medcard import domains

    domains.install()  # every command that writes (import, synth, db rebuild-derived) keeps the derived tables


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [MEDCARD_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [MEDCARD_PORT].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [MEDCARD_WORKERS].")] = None,
) -> None:
    """Run the server (starting the embedded PostgreSQL unless MEDCARD_DATABASE_URL is set)."""
    launch.serve(host, port, workers)


@app.command()
def worker() -> None:
    """Run background jobs (bulk import and export) until stopped."""
    import asyncio

    from medcard.worker import work

    settings = get_settings()
    setup_logging(settings)
    with database(settings) as url:
        schema_ready(settings, url)
        asyncio.run(work(url))


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="NDJSON files, Bundle files (.json) or folders of them.")],
    on_error: Annotated[str, typer.Option(help="What to do on bad input: stop, or continue and report.")] = "stop",
    chunk: Annotated[int, typer.Option(help="Resources per transaction.")] = 500,
    jobs: Annotated[int, typer.Option(help="Processes that parse, validate and index (default: one per core).")
                    ] = 0,
) -> None:
    """Import FHIR resources (idempotent: importing the same files again changes nothing)."""
    from medcard.fhir.bulk.cli import run_import

    if on_error not in ("stop", "continue"):
        raise typer.BadParameter("--on-error is stop or continue")
    settings = get_settings()
    setup_logging(settings)
    with database(settings) as url:
        schema_ready(settings, url)
        code = run_import(url, paths, on_error=on_error, chunk=chunk, jobs=jobs or os.cpu_count() or 1)
    raise typer.Exit(code)


@app.command("export")
def export_(
    out: Annotated[Path, typer.Option("--out", help="Folder for the NDJSON files (created if needed).")],
    types: Annotated[str | None, typer.Option("--type", help="Comma-separated resource types (default: all).")] = None,
    since: Annotated[str | None, typer.Option(help="Only resources changed after this instant.")] = None,
    patient: Annotated[bool, typer.Option("--patient", help="Only what is in patients' records.")] = False,
    group: Annotated[str | None, typer.Option(help="Only the records of this Group's members.")] = None,
    type_filter: Annotated[list[str] | None, typer.Option(
        "--type-filter", help="A search that selects resources of one type, e.g. Observation?code=8302-2.")] = None,
) -> None:
    """Export resources as NDJSON files, one per type (what $export does, from the command line)."""
    from medcard.fhir.bulk.cli import run_export

    settings = get_settings()
    setup_logging(settings)
    params = [("_type", types)] if types else []
    params += [("_since", since)] if since else []
    params += [("_typeFilter", f) for f in type_filter or []]
    level = "group" if group else "patient" if patient else "system"
    with database(settings) as url:
        schema_ready(settings, url)
        code = run_export(url, level, group, params, out)
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations to the database."""
    from medcard.core import migrate

    settings = get_settings()
    setup_logging(settings)
    with database(settings) as url:
        before = migrate.current_revision(url)
        migrate.upgrade(url)
        after = migrate.current_revision(url)
    typer.echo(f"schema: {before or 'empty'} -> {after}" if before != after else f"schema is current ({after})")


@db_app.command("rebuild-derived")
def db_rebuild_derived() -> None:
    """Recompute the derived tables (the vaccination worklist) of every patient: after an interrupted import,
    or a change of the vaccination calendar's data."""
    import asyncio
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import psycopg

    from medcard.fhir import derived

    settings = get_settings()
    setup_logging(settings)

    async def rebuild(url: str) -> int:
        done = 0
        # autocommit: each chunk of patients is a transaction of its own (see vaccination_due.rebuild);
        # the forecasts are computed in one worker process per core
        with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")) as pool:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                for d in derived.registry():
                    done = max(done, await d.rebuild(conn, pool))
        return done

    with database(settings) as url:
        schema_ready(settings, url)
        typer.echo(f"derived tables recomputed for {asyncio.run(rebuild(url))} patients")


@db_app.command("status")
def db_status() -> None:
    """Show the schema revision of the database and the one this medcard needs."""
    from medcard.core import migrate

    settings = get_settings()
    with database(settings) as url:
        current = migrate.current_revision(url)
    head = migrate.head_revision()
    typer.echo(f"database: {current or 'empty'}; medcard {__version__} needs: {head}")
    if current != head:
        raise typer.Exit(1)


def _register_access_commands() -> None:
    from medcard.access import commands

    app.add_typer(commands.user_app, name="user")
    app.add_typer(commands.link_app, name="link")
    app.add_typer(commands.client_app, name="client")
    app.command("token")(commands.token)
    from medcard.notifications.commands import notifications_app

    app.add_typer(notifications_app, name="notifications")


_register_access_commands()
app.add_typer(documents_app, name="documents")  # medcard documents render|verify|revoke


@app.command("synth")
def synth_(
    out: Annotated[Path | None, typer.Option(help="Folder for NDJSON files, one per type; without it the city "
                                                   "goes straight into the store.")] = None,
    seed: Annotated[int, typer.Option(help="The same seed makes the same city.")] = 1,
    children: Annotated[int, typer.Option(help="Children with a full life history.")] = 200,
    clinics: Annotated[int, typer.Option(help="Children's polyclinics.")] = 3,
    demographic: Annotated[int, typer.Option(help="Further patients with demographics only.")] = 0,
    today: Annotated[str | None, typer.Option(help="The city's 'today', YYYY-MM-DD (default: today).")] = None,
) -> None:
    """Generate a synthetic city of children's records (deterministic for a seed)."""
    from datetime import date

    from medcard.synth import commands

    raise typer.Exit(commands.synth(out, seed, children, clinics, demographic,
                                    date.fromisoformat(today) if today else None))


@app.command("demo")
def demo_(
    children: Annotated[int, typer.Option(help="Children in the demo city.")] = 300,
    seed: Annotated[int, typer.Option(help="The same seed makes the same city.")] = 1,
    port: Annotated[int | None, typer.Option(help="Port to serve on (default: MEDCARD_PORT).")] = None,
) -> None:
    """Generate a demo city, load it, and serve medcard: a new user's first command."""
    from medcard.synth.commands import demo

    with launch.stop_on_signals():  # Ctrl-C while the city is generated or loaded is a clean stop as well
        code = demo(children=children, seed=seed, port=port)
    raise typer.Exit(code)


def main() -> None:
    app(prog_name="medcard")


if __name__ == "__main__":
    main()
