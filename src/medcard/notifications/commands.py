"""``medcard notifications ...``: run a round of notification work now, see the outbox."""

from __future__ import annotations

import asyncio

import typer

from medcard import domains
from medcard.access import mailer
from medcard.config import get_settings
from medcard.core.db import Database
from medcard.launch import database, require_current_schema
from medcard.notifications import runner

notifications_app = typer.Typer(help="Notifications to families (the background worker sends them by itself).",
                                no_args_is_help=True)


@notifications_app.command("send")
def send() -> None:
    """Look for new events and due dates now and send what is queued (what the worker does every
    MEDCARD_NOTIFY_INTERVAL_SECONDS)."""
    settings = get_settings()
    domains.install()
    with database(settings) as url:
        require_current_schema(url)
        done = asyncio.run(_once(url))
    typer.echo(f"{done.events} new events, {done.due} due dates; sent {done.delivered.sent}, "
               f"to retry {done.delivered.retried}, given up {done.delivered.failed}")


@notifications_app.command("status")
def status() -> None:
    """Count the outbox's messages by status."""
    settings = get_settings()
    with database(settings) as url:
        require_current_schema(url)
        counts = asyncio.run(_counts(url))
    for name in ("queued", "sent", "failed"):
        typer.echo(f"{name}: {counts.get(name, 0)}")


async def _once(url: str) -> runner.Round:
    settings = get_settings()
    db = Database(url, min_size=1, max_size=2)
    await db.open()
    try:
        return await runner.run_once(db, mailer.from_settings(settings), settings)
    finally:
        await db.close()


async def _counts(url: str) -> dict[str, int]:
    db = Database(url, min_size=1, max_size=1)
    await db.open()
    try:
        async with db.connection() as conn:
            cur = await conn.execute("SELECT status, count(*) FROM notification_delivery GROUP BY status")
            return {s: int(n) for s, n in await cur.fetchall()}
    finally:
        await db.close()
