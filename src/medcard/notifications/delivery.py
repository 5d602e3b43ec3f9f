"""Sending the outbox: each queued message through the mailer, retried with back-off.

A worker claims a few due messages at a time by pushing their next attempt :data:`LEASE`
seconds ahead (``FOR UPDATE SKIP LOCKED``), sends them outside any transaction, then records the
outcome: sent, or the next attempt after a growing pause (:data:`BACKOFF`), or failed after
:data:`MAX_ATTEMPTS`. A worker that dies mid-send leaves its claim to expire, so the message is
tried again (at least once delivery). Nothing is sent in the quiet hours (22:00–08:00 Moscow
time, ux.md §4): messages wait for the morning. Only the kind of a failure is kept, never the
mail server's text, which may quote the address.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from medcard.access.mailer import Mailer
from medcard.core import jsonutil
from medcard.core.db import Database
from medcard.notifications import inbox

log = logging.getLogger(__name__)

MOSCOW = ZoneInfo("Europe/Moscow")
BACKOFF = (60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600)  # seconds before the 2nd, 3rd, ... attempt
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = 300  # seconds a claimed message is left to its worker
BATCH = 50
QUIET = (22, 8)  # hours, Moscow time: no mail from 22:00 until 08:00


@dataclass
class Delivered:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def quiet(now: datetime) -> bool:
    hour = now.astimezone(MOSCOW).hour
    return hour >= QUIET[0] or hour < QUIET[1]


@dataclass(frozen=True)
class Message:
    delivery_id: int
    attempts: int
    to: str
    subject: str
    text: str


async def deliver(db: Database, mailer: Mailer, base_url: str, now: datetime) -> Delivered:
    """Send the messages due at ``now``, one batch after another, until none is due."""
    done = Delivered()
    if quiet(now):
        return done
    while True:
        messages = await _claim(db, base_url)
        if not messages:
            return done
        for message in messages:
            try:
                await asyncio.to_thread(mailer.send, message.to, message.subject, message.text)
            except Exception as exc:
                await _failed(db, message, type(exc).__name__, done)
            else:
                async with db.transaction() as conn:
                    await conn.execute("UPDATE notification_delivery SET status = 'sent', sent_at = now(), "
                                       "last_error = NULL WHERE id = %s", (message.delivery_id,))
                done.sent += 1


async def _claim(db: Database, base_url: str) -> list[Message]:
    async with db.transaction() as conn:
        cur = await conn.execute(
            """UPDATE notification_delivery d SET attempts = d.attempts + 1,
                      next_attempt_at = now() + make_interval(secs => %s)
                 FROM (SELECT id FROM notification_delivery WHERE status = 'queued' AND next_attempt_at <= now()
                        ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) AS due,
                      notification n, account a
                WHERE d.id = due.id AND n.id = d.notification_id AND a.id = n.account_id
            RETURNING d.id, d.attempts, a.email, a.display_name, a.patient_id = n.patient_id, n.kind, n.patient_id""",
            (LEASE, BATCH))
        rows = await cur.fetchall()
        if not rows:
            return []
        cur = await conn.execute("SELECT id, content FROM resource WHERE resource_type = 'Patient' AND id = ANY(%s)",
                                 (sorted({r[6] for r in rows}),))
        names = {pid: _first_name(jsonutil.loads(content)) for pid, content in await cur.fetchall()}
    return [Message(did, attempts, email, *_text(name, own, kind, names.get(pid), base_url))
            for did, attempts, email, name, own, kind, pid in rows if email]


async def _failed(db: Database, message: Message, error: str, done: Delivered) -> None:
    last = message.attempts >= MAX_ATTEMPTS
    pause = BACKOFF[min(message.attempts, len(BACKOFF)) - 1]
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE notification_delivery SET status = %s, last_error = %s, "
            "next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
            ("failed" if last else "queued", error, pause, message.delivery_id))
    log.warning("notification %s: attempt %s failed (%s)%s", message.delivery_id, message.attempts, error,
                ", given up" if last else "")
    if last:
        done.failed += 1
    else:
        done.retried += 1


def _first_name(patient: dict[str, Any]) -> str | None:
    for name in patient.get("name") or []:
        for given in name.get("given") or []:
            if isinstance(given, str) and given:
                return given
    return None


def _text(person: str, own: bool, kind: str, child: str | None, base_url: str) -> tuple[str, str]:
    """The subject and text of a message: that there is something new, never what it is."""
    whose = "вашей медицинской карте" if own else (f"медицинской карте ребёнка ({child})" if child
                                                   else "медицинской карте ребёнка")
    what = inbox.KINDS[kind]["ru"].lower()
    text = (f"Здравствуйте, {person}!\n\n"
            f"В {whose} есть новое: {what}.\n"
            f"Посмотреть можно в личном кабинете medcard: {base_url}/my/notifications\n\n"
            "Письмо отправлено автоматически, отвечать на него не нужно. "
            "Отключить письма можно там же, в настройках уведомлений.\n")
    return "medcard: новое в медицинской карте", text

