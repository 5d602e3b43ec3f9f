"""Operators' commands for reference terminologies.

    medcard terminology load icd10 FILE [--version 2.27]

FILE is the NSI 1005 export downloaded from nsi.rosminzdrav.ru (CSV, or the ZIP it comes in). The
list replaces the one in the database in one transaction, or, if any row is bad, nothing changes
and each problem is printed with its line and column.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import psycopg
import typer

from medcard.config import get_settings
from medcard.launch import database, schema_ready, setup_logging
from medcard.terminology import icd10, nsi

terminology_app = typer.Typer(help="Reference terminologies (ICD-10 with Russian titles).", no_args_is_help=True)
load_app = typer.Typer(help="Load a reference list, replacing the one in the database.", no_args_is_help=True)
terminology_app.add_typer(load_app, name="load")


@load_app.command("icd10")
def load_icd10(
    file: Annotated[Path, typer.Argument(help="The NSI 1005 export: 1.2.643.5.1.13.13.11.1005_<version>.csv "
                                              "(or .zip).", exists=True, dir_okay=False, readable=True)],
    version: Annotated[str | None, typer.Option(
        "--version", help="The list's version, when the file name does not carry it.")] = None,
) -> None:
    """Load ICD-10 with Russian titles from the official NSI 1005 file (all of it, or nothing)."""
    try:
        checked = nsi.read_file(file, version)
    except nsi.NsiFileError as e:
        typer.echo(f"medcard: {e}", err=True)
        raise typer.Exit(1) from None
    settings = get_settings()
    setup_logging(settings)

    async def write(url: str) -> int:
        async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
            return await icd10.replace(conn, checked.version, checked.rows)

    with database(settings) as url:
        schema_ready(settings, url)
        written = asyncio.run(write(url))
    retired = f", {checked.retired:,} of them retired" if checked.retired else ""
    dropped = f"; {checked.duplicates_dropped} duplicate code(s) dropped" if checked.duplicates_dropped else ""
    typer.echo(f"ICD-10 version {checked.version}: {written:,} codes loaded{retired} "
               f"(file in {checked.encoding}){dropped}")
