"""One round of notification work, and the loop the background worker runs it in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from medcard.access.mailer import Mailer
from medcard.config import Settings
from medcard.core.db import Database, is_outage
from medcard.core.time import today_moscow, utcnow
from medcard.notifications import delivery, due, events

log = logging.getLogger(__name__)


@dataclass
class Round:
    events: int = 0
    due: int = 0
    delivered: delivery.Delivered = field(default_factory=delivery.Delivered)


def base_url(settings: Settings) -> str:
    """The address the messages link to."""
    return (settings.base_url or f"http://{settings.host}:{settings.port}").rstrip("/")


async def run_once(db: Database, mailer: Mailer, settings: Settings, *, now: datetime | None = None,
                   today: date | None = None) -> Round:
    """Scan for new events and due dates, then send what is queued."""
    now, today = now or utcnow(), today or today_moscow()
    done = Round()
    async with db.transaction() as conn:
        done.events = await events.scan(conn, now, today)
    async with db.transaction() as conn:
        done.due = await due.scan(conn, today)
    done.delivered = await delivery.deliver(db, mailer, base_url(settings), now)
    return done


async def loop(db: Database, mailer: Mailer, settings: Settings, stopping: asyncio.Event) -> None:
    """Run a round every ``notify_interval_seconds`` until ``stopping`` is set; an outage or a
    failed round is logged (by kind) and the next round tries again."""
    while not stopping.is_set():
        try:
            done = await run_once(db, mailer, settings)
            if done.events or done.due or done.delivered.sent or done.delivered.failed:
                log.info("notifications: %s new events, %s due dates, %s sent, %s retried, %s given up",
                         done.events, done.due, done.delivered.sent, done.delivered.retried, done.delivered.failed)
        except Exception as exc:
            if is_outage(exc):
                log.warning("notifications: database unavailable, trying again later")
            else:
                log.error("notifications: round failed (%s)", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), settings.notify_interval_seconds)
