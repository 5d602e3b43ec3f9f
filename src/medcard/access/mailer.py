"""Sending e-mail to families (confirmation codes, notices): a pluggable :class:`Mailer`.

With ``MEDCARD_SMTP_HOST`` set, messages go to that mail server (:class:`SmtpMailer`: STARTTLS
unless turned off, a login if a user is set); without it, each message is written as an ``.eml``
file into ``MEDCARD_HOME/outbox/`` (:class:`OutboxMailer`, the demo's default). Any object with
``send(to, subject, text)`` can be plugged in as ``app.state.mailer``.

Messages carry one-time codes: they are never logged, and the outbox files are readable by
medcard's own user only.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from starlette.requests import Request

from medcard.config import Settings
from medcard.core.time import utcnow

SENDER = "medcard <no-reply@medcard.invalid>"


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str) -> None:
        """Send (or hand over for sending) one plain-text message; raise OSError when it cannot."""


class OutboxMailer:
    """Writes every message as an RFC 5322 file ``outbox/<time>-<random>.eml`` (mode 0600)."""

    def __init__(self, outbox: Path, sender: str = SENDER) -> None:
        self.outbox = outbox
        self.sender = sender

    def send(self, to: str, subject: str, text: str) -> None:
        message = _message(self.sender, to, subject, text)
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}.eml"
        fd = os.open(self.outbox / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(message.as_bytes())


class SmtpMailer:
    """Sends every message to an SMTP server (the organisation's mail relay), one connection per message."""

    def __init__(self, host: str, port: int, *, starttls: bool = True, username: str | None = None,
                 password: str | None = None, sender: str = SENDER, timeout: float = 30.0) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password = username, password
        self.sender, self.timeout = sender, timeout

    def send(self, to: str, subject: str, text: str) -> None:
        message = _message(self.sender, to, subject, text)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def from_settings(settings: Settings) -> Mailer:
    """The SMTP mailer when a mail server is configured, the outbox folder otherwise."""
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port, starttls=settings.smtp_starttls,
                          username=settings.smtp_username, password=settings.smtp_password,
                          sender=settings.mail_sender)
    return OutboxMailer(settings.home / "outbox", settings.mail_sender)


def _message(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"], message["Message-ID"] = formatdate(localtime=False), make_msgid(domain="medcard.invalid")
    message.set_content(text)
    return message


def of(request: Request) -> Mailer:
    """The application's mailer (``app.state.mailer``)."""
    mailer: Mailer = request.app.state.mailer
    return mailer
