"""Sending e-mail to families (confirmation codes, notices): a pluggable :class:`Mailer`.

medcard itself only writes each message as an ``.eml`` file into ``MEDCARD_HOME/outbox/``
(:class:`OutboxMailer`, the default). Delivering mail is a deployment concern: a real SMTP mailer
(or a job that sends the outbox files through the organisation's mail relay) is plugged in by
setting ``app.state.mailer`` to any object with ``send(to, subject, text)``.

Messages carry one-time codes: they are never logged, and the outbox files are readable by
medcard's own user only.
"""

from __future__ import annotations

import os
import secrets
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from starlette.requests import Request

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
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message["Date"], message["Message-ID"] = formatdate(localtime=False), make_msgid(domain="medcard.invalid")
        message.set_content(text)
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}.eml"
        fd = os.open(self.outbox / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(message.as_bytes())


def of(request: Request) -> Mailer:
    """The application's mailer (``app.state.mailer``)."""
    mailer: Mailer = request.app.state.mailer
    return mailer
