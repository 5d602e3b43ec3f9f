"""The background worker: runs queued jobs (bulk import and export) until told to stop.

``medcard worker`` runs one in the foreground; ``medcard serve`` starts MEDCARD_JOB_WORKERS of
them as child processes, so a long import never slows the web workers down.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from multiprocessing.process import BaseProcess

from medcard import domains
from medcard.access import audit
from medcard.config import get_settings
from medcard.core.db import Database
from medcard.core.jobs import Worker
from medcard.core.time import today_moscow
from medcard.fhir.bulk.jobs import handlers

log = logging.getLogger(__name__)


async def work(url: str) -> None:
    """Take and run jobs until SIGTERM or SIGINT."""
    settings = get_settings()
    domains.install()  # the derived tables an import keeps (the vaccination worklist)
    db = Database(url, min_size=1, max_size=3)
    await db.open()
    async with db.transaction() as conn:
        await audit.ensure_partitions(conn, today_moscow())
    worker = Worker(db, handlers(settings))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    log.info("worker %s ready", worker.name)
    try:
        await worker.run()
    finally:
        await db.close()


def _process_main(url: str, log_config: dict[str, object]) -> None:
    import logging.config

    logging.config.dictConfig(log_config)
    asyncio.run(work(url))


def start(url: str, count: int, log_config: dict[str, object]) -> list[BaseProcess]:
    """Start ``count`` worker processes."""
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    for n in range(count):
        process = context.Process(target=_process_main, args=(url, log_config), name=f"medcard-worker-{n}",
                                  daemon=True)
        process.start()
        processes.append(process)
    return processes


def stop(processes: list[BaseProcess], timeout: float = 30) -> None:
    """Ask the workers to stop (a running job stops at its next progress report), then wait."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            process.kill()
