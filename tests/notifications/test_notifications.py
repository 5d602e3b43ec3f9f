"""Notifications to families: events of the record and due dates reach the inboxes of those who
may read them, and e-mail goes out through a real SMTP server on loopback, retried with back-off."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller

from helpers import create_account, created_id, post, run_db
from medcard.access import accounts
from medcard.access.mailer import SmtpMailer
from medcard.access.requester import Requester
from medcard.config import Settings
from medcard.core.db import Database
from medcard.core.identifiers import enp_check_digit, system_uri
from medcard.core.time import today_moscow
from medcard.notifications import delivery, inbox, runner

REGISTRY = Requester("system", "registry")
DAYTIME = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
NIGHT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)  # 23:30 in Moscow
_seed = iter(range(5000, 10**6))


class Inbox:
    """What the loopback SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _mailer(port: int) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", port, starttls=False, timeout=5)


# the record and the people ------------------------------------------------------------------


def _child(http: httpx.Client, years: int, given: str = "Вера", clinic: str | None = None) -> str:
    today = today_moscow()
    head = f"{7700000000000000 + next(_seed):016d}"[:15]
    extra = {"managingOrganization": {"reference": f"Organization/{clinic}"}} if clinic else {}
    return created_id(post(http, "/Patient", {**extra,
        "resourceType": "Patient", "gender": "female", "birthDate": today.replace(year=today.year - years).isoformat(),
        "name": [{"family": "Соколова", "given": [given]}],
        "identifier": [{"system": system_uri("enp"), "value": head + enp_check_digit(head)}]}))


def _family(url: str, name: str, *, patient_id: str | None = None, level: str = "standard") -> str:
    account = create_account(url, "family", f"{name}-{uuid.uuid4().hex[:6]}@example.ru", patient_id=patient_id,
                             level=level)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE account SET email = username, email_verified = true WHERE id = %s", (account,))
    return account


def _link(url: str, account: str, child: str) -> None:
    async def work(conn: psycopg.AsyncConnection[Any]) -> str:
        return await accounts.link(conn, REGISTRY, account, child, "parent", "свидетельство II-МЮ 100200")

    run_db(url, work)


def _report(http: httpx.Client, child: str, *, code: str = "58410-2", conclusion: str | None = None,
            issued: str = "2026-11-25T10:00:00+03:00", status: str = "final") -> str:
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "status": status, "issued": issued,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": "Общий анализ крови"},
        "subject": {"reference": f"Patient/{child}"}}
    if conclusion:
        report["conclusionCode"] = [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": conclusion}]}]
    return created_id(post(http, "/DiagnosticReport", report))


# running the worker's round ------------------------------------------------------------------


def _round(url: str, settings: Settings, port: int, now: datetime = DAYTIME, today: date | None = None,
           ) -> runner.Round:
    async def go() -> runner.Round:
        db = Database(url, min_size=1, max_size=2)
        await db.open()
        try:
            return await runner.run_once(db, _mailer(port), settings, now=now, today=today)
        finally:
            await db.close()

    return asyncio.run(go())


def _started(url: str, settings: Settings, port: int) -> None:
    """The first round sets the scan's mark: what is in the store already is not news."""
    assert _round(url, settings, port, now=datetime.now(UTC)).events == 0


def _inbox(url: str, account: str) -> list[inbox.Notification]:
    async def work(conn: psycopg.AsyncConnection[Any]) -> list[inbox.Notification]:
        return await inbox.listing(conn, account)

    return run_db(url, work)


def _deliveries(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT status, attempts, last_error, next_attempt_at - now() FROM notification_delivery "
                            "ORDER BY id").fetchall()


# tests ---------------------------------------------------------------------------------------


def test_a_new_result_reaches_the_parent_by_inbox_and_email_naming_nothing_clinical(
        http: httpx.Client, database_url: str, settings: Settings, smtp: tuple[Inbox, int]) -> None:
    received, port = smtp
    child = _child(http, 7, given="Вера")
    parent, stranger = _family(database_url, "mother"), _family(database_url, "neighbour")
    _link(database_url, parent, child)
    _started(database_url, settings, port)

    report = _report(http, child)
    done = _round(database_url, settings, port, now=datetime.now(UTC))

    assert done.events == 1
    [note] = _inbox(database_url, parent)
    assert (note.patient_id, note.kind, note.key) == (child, "result", f"DiagnosticReport/{report}")
    assert _inbox(database_url, stranger) == []
    assert done.delivered.sent == 1
    [message] = received.messages
    assert message["To"] == accounts_email(database_url, parent)
    text = message.get_payload(decode=True).decode()
    assert "новый результат исследования" in text
    assert "Вера" in text
    assert "/my/notifications" in text
    assert "58410-2" not in text
    assert "крови" not in text

    again = _round(database_url, settings, port, now=datetime.now(UTC))  # the window overlaps: nothing twice
    assert again.events == 0
    assert len(received.messages) == 1


def accounts_email(url: str, account: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT email FROM account WHERE id = %s", (account,)).fetchone()
    assert row is not None
    return str(row[0])


def test_the_policy_decides_who_hears_of_a_drug_addiction_matter(
        http: httpx.Client, database_url: str, settings: Settings, smtp: tuple[Inbox, int]) -> None:
    """A 15-year-old reads their own record but not its drug-addiction matters until 16 (323-ФЗ
    art. 54 part 2, policy.json); their parents read all of it until 18 (art. 22 as amended by
    271-ФЗ). Each hears of what they may open, and only that."""
    _, port = smtp
    teen = _child(http, 15, given="Анна")
    parent = _family(database_url, "father")
    _link(database_url, parent, teen)
    own = _family(database_url, "anna", patient_id=teen, level="full")
    _started(database_url, settings, port)

    ordinary = _report(http, teen)
    addiction = _report(http, teen, conclusion="F11.2")
    _round(database_url, settings, port, now=datetime.now(UTC))

    assert {n.key for n in _inbox(database_url, own)} == {f"DiagnosticReport/{ordinary}"}
    assert {n.key for n in _inbox(database_url, parent)} == {f"DiagnosticReport/{ordinary}",
                                                             f"DiagnosticReport/{addiction}"}


def test_old_events_drafts_and_a_parent_who_turned_email_off(
        http: httpx.Client, database_url: str, settings: Settings, smtp: tuple[Inbox, int]) -> None:
    received, port = smtp
    child = _child(http, 3)
    parent = _family(database_url, "mother")
    _link(database_url, parent, child)
    _started(database_url, settings, port)

    _report(http, child, issued="2019-05-01T10:00:00+03:00")  # history loaded today is not news
    _report(http, child, status="preliminary")  # not a result yet
    assert _round(database_url, settings, port, now=datetime.now(UTC)).events == 0

    async def off(conn: psycopg.AsyncConnection[Any]) -> None:
        await inbox.set_email(conn, parent, False)

    run_db(database_url, off)
    _report(http, child)
    assert _round(database_url, settings, port, now=datetime.now(UTC)).events == 1
    assert len(_inbox(database_url, parent)) == 1
    assert received.messages == []
    assert _deliveries(database_url) == []


def test_a_mail_server_that_is_down_is_tried_again_with_back_off_then_given_up(
        http: httpx.Client, database_url: str, settings: Settings, smtp: tuple[Inbox, int]) -> None:
    received, port = smtp
    child = _child(http, 5)
    parent = _family(database_url, "mother")
    _link(database_url, parent, child)
    _started(database_url, settings, port)
    _report(http, child)

    closed = _free_port()  # nothing listens there
    done = _round(database_url, settings, closed, now=datetime.now(UTC))
    assert (done.delivered.sent, done.delivered.retried) == (0, 1)
    [(status, attempts, error, wait)] = _deliveries(database_url)
    assert (status, attempts, error) == ("queued", 1, "ConnectionRefusedError")
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)  # the first pause of BACKOFF

    with psycopg.connect(database_url) as conn:  # the pause is over
        conn.execute("UPDATE notification_delivery SET next_attempt_at = now()")
    assert _round(database_url, settings, port, now=datetime.now(UTC)).delivered.sent == 1
    assert _deliveries(database_url)[0][:2] == ("sent", 2)
    assert len(received.messages) == 1

    with psycopg.connect(database_url) as conn:  # a message that failed every time is given up
        conn.execute("UPDATE notification_delivery SET status = 'queued', attempts = %s, next_attempt_at = now()",
                     (delivery.MAX_ATTEMPTS - 1,))
    assert _round(database_url, settings, closed, now=datetime.now(UTC)).delivered.failed == 1
    assert _deliveries(database_url)[0][0] == "failed"


def test_nothing_is_sent_in_the_quiet_hours(
        http: httpx.Client, database_url: str, settings: Settings, smtp: tuple[Inbox, int]) -> None:
    received, port = smtp
    child = _child(http, 5)
    parent = _family(database_url, "mother")
    _link(database_url, parent, child)
    _started(database_url, settings, port)
    _report(http, child)

    assert _round(database_url, settings, port, now=datetime.now(UTC)).delivered.sent in (0, 1)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE notification_delivery SET status = 'queued', next_attempt_at = now()")
    received.messages.clear()
    assert _round(database_url, settings, port, now=NIGHT).delivered.sent == 0
    assert received.messages == []
    assert _round(database_url, settings, port, now=DAYTIME).delivered.sent == 1


def test_a_dose_falling_due_and_then_overdue_is_announced_once_each(
        http: httpx.Client, database_url: str, settings: Settings, smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    clinic = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП № 1"}))
    child = _child(http, 1, clinic=clinic)  # one year old today, nothing recorded: many doses are overdue
    parent = _family(database_url, "mother")
    _link(database_url, parent, child)
    with psycopg.connect(database_url) as conn:
        disease, start, due = conn.execute(
            "SELECT disease, periods[i][1], periods[i][3] FROM vaccination_due, generate_subscripts(periods, 1) i "
            "WHERE patient_id = %s AND periods[i][1] > %s ORDER BY periods[i][1] LIMIT 1",
            (child, today_moscow())).fetchone()
        # the daily scan last ran the day before the due date came within 14 days
        conn.execute("INSERT INTO notification_mark (name, day) VALUES ('due', %s)",
                     (due - timedelta(days=15),))
    _round(database_url, settings, port, today=due - timedelta(days=14))
    assert (disease, due) in {(n.key.split(":")[0], n.due_on) for n in _inbox(database_url, parent)
                              if n.kind == "vaccination-due"}
    before = len(_inbox(database_url, parent))
    assert _round(database_url, settings, port, today=due - timedelta(days=14)).due == 0  # once a day

    _round(database_url, settings, port, today=start)
    overdue = {(n.key, n.due_on) for n in _inbox(database_url, parent) if n.kind == "vaccination-overdue"}
    assert (f"{disease}:{start.isoformat()}", start) in overdue
    assert len(_inbox(database_url, parent)) > before
