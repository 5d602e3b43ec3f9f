"""Background jobs: a queue in PostgreSQL that survives restarts and needs no other server.

A job is a row of ``job``. Workers (``medcard worker``, or the one ``medcard serve`` starts)
take queued jobs with ``FOR UPDATE SKIP LOCKED``, run the handler registered for the job's kind,
and write a heartbeat while they work; a running job whose heartbeat stopped (its worker died)
is taken again and resumed from its last recorded progress. Cancelling marks the row; the
handler notices at its next progress report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import OperationalError
from psycopg.types.json import Jsonb

from medcard.core.db import Database, is_outage

log = logging.getLogger(__name__)

STALE_AFTER = 60  # seconds without a heartbeat before another worker takes a running job over
HEARTBEAT_EVERY = 5.0
MAX_PAUSE = 60.0  # longest wait between attempts while the database is unavailable


class Cancelled(Exception):
    """The job was cancelled while it ran."""


@dataclass
class Job:
    id: str
    kind: str
    status: str
    request: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_COLUMNS = "id, kind, status, request, progress, result, error, created_at, started_at, finished_at"


def _job(row: tuple[Any, ...]) -> Job:
    return Job(str(row[0]), row[1], row[2], row[3], row[4] or {}, row[5], row[6], row[7], row[8], row[9])


async def enqueue(db: Database, kind: str, request: dict[str, Any], job_id: str | None = None) -> str:
    """Queue a job; its id."""
    job_id = job_id or str(uuid.uuid4())
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO job (id, kind, status, request) VALUES (%s, %s, 'queued', %s)",
                           (job_id, kind, Jsonb(request)))
    return job_id


async def get(db: Database, job_id: str) -> Job | None:
    try:
        uuid.UUID(job_id)
    except ValueError:
        return None
    async with db.connection() as conn:
        cur = await conn.execute(f"SELECT {_COLUMNS} FROM job WHERE id = %s", (job_id,))
        row = await cur.fetchone()
    return _job(row) if row else None


async def cancel(db: Database, job_id: str) -> bool:
    """Mark a queued or running job cancelled; False when there is no such unfinished job."""
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE job SET status = 'cancelled', finished_at = now() WHERE id = %s "
            "AND status IN ('queued', 'running') RETURNING id", (job_id,))
        return await cur.fetchone() is not None


async def delete(db: Database, job_id: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM job WHERE id = %s", (job_id,))


class JobContext:
    """What a handler gets: the job, the database, and a way to report progress."""

    def __init__(self, db: Database, job: Job, worker: str) -> None:
        self.db = db
        self.job = job
        self.worker = worker
        self._last_beat = 0.0

    async def report(self, progress: dict[str, Any], *, force: bool = False) -> None:
        """Record progress (and beat the heart); raise :class:`Cancelled` if the job was cancelled."""
        loop = asyncio.get_running_loop()
        if not force and loop.time() - self._last_beat < HEARTBEAT_EVERY:
            return
        self._last_beat = loop.time()
        self.job.progress = progress
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE job SET progress = %s, heartbeat_at = now() WHERE id = %s AND status = 'running' "
                "AND worker = %s RETURNING id", (Jsonb(progress), self.job.id, self.worker))
            if await cur.fetchone() is None:
                raise Cancelled(self.job.id)


Handler = Callable[[JobContext], Awaitable[dict[str, Any]]]


class Worker:
    """Takes jobs from the queue and runs them, one at a time."""

    def __init__(self, db: Database, handlers: dict[str, Handler], poll: float = 1.0) -> None:
        self.db = db
        self.handlers = handlers
        self.poll = poll
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Run jobs until stopped; an outage of the database pauses the worker, it does not end it.

        After a database error the worker waits (1 s, doubling up to a minute) and tries again. A job
        it was running when the database went away is not failed: it stays ``running`` under this
        worker's name, and the worker takes it up again first (handlers resume or are idempotent).
        """
        pause = 0.0
        while not self._stop.is_set():
            try:
                ran = await self.run_one()
            except OperationalError as exc:
                pause = min(max(pause * 2, 1.0), MAX_PAUSE)
                # the type only: the message can quote the host, never more, but the type says enough
                log.warning("worker %s: database unavailable (%s); trying again in %.0f s", self.name,
                            type(exc).__name__, pause)
                await self._wait(pause)
                continue
            if pause:
                log.info("worker %s: database available again", self.name)
                pause = 0.0
            if not ran:
                await self._wait(self.poll)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def run_one(self) -> bool:
        """Run the next job, if there is one; whether one ran."""
        job = await self._claim()
        if job is None:
            return False
        handler = self.handlers.get(job.kind)
        ctx = JobContext(self.db, job, self.name)
        try:
            if handler is None:
                raise RuntimeError(f"no handler for jobs of kind {job.kind!r}")
            result = await handler(ctx)
        except Cancelled:
            log.info("job %s (%s) cancelled", job.id, job.kind)
            return True
        except Exception as exc:
            if is_outage(exc):
                raise  # the database went away, not the job's fault: it is taken up again (see run)
            # The message may carry patient data from the input: store it with the job, log its type.
            log.error("job %s (%s) failed: %s", job.id, job.kind, type(exc).__name__)
            await self._finish(job.id, "failed", None, str(exc)[:2000])
            return True
        await self._finish(job.id, "completed", result, None)
        return True

    async def _claim(self) -> Job | None:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE job SET status = 'running', started_at = coalesce(started_at, now()), heartbeat_at = now(), "
                f"worker = %s WHERE id = (SELECT id FROM job WHERE status = 'queued' OR (status = 'running' AND "
                f"(heartbeat_at < now() - make_interval(secs => %s) OR worker = %s)) "
                f"ORDER BY status = 'running' AND worker = %s DESC, created_at LIMIT 1 "
                f"FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}", (self.name, STALE_AFTER, self.name, self.name))
            row = await cur.fetchone()
        return _job(row) if row else None

    async def _finish(self, job_id: str, status: str, result: dict[str, Any] | None, error: str | None) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE job SET status = %s, result = %s, error = %s, finished_at = now() "
                "WHERE id = %s AND status = 'running' AND worker = %s",
                (status, Jsonb(result) if result is not None else None, error, job_id, self.name))
