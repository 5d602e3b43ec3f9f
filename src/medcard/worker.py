"""The background worker: runs queued jobs (bulk import and export), sends families' notifications and
deletes expired visit drafts.

``medcard worker`` runs one in the foreground; ``medcard serve`` starts MEDCARD_JOB_WORKERS of
them as child processes, so a long import never slows the web workers down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from multiprocessing.process import BaseProcess

from medcard import domains
from medcard.access import audit, mailer
from medcard.config import Settings, get_settings
from medcard.core.db import Database, is_outage
from medcard.core.jobs import Worker
from medcard.core.time import today_moscow, utcnow
from medcard.fhir.bulk.jobs import handlers
from medcard.notifications import runner
from medcard.records import drafts

log = logging.getLogger(__name__)
DRAFT_PURGE_SECONDS = 3600.0  # expired drafts are deleted hourly: the form stops offering them at once anyway


async def purge_drafts(db: Database, settings: Settings, stopping: asyncio.Event,
                       now: Callable[[], datetime] = utcnow) -> None:
    """Delete visit drafts older than ``visit_draft_days``, at once and then hourly until ``stopping`` is set
    (several workers may run this at once: the delete is the same whoever runs it)."""
    while True:
        try:
            async with db.transaction() as conn:
                gone = await drafts.purge(conn, now() - timedelta(days=settings.visit_draft_days))
            if gone:
                log.info("visit drafts: %s expired drafts deleted", gone)
        except Exception as exc:
            log.warning("visit drafts: purge failed (%s)", "database unavailable" if is_outage(exc)
                        else type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), DRAFT_PURGE_SECONDS)
        if stopping.is_set():
            return


async def work(url: str) -> None:
    """Take and run jobs until SIGTERM or SIGINT."""
    settings = get_settings()
    domains.install()  # the derived tables an import keeps (the vaccination worklist)
    db = Database(url, min_size=1, max_size=3)
    await db.open()
    async with db.transaction() as conn:
        await audit.ensure_partitions(conn, today_moscow())
    worker = Worker(db, handlers(settings))
    stopping = asyncio.Event()

    def stop() -> None:
        worker.stop()
        stopping.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    log.info("worker %s ready", worker.name)
    # families' notifications: new events, due dates, the outbox (medcard.notifications)
    notifying = asyncio.create_task(runner.loop(db, mailer.from_settings(settings), settings, stopping))
    purging = asyncio.create_task(purge_drafts(db, settings, stopping))
    try:
        await worker.run()
    finally:
        stopping.set()
        await notifying
        await purging
        await db.close()


def _process_main(url: str, log_config: dict[str, object]) -> None:
    import logging.config

    logging.config.dictConfig(log_config)
    asyncio.run(work(url))



STEADY = 300.0  # seconds a worker must have run for its death to start a new row of pauses

class Workers:
    """The job worker processes of ``medcard serve``, restarted when one dies.

    A worker stopped by a signal exits with 0 and stays stopped; one that died (killed, or an
    error it did not survive) is started again, after a pause that doubles with each death in a
    row (1 s up to a minute), so a worker that cannot start does not spin; one that ran for
    ``STEADY`` seconds before it died starts a new row.
    """

    def __init__(self, url: str, count: int, log_config: dict[str, object], check_every: float = 1.0) -> None:
        self.url, self.log_config = url, log_config
        self.context = multiprocessing.get_context("spawn")
        self._started = [0.0] * count
        self.processes: list[BaseProcess] = [self._start(n) for n in range(count)]
        self._pause = [1.0] * count
        self._due = [0.0] * count
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._supervise, args=(check_every,), name="medcard-workers",
                                       daemon=True)
        if count:
            self._watch.start()

    def _start(self, n: int) -> BaseProcess:
        process = self.context.Process(target=_process_main, args=(self.url, self.log_config),
                                       name=f"medcard-worker-{n}", daemon=True)
        process.start()
        self._started[n] = time.monotonic()
        return process

    def _supervise(self, every: float) -> None:
        while not self._stop.wait(every):
            for n, process in enumerate(self.processes):
                if process.is_alive() or process.exitcode == 0:
                    continue
                now = time.monotonic()
                if not self._due[n]:
                    if now - self._started[n] > STEADY:  # it had been running well: a new series of deaths
                        self._pause[n] = 1.0
                    log.error("job worker %d died (exit code %s); restarting it in %.0f s", n, process.exitcode,
                              self._pause[n])
                    self._due[n] = now + self._pause[n]
                if now >= self._due[n] and not self._stop.is_set():
                    self.processes[n] = self._start(n)
                    self._pause[n] = min(self._pause[n] * 2, 60.0)
                    self._due[n] = 0.0

    def stop(self, timeout: float = 30) -> None:
        """Ask the workers to stop (a running job stops at its next progress report), then wait."""
        self._stop.set()
        if self._watch.is_alive():
            self._watch.join()
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(timeout)
            if process.is_alive():
                process.kill()


@contextlib.contextmanager
def started(url: str, count: int, log_config: dict[str, object]) -> Iterator[Workers]:
    """``count`` supervised worker processes, stopped when the block ends."""
    workers = Workers(url, count, log_config)
    try:
        yield workers
    finally:
        workers.stop()
